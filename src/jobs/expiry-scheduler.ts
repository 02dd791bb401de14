/**
 * The hold-expiry index as a projection with one owner: a checkpointed subscriber (lease
 * `hold-expiry-scheduler`) that reads every TransferRequested and gives each pending
 * transfer a delayed BullMQ job at its expiry, under an id derived from the transfer id
 * (queues.ts), so reading an event again after a crash schedules nothing twice. The
 * checkpoint moves only once Redis has taken the batch's jobs.
 */
import type { Pool } from 'pg';
import { saveCheckpointUnflushed, loadCheckpoint } from '../db/checkpoints';
import { type LeasedWork, runLeased } from '../db/lease';
import { parseTransferEvent, TransferEventType } from '../domain/events';
import { parseTransferStream } from '../domain/streams';
import type { EventStore } from '../eventstore/port';
import type { Logger } from '../logger';
import type { JobQueues } from './queues';

export const expirySchedulerName = 'hold-expiry-scheduler';
const batchSize = 1_000;
const readIntervalMs = 100;

export function startExpiryScheduler(options: {
  store: EventStore;
  pool: Pool;
  queues: JobQueues;
  logger: Logger;
  clock?: () => Date;
}): LeasedWork {
  const { store, pool, queues } = options;
  const clock = options.clock ?? (() => new Date());
  const log = options.logger.child({ component: expirySchedulerName });
  return runLeased({
    pool,
    name: expirySchedulerName,
    onError: (err, delayMs) =>
      log.error({ err, delayMs }, 'scheduling hold expiries failed; restarting from its checkpoint'),
    async start() {
      return store.subscribe({
        after: await loadCheckpoint(pool, expirySchedulerName),
        maxBatchSize: batchSize,
        minReadIntervalMs: readIntervalMs,
        eventTypes: [TransferEventType.TransferRequested],
        handler: async (events, through) => {
          const due: { transferId: string; expiresAt: Date }[] = [];
          for (const recorded of events) {
            const event = parseTransferEvent(recorded);
            const transferId = parseTransferStream(recorded.streamName);
            if (event.type === 'TransferRequested' && event.data.expiresAt !== undefined && transferId !== null)
              due.push({ transferId, expiresAt: event.data.expiresAt });
          }
          await queues.scheduleExpiries(due, clock());
          await saveCheckpointUnflushed(pool, expirySchedulerName, through);
        },
      });
    },
  });
}
