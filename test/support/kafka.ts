/**
 * Kafka for the bridge's tests: the run's broker (global setup), topics of a test's own,
 * and a collector that reads every message of those topics as a consumer would.
 */
import { randomBytes } from 'node:crypto';
import { type Consumer, Kafka, logLevel } from 'kafkajs';
import { integrationEventTypes } from '../../src/integration/messages';
import { type BridgeSettings } from '../../src/integration/settings';

export function testBrokers(): string[] {
  const brokers = process.env.LEDGER_TEST_KAFKA_BROKERS;
  if (!brokers) throw new Error('LEDGER_TEST_KAFKA_BROKERS is not set: run the tests through jest (npm test)');
  return brokers.split(',');
}

/** Bridge settings on the run's broker, with topics no other test uses. */
export function testBridgeSettings(overrides: Partial<BridgeSettings> = {}): BridgeSettings {
  const unique = `${process.env.LEDGER_TEST_RUN_ID ?? 'run'}.${randomBytes(4).toString('hex')}`;
  return {
    brokers: testBrokers(),
    clientId: 'ledger-test',
    topics: { transfers: `test.${unique}.transfers`, accounts: `test.${unique}.accounts` },
    partitions: 3,
    replicationFactor: 1,
    eventTypes: integrationEventTypes,
    source: '/ledger-test',
    ...overrides,
  };
}

export interface Received {
  topic: string;
  partition: number;
  offset: bigint;
  key: string;
  headers: Record<string, string>;
  data: Record<string, unknown>;
}

export interface Collector {
  readonly messages: Received[];
  /** Waits until `done(messages)` holds; throws with `what` after timeoutMs. */
  waitFor(what: string, done: (messages: Received[]) => boolean, timeoutMs?: number): Promise<void>;
  stop(): Promise<void>;
}

/** Waits until the topics exist (the bridge creates them when it starts). */
export async function topicsCreated(brokers: string[], topics: string[], timeoutMs = 60_000): Promise<void> {
  const admin = new Kafka({ clientId: 'ledger-test-admin', brokers, logLevel: logLevel.NOTHING }).admin();
  await admin.connect();
  try {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const existing = new Set(await admin.listTopics());
      if (topics.every((t) => existing.has(t))) return;
      if (Date.now() > deadline) throw new Error(`topics ${topics.join(', ')} not created in ${timeoutMs} ms`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  } finally {
    await admin.disconnect();
  }
}

/** Reads every message of `topics` from the start, in a consumer group of its own, once they exist. */
export async function collectMessages(brokers: string[], topics: string[]): Promise<Collector> {
  const kafka = new Kafka({ clientId: 'ledger-test-collector', brokers, logLevel: logLevel.NOTHING });
  await topicsCreated(brokers, topics);
  const consumer: Consumer = kafka.consumer({
    groupId: `test-collector-${randomBytes(6).toString('hex')}`,
    allowAutoTopicCreation: false,
  });
  const messages: Received[] = [];
  await consumer.connect();
  await consumer.subscribe({ topics, fromBeginning: true });
  await consumer.run({
    eachBatch: async ({ batch }) => {
      for (const m of batch.messages) {
        const headers: Record<string, string> = {};
        for (const [name, value] of Object.entries(m.headers ?? {})) headers[name] = String(value);
        messages.push({
          topic: batch.topic,
          partition: batch.partition,
          offset: BigInt(m.offset),
          key: m.key?.toString() ?? '',
          headers,
          data: JSON.parse(m.value?.toString() ?? 'null') as Record<string, unknown>,
        });
      }
    },
  });
  return {
    messages,
    async waitFor(what, done, timeoutMs = 60_000) {
      const deadline = Date.now() + timeoutMs;
      while (!done(messages)) {
        if (Date.now() > deadline)
          throw new Error(`${what}: not reached in ${timeoutMs} ms (${messages.length} messages)`);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    },
    stop: () => consumer.disconnect(),
  };
}

/** The first copy of each message (by ce_id), in the order received per partition. */
export function firstCopies(messages: readonly Received[]): Received[] {
  const seen = new Set<string>();
  return messages.filter((m) => {
    const id = m.headers.ce_id;
    if (seen.has(id)) return false;
    seen.add(id);
    return true;
  });
}

/**
 * Every (topic, key)'s messages in the order a consumer reads them; throws if their
 * event-store positions ever go backwards once duplicates are dropped.
 */
export function assertOrderedPerKey(messages: readonly Received[]): number {
  const last = new Map<string, bigint>();
  for (const m of firstCopies(messages)) {
    const key = `${m.topic}/${m.key}`;
    const position = BigInt(m.headers.ledger_position);
    const before = last.get(key);
    if (before !== undefined && position <= before) {
      throw new Error(`${key}: position ${position} after ${before} (offset ${m.offset} of partition ${m.partition})`);
    }
    last.set(key, position);
  }
  return last.size;
}
