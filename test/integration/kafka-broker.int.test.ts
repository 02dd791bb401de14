/**
 * The Kafka broker of the test run and of `ledger kafka` (src/integration/kafka-broker.ts):
 * a real Apache Kafka that takes topics with partitions and hands back what was produced,
 * keeps its data across a restart on the same directory, and KAFKA_BROKERS that nothing
 * answers at is a clear, bounded error.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { type Consumer, Kafka, logLevel, Partitioners } from 'kafkajs';
import { kafkaAnswers, PortInUseError, resolveKafka, startKafkaBroker } from '../../src/integration/kafka-broker';
import { freePort } from '../../src/net';

const runBrokers = () => process.env.LEDGER_TEST_KAFKA_BROKERS as string;
const brokerTestTimeoutMs = 180_000;
const consumeTimeoutMs = 60_000;

function client(brokers: string): Kafka {
  return new Kafka({ clientId: 'ledger-kafka-broker-test', brokers: brokers.split(','), logLevel: logLevel.NOTHING });
}

/** A topic name no other test file (or earlier run against KAFKA_BROKERS) uses. */
const uniqueTopic = (what: string) => `ledger-test-${what}-${randomUUID()}`;

async function createTopic(kafka: Kafka, topic: string, numPartitions: number): Promise<void> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    expect(
      await admin.createTopics({ topics: [{ topic, numPartitions, replicationFactor: 1 }], waitForLeaders: true }),
    ).toBe(true);
  } finally {
    await admin.disconnect();
  }
}

async function produce(kafka: Kafka, topic: string, message: { key: string; value: string; partition?: number }) {
  const producer = kafka.producer({
    createPartitioner: Partitioners.DefaultPartitioner,
    allowAutoTopicCreation: false,
  });
  await producer.connect();
  try {
    const [ack] = await producer.send({ topic, acks: -1, messages: [message] });
    return ack;
  } finally {
    await producer.disconnect();
  }
}

/** The first `count` messages of the topic, read from the beginning by a new consumer group. */
async function consume(kafka: Kafka, topic: string, count: number) {
  const consumer: Consumer = kafka.consumer({ groupId: `ledger-test-${randomUUID()}` });
  const received: { partition: number; offset: string; key: string; value: string }[] = [];
  await consumer.connect();
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`${received.length} of ${count} messages within ${consumeTimeoutMs} ms`)),
        consumeTimeoutMs,
      );
      void consumer
        .run({
          eachMessage: async ({ partition, message }) => {
            received.push({
              partition,
              offset: message.offset,
              key: message.key?.toString('utf8') ?? '',
              value: message.value?.toString('utf8') ?? '',
            });
            if (received.length >= count) {
              clearTimeout(timer);
              resolve();
            }
          },
        })
        .catch(reject);
    });
    return received;
  } finally {
    await consumer.disconnect();
  }
}

