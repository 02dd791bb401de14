/**
 * The reconciler's BullMQ queues: `reconcile` (one job per run of a reconciliation job,
 * scheduled by job schedulers or asked for by an operator) and `hold-expiry` (one delayed
 * job per pending transfer, at its expiry). Every instance opens both; the workers that
 * take jobs from them run in the reconciler role (reconciler.ts).
 */
import { Queue, type JobsOptions } from 'bullmq';
import { Redis } from 'ioredis';
import type { Logger } from '../logger';
import { redisLocation } from '../redis/client';
import type { ReconcileJobName, ReconcileSettings } from './settings';

export const reconcileQueueName = 'reconcile';
export const expiryQueueName = 'hold-expiry';

export interface ReconcileJobData {
  job: ReconcileJobName;
  trigger: 'schedule' | 'admin';
  repair?: boolean;
  fromEvents?: boolean;
}

export interface ExpiryJobData {
  transferId: string;
}

/** Finished jobs kept for the dashboard: the last of them, for a day at most. */
const keepCompleted = { count: 1_000, age: 86_400 };
const keepFailed = { count: 5_000, age: 7 * 86_400 };

/**
 * BullMQ's connections: commands wait for a reconnect rather than fail (workers must not
 * give up on Redis), as BullMQ requires; the service's own client (redis/client.ts) fails
 * fast. An outage is logged once, when it starts, and once when it ends.
 */
export function bullConnection(url: string, logger: Logger): Redis {
  const connection = new Redis(url, { maxRetriesPerRequest: null, connectTimeout: 2_000 });
  let down = false;
  connection.on('error', (err: Error) => {
    if (down) return;
    down = true;
    logger.warn({ err: err.message, redis: redisLocation(url) }, 'job queues: Redis connection failed, reconnecting');
  });
  connection.on('ready', () => {
    if (!down) return;
    down = false;
    logger.info({ redis: redisLocation(url) }, 'job queues: Redis connection restored');
  });
  return connection;
}

/** A transfer's expiry job id: derived from the transfer id, so it is scheduled once however often it is asked. */
export function expiryJobId(transferId: string): string {
  // BullMQ ids may not contain ':' (account and transfer ids may).
  return `expire-${transferId.replace(/%/g, '%25').replace(/:/g, '%3A')}`;
}

export function jobOptions(settings: ReconcileSettings): JobsOptions {
  return {
    attempts: settings.attempts,
    backoff: { type: 'exponential', delay: settings.backoffMs },
    removeOnComplete: keepCompleted,
    removeOnFail: keepFailed,
  };
}

export class JobQueues {
  readonly reconcile: Queue<ReconcileJobData>;
  readonly expiry: Queue<ExpiryJobData>;
  private readonly connection: Redis;

  constructor(
    redisUrl: string,
    readonly settings: ReconcileSettings,
    logger: Logger,
  ) {
    this.connection = bullConnection(redisUrl, logger);
    const options = { connection: this.connection, prefix: settings.prefix, defaultJobOptions: jobOptions(settings) };
    this.reconcile = new Queue<ReconcileJobData>(reconcileQueueName, options);
    this.expiry = new Queue<ExpiryJobData>(expiryQueueName, options);
    // Their errors are the connection's, which says so itself.
    for (const queue of this.all) queue.on('error', () => undefined);
  }

  get all(): Queue[] {
    return [this.reconcile, this.expiry] as Queue[];
  }

  /** Asks for one run of a job now (an operator's request); returns the BullMQ job id. */
  async trigger(job: ReconcileJobName, options: { repair?: boolean; fromEvents?: boolean } = {}): Promise<string> {
    const added = await this.reconcile.add(job, { job, trigger: 'admin', ...options });
    return added.id!;
  }

  /** Delayed expiry jobs, one per transfer (an id already scheduled is left as it is). */
  async scheduleExpiries(transfers: { transferId: string; expiresAt: Date }[], now: Date): Promise<void> {
    if (transfers.length === 0) return;
    await this.expiry.addBulk(
      transfers.map(({ transferId, expiresAt }) => ({
        name: 'expire',
        data: { transferId },
        opts: { jobId: expiryJobId(transferId), delay: Math.max(0, expiresAt.getTime() - now.getTime()) },
      })),
    );
  }

  async close(): Promise<void> {
    await Promise.all(this.all.map((q) => q.close()));
    this.connection.disconnect();
  }
}
