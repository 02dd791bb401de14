/**
 * The Kafka bridge (OUTBOX RELAY): a checkpointed subscriber of the event store that
 * publishes the integration events. Read top to bottom, one batch at a time:
 *
 *   read from the checkpoint → map to integration events → produce, retried until the
 *   broker acknowledges every message → move the checkpoint to what was read.
 *
 * One owner at a time (a lease; another instance takes over when the holder dies). The
 * checkpoint moves only over acknowledged messages, so nothing is lost; after a crash the
 * batch in flight is produced again, so a consumer may see a message twice (same ce_id)
 * but never out of order for its key. A broker that cannot be reached is retried for ever,
 * with capped exponential backoff; the API keeps taking transfers meanwhile.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Pool } from 'pg';
import { Counter, Gauge, Histogram } from 'prom-client';
import { loadCheckpoint, saveCheckpointUnflushed } from '../db/checkpoints';
import { type LeasedWork, runLeased } from '../db/lease';
import type { EventStore } from '../eventstore/port';
import type { Logger } from '../logger';
import { type IntegrationEventType, integrationEventTypes } from './messages';
import { type IntegrationProducer, kafkaProducer, type OutgoingMessage, toKafkaMessage } from './producer';
import { type BridgeSettings, bridgeName } from './settings';
import { recordBrokerState } from './status';
import { IntegrationViews } from './views';

/**
 * Events read per batch: a batch is one round of produce requests and one checkpoint write.
 * 500 rather than 2,000: as fast when catching up (10,500 against 9,000 messages/s), and a
 * message waits behind a shorter batch at full load (lag p99 1.2 s against 1.5 s).
 */
export const bridgeBatchSize = 500;
/**
 * While it keeps up, the bridge reads at most this often. Read at once, a batch is the few
 * events of one append, and each costs a produce round trip and a checkpoint write; 50 ms
 * apart, they share them. A batch read full is not held back.
 */
export const bridgeReadIntervalMs = 50;
export const produceBackoffMs = { first: 100, max: 5_000 };

const produced = new Counter({
  name: 'ledger_bridge_messages_total',
  help: 'Integration events the broker acknowledged, by type (a message produced again after a crash counts again)',
  labelNames: ['type'],
});
const produceErrors = new Counter({
  name: 'ledger_bridge_produce_errors_total',
  help: 'Produce attempts that failed (each is retried with backoff)',
});
const brokerUp = new Gauge({
  name: 'ledger_bridge_broker_up',
  help: '1 while the last produce to the broker succeeded, 0 after a failure (only on the instance running the bridge)',
});
const deliverySeconds = new Histogram({
  name: 'ledger_bridge_delivery_seconds',
  help: 'From an event appended to the event store to its message acknowledged by the broker',
  buckets: [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.5, 0.75, 1, 1.5, 2, 3, 5, 10, 30, 60],
});
for (const type of integrationEventTypes) produced.inc({ type }, 0);

export interface BridgeOptions {
  store: EventStore;
  pool: Pool;
  logger: Logger;
  settings: BridgeSettings;
  leaseTtlMs?: number;
}

export function startBridge(options: BridgeOptions): LeasedWork {
  const { store, pool, settings } = options;
  const log = options.logger.child({ component: 'bridge' });
  const published = new Set<IntegrationEventType>(settings.eventTypes);

  return runLeased({
    pool,
    name: bridgeName,
    leaseTtlMs: options.leaseTtlMs,
    onError: (err, delayMs) => log.error({ err, delayMs }, 'bridge failed; restarting from its checkpoint'),
    async start(lease, stop) {
      const stopping = new AbortController();
      const ended = AbortSignal.any([lease.lost, stop, stopping.signal]);
      const producer: IntegrationProducer = kafkaProducer(settings, log);
      const views = new IntegrationViews(store);
      const broker = brokerStatus(pool, lease.owner, log);

      /** Tries `attempt` until it succeeds; only a stop or a lost lease ends the wait. */
      const untilAcknowledged = async (what: string, attempt: () => Promise<void>): Promise<void> => {
        for (let failures = 0; ; failures++) {
          try {
            await attempt();
            broker.up();
            return;
          } catch (err) {
            if (ended.aborted) throw ended.reason;
            produceErrors.inc();
            const delayMs = backoffMs(failures);
            broker.down(err, delayMs, what);
            await sleep(delayMs, undefined, { signal: ended });
          }
        }
      };

      await untilAcknowledged('creating topics', () => producer.ensureTopics());
      const after = await loadCheckpoint(pool, bridgeName);
      log.info({ after: after.toString(), topics: settings.topics }, 'bridge started');
      const subscription = store.subscribe({
        after,
        maxBatchSize: bridgeBatchSize,
        minReadIntervalMs: bridgeReadIntervalMs,
        handler: async (events, through) => {
          const messages = (await views.map(events)).filter((m) => published.has(m.type));
          const outgoing: OutgoingMessage[] = messages.map((m) => toKafkaMessage(m, settings));
          if (outgoing.length > 0) {
            await untilAcknowledged('producing', () => producer.send(outgoing));
            const ackedAt = Date.now();
            for (const m of messages) {
              produced.inc({ type: m.type });
              deliverySeconds.observe(Math.max(0, ackedAt - m.source.createdAt.getTime()) / 1000);
            }
          }
          await saveCheckpointUnflushed(pool, bridgeName, through);
        },
      });
      return {
        done: subscription.done.finally(() => producer.close()),
        async stop() {
          stopping.abort(new Error('bridge stopping'));
          await subscription.stop();
        },
      };
    },
  });
}

function backoffMs(failures: number): number {
  const capped = Math.min(produceBackoffMs.max, produceBackoffMs.first * 2 ** Math.min(failures, 16));
  return Math.round(capped * (0.5 + Math.random() / 2));
}

/** Follows the broker's state: the gauge, a log line on each change, the status row operators read. */
function brokerStatus(pool: Pool, owner: string, log: Logger) {
  let up: boolean | undefined;
  const record = (state: Parameters<typeof recordBrokerState>[1]) =>
    recordBrokerState(pool, state).catch((err: unknown) => log.warn({ err }, 'bridge status could not be saved'));
  return {
    up() {
      brokerUp.set(1);
      if (up === true) return;
      if (up === false) log.info('broker reachable again');
      up = true;
      void record({ owner, brokerUp: true });
    },
    down(err: unknown, retryInMs: number, what: string) {
      brokerUp.set(0);
      if (up !== false) log.error({ err, retryInMs }, `${what} failed; retrying until the broker answers`);
      up = false;
      void record({ owner, brokerUp: false, error: err instanceof Error ? err.message : String(err) });
    },
  };
}
