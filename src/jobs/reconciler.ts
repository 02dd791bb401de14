/**
 * The RECONCILER: BullMQ workers for the reconciliation jobs and the per-transfer hold
 * expiries, the job schedulers that start the recurring runs, and the subscriber that
 * schedules expiries. Every instance of the service runs one: schedulers are upserted by id
 * (several instances make one scheduler each, not one per instance), BullMQ hands each job
 * to one worker, and a job whose worker dies (its lock not renewed for JOBS_LOCK_SECONDS) is
 * found stalled and run again elsewhere. Each job is safe to run twice.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { hostname } from 'node:os';
import { type Job, QueueEvents, UnrecoverableError, Worker } from 'bullmq';
import type { Pool } from 'pg';
import { z } from 'zod';
import type { EventStore } from '../eventstore/port';
import type { Logger } from '../logger';
import { createJobContext } from './context';
import { expireOne } from './expire-holds';
import { startExpiryScheduler } from './expiry-scheduler';
import { holdExpiryJobs } from './metrics';
import { bullConnection, expiryQueueName, JobQueues, reconcileQueueName, type ReconcileJobData } from './queues';
import { runReconcileJob } from './run-job';
import { abandonRuns } from './runs';
import {
  describeSchedule,
  reconcileJobNames,
  type ReconcileSettings,
  type ScheduleName,
  scheduleNames,
} from './settings';

/** Per-transfer expiries worked at once per instance. */
const expiryConcurrency = 16;
/** Restarts of a failed scheduler set-up back off up to this. */
const maxSetupDelayMs = 30_000;

const reconcileJobData = z.object({
  job: z.enum(reconcileJobNames),
  trigger: z.enum(['schedule', 'admin']),
  repair: z.boolean().optional(),
  fromEvents: z.boolean().optional(),
});
const expiryJobData = z.object({ transferId: z.string().min(1).max(1_000) });

/** Job data comes from Redis: anything that is not what the ledger writes fails the job for good, saying why. */
function checked<T>(schema: z.ZodType<T>, job: Job): T {
  const parsed = schema.safeParse(job.data);
  if (!parsed.success) {
    throw new UnrecoverableError(`job ${job.id} (${job.name}) has invalid data: ${z.prettifyError(parsed.error)}`);
  }
  return parsed.data;
}

/** What each scheduler's runs are asked to do. */
function scheduledData(name: ScheduleName): ReconcileJobData {
  if (name === 'conservation-events') return { job: 'conservation', trigger: 'schedule', fromEvents: true };
  return { job: name, trigger: 'schedule' };
}

/** Creates, updates or removes (schedule `off`) every job scheduler to match the settings. */
export async function applySchedules(queues: JobQueues, settings: ReconcileSettings): Promise<void> {
  for (const name of scheduleNames) {
    const schedule = settings.schedules[name];
    if (schedule === 'off') {
      await queues.reconcile.removeJobScheduler(name);
      continue;
    }
    const data = scheduledData(name);
    await queues.reconcile.upsertJobScheduler(name, 'every' in schedule ? schedule : { ...schedule, tz: 'UTC' }, {
      name: data.job,
      data,
    });
  }
}

export interface RunningReconciler {
  stop(): Promise<void>;
}

export function startReconciler(options: {
  store: EventStore;
  pool: Pool;
  redisUrl: string;
  settings: ReconcileSettings;
  bridge: boolean;
  logger: Logger;
}): RunningReconciler {
  const { settings, logger } = options;
  const log = logger.child({ component: 'reconciler' });
  const ctx = createJobContext(options);
  const queues = new JobQueues(options.redisUrl, settings, log);
  const connection = bullConnection(options.redisUrl, log);
  const workerOptions = {
    connection,
    prefix: settings.prefix,
    // Who holds a job, in the dashboard and in job.processedBy.
    name: `${hostname()}:${process.pid}`,
    lockDuration: settings.lockDurationMs,
    stalledInterval: settings.lockDurationMs,
    maxStalledCount: 2,
  };

  const reconcile = new Worker(
    reconcileQueueName,
    async (job: Job) => {
      const data = checked(reconcileJobData, job);
      const run = await runReconcileJob(
        ctx,
        data.job,
        { repair: data.repair, fromEvents: data.fromEvents },
        { trigger: data.trigger, queueJobId: job.id },
      );
      return { run: run.id, problems: run.report.problemsTotal };
    },
    { ...workerOptions, concurrency: 1 },
  );
  const expiry = new Worker(
    expiryQueueName,
    async (job: Job) => {
      const { transferId } = checked(expiryJobData, job);
      const result = await expireOne(ctx, transferId);
      holdExpiryJobs.inc({ result });
      // Not held yet (the transfer process is behind), or early by this clock: try again later.
      if (result === 'retry') throw new Error(`transfer ${transferId} is not expirable yet`);
      return { result };
    },
    { ...workerOptions, concurrency: expiryConcurrency },
  );
  for (const worker of [reconcile, expiry]) {
    worker.on('error', (err) => log.warn({ err: err.message, queue: worker.name }, 'BullMQ worker error'));
    worker.on('failed', (job, err) =>
      log.warn({ err: err.message, queue: worker.name, job: job?.id, attempts: job?.attemptsMade }, 'job failed'),
    );
    worker.on('stalled', (jobId) => log.warn({ queue: worker.name, job: jobId }, 'job stalled: running it again'));
  }

  // A job that stalled once too often is failed by BullMQ's stalled check, not by a worker:
  // its last run, left running by the worker that died, is closed here. (Each instance hears
  // the event; the update is the same from all of them.)
  const eventsConnection = bullConnection(options.redisUrl, log);
  const reconcileEvents = new QueueEvents(reconcileQueueName, {
    connection: eventsConnection,
    prefix: settings.prefix,
  });
  reconcileEvents.on('failed', ({ jobId, failedReason }) => {
    abandonRuns(options.pool, jobId, failedReason).catch((err) =>
      log.warn({ err, job: jobId }, 'the runs of a failed job could not be closed'),
    );
  });
  reconcileEvents.on('error', (err) => log.warn({ err: err.message }, 'BullMQ queue events error'));

  const scheduler = startExpiryScheduler({ store: options.store, pool: options.pool, queues, logger });
  const stopping = new AbortController();
  const setUp = (async () => {
    for (let delayMs = 1_000; !stopping.signal.aborted; delayMs = Math.min(delayMs * 2, maxSetupDelayMs)) {
      try {
        await applySchedules(queues, settings);
        const schedules = scheduleNames.map((name) => `${name}: ${describeSchedule(settings.schedules[name])}`);
        log.info({ schedules }, 'job schedulers in place');
        return;
      } catch (err) {
        log.error({ err, delayMs }, 'job schedulers could not be set up; trying again');
        await sleep(delayMs, undefined, { signal: stopping.signal }).catch(() => undefined);
      }
    }
  })();

  return {
    async stop() {
      stopping.abort();
      await setUp;
      await Promise.all([reconcile.close(), expiry.close(), reconcileEvents.close(), scheduler.stop()]);
      await queues.close();
      connection.disconnect();
      eventsConnection.disconnect();
    },
  };
}
