/**
 * How far each checkpointed subscriber (the transfer process, every projection, the Kafka
 * bridge when it is on) is behind
 * the event store, computed when /metrics is scraped from its stored checkpoint, so a
 * stalled or dead subscriber shows its growing lag instead of the last value it reported.
 */
import type { Pool } from 'pg';
import { Gauge } from 'prom-client';
import { transferProcessName } from '../commands/transfer-process';
import { withDeadline } from '../deadline';
import type { EventStore } from '../eventstore/port';
import type { Logger } from '../logger';
import { allProjections } from '../projections';
import { checkpointName } from '../projections/runner';
import { bridgeName } from '../integration/settings';

/** A scrape waits this long for the lag; past it the series is left out of that scrape. */
export const lagSampleTimeoutMs = 1_000;

type Kind = 'process' | 'projection' | 'bridge';

interface Subscriber {
  kind: Kind;
  /** The gauge label's value: the process's name, or the projection's. */
  label: string;
  checkpoint: string;
}

interface LagSource {
  store: EventStore;
  pool: Pool;
  log: Logger;
  subscribers: Subscriber[];
}

export interface Lag {
  kind: Kind;
  label: string;
  positions: number;
  seconds: number;
}

const watches = new Set<LagSource>();
/** prom-client collects the gauges of a scrape concurrently: they share one sample. */
let sampling: Promise<Lag[]> | undefined;

function lagGauge(kind: Kind, name: string, help: string, value: (lag: Lag) => number): void {
  const labelName = kind;
  new Gauge({
    name,
    help,
    labelNames: [labelName],
    async collect() {
      const lags = await sample();
      this.reset();
      for (const lag of lags) if (lag.kind === kind) this.set({ [labelName]: lag.label }, value(lag));
    },
  });
}

lagGauge(
  'process',
  'ledger_transfer_process_lag_positions',
  'Event-store positions between the head and the transfer process checkpoint',
  (lag) => lag.positions,
);
lagGauge(
  'process',
  'ledger_transfer_process_lag_seconds',
  'Age of the oldest event the transfer process has not yet processed; 0 when caught up',
  (lag) => lag.seconds,
);
lagGauge(
  'projection',
  'ledger_projection_lag_positions',
  'Event-store positions between the head and what the projection has applied',
  (lag) => lag.positions,
);
lagGauge(
  'projection',
  'ledger_projection_lag_seconds',
  'Age of the oldest event the projection has not yet applied; 0 when caught up',
  (lag) => lag.seconds,
);

lagGauge(
  'bridge',
  'ledger_bridge_lag_positions',
  'Event-store positions between the head and what the Kafka bridge has published (acknowledged by the broker)',
  (lag) => lag.positions,
);
lagGauge(
  'bridge',
  'ledger_bridge_lag_seconds',
  'Age of the oldest event the Kafka bridge has not yet published; 0 when caught up',
  (lag) => lag.seconds,
);

/**
 * Reports the lag of the transfer process, of every projection and (with `bridge`) of the
 * Kafka bridge, whose checkpoints are in `pool`, until stopped.
 */
export function watchSubscriberLag(options: {
  store: EventStore;
  pool: Pool;
  logger: Logger;
  processName?: string;
  bridge?: boolean;
}): {
  stop(): void;
} {
  const source: LagSource = {
    store: options.store,
    pool: options.pool,
    log: options.logger.child({ component: 'metrics' }),
    subscribers: subscribersOf(options),
  };
  watches.add(source);
  return { stop: () => void watches.delete(source) };
}

function subscribersOf(options: { processName?: string; bridge?: boolean }): Subscriber[] {
  const processName = options.processName ?? transferProcessName;
  return [
    { kind: 'process', label: processName, checkpoint: processName },
    ...allProjections.map((p): Subscriber => ({ kind: 'projection', label: p.name, checkpoint: checkpointName(p) })),
    ...(options.bridge ? [{ kind: 'bridge', label: 'kafka', checkpoint: bridgeName } satisfies Subscriber] : []),
  ];
}

/** The lag of the transfer process, of every projection and (with `bridge`) of the Kafka bridge, now. */
export function subscriberLags(options: { store: EventStore; pool: Pool; bridge?: boolean }): Promise<Lag[]> {
  return measure({ ...options, subscribers: subscribersOf(options) });
}

function sample(): Promise<Lag[]> {
  sampling ??= sampleAll().finally(() => {
    sampling = undefined;
  });
  return sampling;
}

/** The lag of every watched subscriber whose store answered in time; the others are left out. */
async function sampleAll(): Promise<Lag[]> {
  const lags = await Promise.all(
    [...watches].map(async (source) => {
      try {
        return await withDeadline(measure(source), lagSampleTimeoutMs, 'subscriber lag');
      } catch (err) {
        source.log.warn({ err }, 'subscriber lag could not be measured');
        return [];
      }
    }),
  );
  return lags.flat();
}

/** The head, every checkpoint in one query, and the first event after each checkpoint that is behind. */
async function measure({ store, pool, subscribers }: Omit<LagSource, 'log'>): Promise<Lag[]> {
  const [head, { rows }] = await Promise.all([
    store.headPosition(),
    pool.query<{ name: string; position: string }>(
      'select name, position from ledger_checkpoints where name = any($1::text[])',
      [subscribers.map((s) => s.checkpoint)],
    ),
  ]);
  const checkpoints = new Map(rows.map((r) => [r.name, BigInt(r.position)]));
  return Promise.all(
    subscribers.map(async ({ kind, label, checkpoint }): Promise<Lag> => {
      const at = checkpoints.get(checkpoint) ?? 0n;
      if (head <= at) return { kind, label, positions: 0, seconds: 0 };
      const [oldest] = await store.readAll({ after: at, maxCount: 1 });
      const seconds = oldest === undefined ? 0 : Math.max(0, (Date.now() - oldest.createdAt.getTime()) / 1000);
      return { kind, label, positions: Number(head - at), seconds };
    }),
  );
}