function acceptsConnections(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

describe("the run's broker", () => {
  it(
    'creates a topic with 3 partitions and hands back a message produced to one of them',
    async () => {
      const kafka = client(runBrokers());
      const topic = uniqueTopic('partitions');
      await createTopic(kafka, topic, 3);

      const admin = kafka.admin();
      await admin.connect();
      const metadata = await admin.fetchTopicMetadata({ topics: [topic] }).finally(() => admin.disconnect());
      expect(metadata.topics[0].partitions.map((p) => p.partitionId).sort()).toEqual([0, 1, 2]);

      const value = JSON.stringify({ transferId: 't-1', amountMinor: '1250' });
      const ack = await produce(kafka, topic, { key: 'account-alice', value, partition: 2 });
      expect({ partition: ack.partition, errorCode: ack.errorCode }).toEqual({ partition: 2, errorCode: 0 });

      expect(await consume(kafka, topic, 1)).toEqual([{ partition: 2, offset: '0', key: 'account-alice', value }]);
    },
    brokerTestTimeoutMs,
  );

  it('is what resolveKafka answers for KAFKA_BROKERS, and its stop() leaves the broker running', async () => {
    const resolved = await resolveKafka({ brokers: ` ${runBrokers()} `, dataDir: '/nonexistent' });
    expect({ brokers: resolved.brokers, source: resolved.source }).toEqual({
      brokers: runBrokers(),
      source: 'KAFKA_BROKERS',
    });
    await resolved.stop();
    expect((await kafkaAnswers(runBrokers().split(','), 5_000)).ok).toBe(true);
  });
});

describe('a broker of its own', () => {
  let scratch: string;
  beforeEach(() => {
    scratch = mkdtempSync(path.join(os.tmpdir(), 'ledger-kafka-broker-'));
  });
  afterEach(() => rmSync(scratch, { recursive: true, force: true }));

  it(
    'keeps its topics and messages when stopped and started again on the same directory and ports, and is never run twice at once',
    async () => {
      const dataDir = path.join(scratch, 'kafka');
      const first = await startKafkaBroker({ dataDir, heapMb: 256 });
      let second: Awaited<ReturnType<typeof startKafkaBroker>> | undefined;
      try {
        expect(first.brokers).toBe(`127.0.0.1:${first.port}`);
        expect(first.brokers).not.toBe(runBrokers());
        const clusterId = readFileSync(path.join(dataDir, 'logs', 'meta.properties'), 'utf8').match(
          /^cluster\.id=(.+)$/m,
        )?.[1];
        expect(clusterId).toMatch(/^[A-Za-z0-9_][A-Za-z0-9_-]{21}$/);

        // A second broker on the same directory would kill the first: refused before it starts.
        await expect(startKafkaBroker({ dataDir })).rejects.toThrow(/^another Kafka broker \(pid \d+\) is running on /);
        await expect(startKafkaBroker({ dataDir: path.join(scratch, 'other'), port: first.port })).rejects.toThrow(
          PortInUseError,
        );
        expect((await kafkaAnswers([first.brokers], 5_000)).ok).toBe(true);

        const topic = uniqueTopic('restart');
        await createTopic(client(first.brokers), topic, 1);
        const value = `written before the restart, ${randomUUID()}`;
        await produce(client(first.brokers), topic, { key: 'k', value });

        await first.stop();
        expect(await acceptsConnections(first.port)).toBe(false);
        expect(await acceptsConnections(first.controllerPort)).toBe(false);

        second = await startKafkaBroker({
          dataDir,
          port: first.port,
          controllerPort: first.controllerPort,
          heapMb: 256,
        });
        expect(second.brokers).toBe(first.brokers);
        // Not formatted again: the same cluster, with its data.
        expect(readFileSync(path.join(dataDir, 'logs', 'meta.properties'), 'utf8')).toContain(
          `cluster.id=${clusterId}`,
        );
        expect(await consume(client(second.brokers), topic, 1)).toEqual([
          { partition: 0, offset: '0', key: 'k', value },
        ]);
      } finally {
        await first.stop();
        await second?.stop();
      }
      expect(await acceptsConnections(first.port)).toBe(false);
    },
    brokerTestTimeoutMs,
  );
});

describe('KAFKA_BROKERS', () => {
  it('that nothing answers at is an error naming it, within a bounded time', async () => {
    const port = await freePort();
    const started = Date.now();
    await expect(resolveKafka({ brokers: `127.0.0.1:${port}`, dataDir: '/nonexistent' })).rejects.toThrow(
      new RegExp(`^KAFKA_BROKERS is set, but no Kafka answers at 127\\.0\\.0\\.1:${port}: .*ECONNREFUSED`),
    );
    expect(Date.now() - started).toBeLessThan(10_000);
  });

  it('that accepts connections but never answers fails within a bounded time', async () => {
    const silent = net.createServer(() => undefined);
    silent.listen(0, '127.0.0.1');
    await new Promise((resolve) => silent.once('listening', resolve));
    const { port } = silent.address() as net.AddressInfo;
    const started = Date.now();
    try {
      await expect(resolveKafka({ brokers: `127.0.0.1:${port}`, dataDir: '/nonexistent' })).rejects.toThrow(
        /^KAFKA_BROKERS is set, but no Kafka answers at 127\.0\.0\.1:\d+/,
      );
      expect(Date.now() - started).toBeLessThan(10_000);
    } finally {
      silent.close();
    }
  }, 30_000);
});
