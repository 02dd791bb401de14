/**
 * How far the transfer process is behind the event store, computed when /metrics is
 * scraped from its stored checkpoint, so a stalled or dead process shows its growing lag
 * instead of the last value it reported.
 */
import type { Pool } from 'pg';
import { Gauge } from 'prom-client';
import { transferProcessName } from '../commands/transfer-process';
import { loadCheckpoint } from '../db/checkpoints';
import { withDeadline } from '../deadline';
import type { EventStore } from '../eventstore/port';
import type { Logger } from '../logger';

/** A scrape waits this long for the lag; past it the series is left out of that scrape. */
export const lagSampleTimeoutMs = 1_000;

interface LagSource {
  store: EventStore;
  pool: Pool;
  log: Logger;
}

interface Lag {
  positions: number;
  seconds: number;
}

/** By process name (its checkpoint's name). */
const sources = new Map<string, LagSource>();
/** prom-client collects both gauges of a scrape concurrently: they share one sample. */
let sampling: Promise<Map<string, Lag>> | undefined;

new Gauge({
  name: 'ledger_transfer_process_lag_positions',
  help: 'Event-store positions between the head and the transfer process checkpoint',
  labelNames: ['process'],
  async collect() {
    const lags = await sample();
    this.reset();
    for (const [name, lag] of lags) this.set({ process: name }, lag.positions);
  },
});

new Gauge({
  name: 'ledger_transfer_process_lag_seconds',
  help: 'Age of the oldest event the transfer process has not yet processed; 0 when caught up',
  labelNames: ['process'],
  async collect() {
    const lags = await sample();
    this.reset();
    for (const [name, lag] of lags) this.set({ process: name }, lag.seconds);
  },
});

/**
 * Reports the lag of the transfer process whose checkpoint is in `pool` until stopped.
 * A later call for the same process name takes over from an earlier one.
 */
export function watchTransferProcessLag(options: {
  store: EventStore;
  pool: Pool;
  logger: Logger;
  processName?: string;
}): { stop(): void } {
  const name = options.processName ?? transferProcessName;
  const source: LagSource = {
    store: options.store,
    pool: options.pool,
    log: options.logger.child({ component: 'metrics', process: name }),
  };
  sources.set(name, source);
  return {
    stop() {
      if (sources.get(name) === source) sources.delete(name);
    },
  };
}

function sample(): Promise<Map<string, Lag>> {
  sampling ??= sampleAll().finally(() => {
    sampling = undefined;
  });
  return sampling;
}

/** The lag of every watched process that answered in time; the others are left out. */
async function sampleAll(): Promise<Map<string, Lag>> {
  const lags = new Map<string, Lag>();
  await Promise.all(
    [...sources].map(async ([name, source]) => {
      try {
        lags.set(name, await withDeadline(measure(name, source), lagSampleTimeoutMs, 'transfer process lag'));
      } catch (err) {
        source.log.warn({ err }, 'transfer process lag could not be measured');
      }
    }),
  );
  return lags;
}

/** Three indexed lookups: the checkpoint, the head, and the first event after the checkpoint. */
async function measure(name: string, { store, pool }: LagSource): Promise<Lag> {
  const [checkpoint, head] = await Promise.all([loadCheckpoint(pool, name), store.headPosition()]);
  if (head <= checkpoint) return { positions: 0, seconds: 0 };
  const [oldest] = await store.readAll({ after: checkpoint, maxCount: 1 });
  const seconds = oldest === undefined ? 0 : Math.max(0, (Date.now() - oldest.createdAt.getTime()) / 1000);
  return { positions: Number(head - checkpoint), seconds };
}
