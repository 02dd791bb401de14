/**
 * Helpers for the reconciler's tests (src/jobs): its settings as the service loads them,
 * with every schedule off unless a test turns it on; reconcilers started in-process on a test
 * ledger, each with a logger whose lines the test can wait for; and the runs jobs recorded.
 */
import type { Job, Queue } from 'bullmq';
import { Redis } from 'ioredis';
import type { Pool } from 'pg';
import { TransferCommands } from '../../src/commands/transfer-commands';
import { loadConfig } from '../../src/config';
import { JobQueues } from '../../src/jobs/queues';
import { type RunningReconciler, startReconciler } from '../../src/jobs/reconciler';
import { listRuns, maxListedRuns, type RunRecord } from '../../src/jobs/runs';
import { type ReconcileSettings, scheduleNames, scheduleVariable } from '../../src/jobs/settings';
import { createLogger, type Logger } from '../../src/logger';
import { createTestLedger, type TestLedger, testLogger } from './ledger';
import { eventually, startReadSide } from './projections';
import { deleteKeys, testJobsPrefix } from './redis';

/** RECONCILE_<NAME>_EVERY=off for every schedule: no run but those a test asks for. */
export const schedulesOff: Record<string, string> = Object.fromEntries(
  scheduleNames.map((name) => [scheduleVariable(name), 'off']),
);

export function testRedisUrl(): string {
  const url = process.env.LEDGER_TEST_REDIS_URL;
  if (!url) throw new Error('LEDGER_TEST_REDIS_URL is not set: run the tests through jest, whose global setup sets it');
  return url;
}

/** The settings loadConfig makes of `env`, under the database's test prefix, schedules off unless `env` sets them. */
export function testReconcileSettings(databaseUrl: string, env: Record<string, string> = {}): ReconcileSettings {
  return loadConfig({ JOBS_PREFIX: testJobsPrefix(databaseUrl), ...schedulesOff, ...env }).reconcile;
}

/** A logger that keeps what it writes, parsed, so a test can wait for a line. */
export interface CapturedLog {
  logger: Logger;
  lines: Record<string, unknown>[];
  /** Lines whose msg is `msg`. */
  count(msg: string): number;
}

export function captureLog(level = 'info'): CapturedLog {
  const lines: Record<string, unknown>[] = [];
  const logger = createLogger(level, { write: (line: string) => void lines.push(JSON.parse(line)) });
  return { logger, lines, count: (msg) => lines.filter((line) => line.msg === msg).length };
}

export interface TestReconciler extends RunningReconciler {
  log: CapturedLog;
}

/** A test ledger (transfer process and projections running) and the reconcilers a test starts on it. */
export interface ReconcilerLedger {
  ledger: TestLedger;
  /** Transfer requests on the real clock, which the reconciler's jobs compare expiries with. */
  transfers: TransferCommands;
  settings: ReconcileSettings;
  /** The reconciler's queues, as a test (or an operator) sees them. */
  queues: JobQueues;
  /** Another instance's reconciler: same database, same prefix. */
  startReconciler(): TestReconciler;
  /** Stops every reconciler still running, the read side and the ledger, and deletes the prefix's keys. */
  close(): Promise<void>;
}

export async function openReconcilerLedger(env: Record<string, string> = {}): Promise<ReconcilerLedger> {
  const ledger = await createTestLedger();
  ledger.startProcess({ clock: () => new Date() });
  const readSide = startReadSide(ledger);
  const redisUrl = testRedisUrl();
  const settings = testReconcileSettings(ledger.db.url, env);
  const queues = new JobQueues(redisUrl, settings, testLogger);
  const running = new Set<TestReconciler>();
  return {
    ledger,
    transfers: new TransferCommands(ledger.store),
    settings,
    queues,
    startReconciler() {
      const log = captureLog();
      const reconciler = startReconciler({
        store: ledger.store,
        pool: ledger.db.pool,
        redisUrl,
        settings,
        bridge: false,
        logger: log.logger,
      });
      const handle: TestReconciler = {
        log,
        async stop() {
          running.delete(handle);
          await reconciler.stop();
        },
      };
      running.add(handle);
      return handle;
    },
    async close() {
      await Promise.all([...running].map((r) => r.stop()));
      await queues.close();
      await readSide.stop();
      await ledger.close();
      const redis = new Redis(redisUrl);
      try {
        await deleteKeys(redis, settings.prefix);
      } finally {
        redis.disconnect();
      }
    },
  };
}

/** The recorded runs (the last maxListedRuns), oldest first: of `job`, and of one BullMQ job, when given. */
export async function runsOf(pool: Pool, where: { job?: string; queueJobId?: string } = {}): Promise<RunRecord[]> {
  const runs = await listRuns(pool, { job: where.job, limit: maxListedRuns });
  return runs.filter((run) => where.queueJobId === undefined || run.queueJobId === where.queueJobId).reverse();
}

/** The job once it has finished: completed, or failed for good. */
export function finishedJob<T = unknown>(queue: Queue, jobId: string, timeoutMs = 30_000): Promise<Job<T>> {
  return eventually(
    async () => {
      // The state first: a job read before it finished would not hold its result.
      const state = await queue.getJobState(jobId);
      if (state !== 'completed' && state !== 'failed') return undefined;
      return (await queue.getJob(jobId)) as Job<T>;
    },
    `${queue.name} job ${jobId} finished`,
    timeoutMs,
  );
}
