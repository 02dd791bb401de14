/**
 * The bridge's way out: a small producer interface, and its kafkajs implementation.
 *
 * kafkajs is set up for safety over speed: an idempotent producer (the broker drops a
 * retried duplicate inside one producer session), acks from all in-sync replicas, one
 * request in flight (so a retry never overtakes the request before it: per-partition order
 * holds), Java-compatible key hashing (a Java consumer computes the same partition).
 */
import { type Admin, Kafka, logLevel as KafkaLogLevel, type LogEntry, Partitioners, type Producer } from 'kafkajs';
import type { Logger } from '../logger';
import type { IntegrationEvent } from './mapper';
import { cloudEventsSpecVersion, integrationEvents, ledgerHeaders } from './messages';
import type { BridgeSettings } from './settings';

/** A message ready for Kafka: JSON value, string headers. */
export interface OutgoingMessage {
  topic: string;
  key: string;
  value: string;
  headers: Record<string, string>;
  /** Milliseconds since the epoch, as a string: the event's time. */
  timestamp: string;
}

export interface IntegrationProducer {
  /** Creates the topics that are missing. */
  ensureTopics(): Promise<void>;
  /** Resolves once the broker has acknowledged every message (from all in-sync replicas). */
  send(messages: readonly OutgoingMessage[]): Promise<void>;
  close(): Promise<void>;
}

/** A produce request carries at most this many messages and bytes (the broker's default cap is 1 MiB). */
export const maxProduceMessages = 1_000;
export const maxProduceBytes = 512 * 1024;
const connectionTimeoutMs = 3_000;
const requestTimeoutMs = 10_000;
/** How long the broker may take to replicate a produce request before it answers with an error. */
const produceTimeoutMs = 10_000;
/** kafkajs's own retries of one request; the bridge retries beyond them, for ever, with backoff. */
const clientRetries = { retries: 3, initialRetryTime: 100, maxRetryTime: 1_000 };

/**
 * The integration event as a CloudEvent in the Kafka protocol binding's binary mode: the
 * data is the value, `content-type` its datacontenttype, each attribute a `ce_` header, and
 * the key the account id (the binding's partitionkey, not repeated as a header); plus the
 * ledger's headers, where the event came from.
 *
 * Written out rather than built with the SDK's CloudEvent and Kafka.binary: those cost
 * about 20 µs a message (the constructor copies and freezes the event, the binding walks
 * its properties), a sixth of the service's whole CPU per transfer at seven messages each,
 * for ten headers. The SDK stays the reference: the tests read messages back with its
 * Kafka.toEvent, as the example consumer does.
 */
export function toKafkaMessage(
  event: IntegrationEvent,
  settings: Pick<BridgeSettings, 'topics' | 'source'>,
): OutgoingMessage {
  const { source } = event;
  return {
    topic: settings.topics[integrationEvents[event.type].topic],
    key: event.key,
    value: JSON.stringify(event.data),
    headers: {
      'content-type': 'application/json',
      ce_specversion: cloudEventsSpecVersion,
      ce_id: source.id,
      ce_type: event.type,
      ce_source: settings.source,
      ce_subject: event.subject,
      ce_time: source.createdAt.toISOString(),
      [ledgerHeaders.stream]: source.streamName,
      [ledgerHeaders.revision]: source.revision.toString(),
      [ledgerHeaders.position]: source.position.toString(),
    },
    timestamp: String(source.createdAt.getTime()),
  };
}

/** Splits messages, in order, into produce requests within the message and byte caps. */
export function produceRequests(messages: readonly OutgoingMessage[]): OutgoingMessage[][] {
  const requests: OutgoingMessage[][] = [];
  let current: OutgoingMessage[] = [];
  let bytes = 0;
  for (const message of messages) {
    const size = message.value.length + message.key.length + 400; // headers and framing, roughly
    if (current.length > 0 && (current.length >= maxProduceMessages || bytes + size > maxProduceBytes)) {
      requests.push(current);
      current = [];
      bytes = 0;
    }
    current.push(message);
    bytes += size;
  }
  if (current.length > 0) requests.push(current);
  return requests;
}

function kafkaLogger(logger: Logger) {
  const log = logger.child({ component: 'kafkajs' });
  return () =>
    ({ level, log: entry }: LogEntry) => {
      const { message, ...fields } = entry;
      if (level <= KafkaLogLevel.ERROR) log.error(fields, message);
      else if (level === KafkaLogLevel.WARN) log.warn(fields, message);
      else log.debug(fields, message);
    };
}

/**
 * The kafkajs producer. After a failed send it is closed and a new one is made for the
 * next attempt: a fresh session after a broker outage rather than a half-broken one.
 */
export function kafkaProducer(settings: BridgeSettings, logger: Logger): IntegrationProducer {
  const kafka = new Kafka({
    clientId: settings.clientId,
    brokers: settings.brokers,
    connectionTimeout: connectionTimeoutMs,
    requestTimeout: requestTimeoutMs,
    retry: clientRetries,
    logLevel: KafkaLogLevel.WARN,
    logCreator: kafkaLogger(logger),
  });
  let producer: Promise<Producer> | undefined;

  const connected = (): Promise<Producer> => {
    producer ??= (async () => {
      const p = kafka.producer({
        idempotent: true,
        maxInFlightRequests: 1,
        allowAutoTopicCreation: false,
        createPartitioner: Partitioners.DefaultPartitioner,
        retry: clientRetries,
      });
      await p.connect();
      return p;
    })();
    return producer;
  };

  const reset = async (): Promise<void> => {
    const current = producer;
    producer = undefined;
    await current?.then((p) => p.disconnect()).catch(() => undefined);
  };

  return {
    async ensureTopics() {
      const admin: Admin = kafka.admin({ retry: clientRetries });
      await admin.connect();
      try {
        const existing = new Set(await admin.listTopics());
        const missing = [...new Set(Object.values(settings.topics))].filter((topic) => !existing.has(topic));
        if (missing.length === 0) return;
        await admin.createTopics({
          waitForLeaders: true,
          topics: missing.map((topic) => ({
            topic,
            numPartitions: settings.partitions,
            replicationFactor: settings.replicationFactor,
          })),
        });
        logger.info({ topics: missing, partitions: settings.partitions }, 'created Kafka topics');
      } finally {
        await admin.disconnect();
      }
    },
    async send(messages) {
      try {
        const p = await connected();
        for (const request of produceRequests(messages)) {
          const byTopic = new Map<string, OutgoingMessage[]>();
          for (const m of request) {
            const list = byTopic.get(m.topic);
            if (list === undefined) byTopic.set(m.topic, [m]);
            else list.push(m);
          }
          await p.sendBatch({
            acks: -1,
            timeout: produceTimeoutMs,
            topicMessages: [...byTopic].map(([topic, list]) => ({
              topic,
              messages: list.map(({ key, value, headers, timestamp }) => ({ key, value, headers, timestamp })),
            })),
          });
        }
      } catch (err) {
        await reset();
        throw err;
      }
    },
    close: reset,
  };
}
