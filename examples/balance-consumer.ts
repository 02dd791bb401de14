/**
 * An example consumer of the ledger's integration events: a kafkajs consumer group that
 * keeps every account's balance from `ledger.account.balance-changed.v1` messages.
 *
 *   KAFKA_BROKERS=127.0.0.1:9092 npm run example:consumer
 *
 * What it shows a consumer must do:
 * - read the CloudEvent from the Kafka record (binary mode) with the `cloudevents` SDK;
 * - drop duplicates by `ce_id`: delivery is at least once, and a message produced again
 *   after a crash of the bridge carries the same id;
 * - rely on per-key order: an account's messages come in the order of its events, so the
 *   last one read is its current balance (`position` says which event it reflects).
 * It remembers the ids it has seen in memory only (a bounded window); a consumer that keeps
 * its state in a database stores the last `position` per account with it, in the same
 * transaction, and skips any message at or below it.
 */
import { Kafka as CloudEventsKafka, type KafkaMessage } from 'cloudevents';
import { Kafka, logLevel } from 'kafkajs';

export interface AccountBalance {
  currency: string;
  posted: string;
  held: string;
  available: string;
  /** The event-store position of the change this balance follows. */
  position: bigint;
}

export interface BalanceConsumer {
  readonly balances: ReadonlyMap<string, AccountBalance>;
  /** Messages dropped because their ce_id was seen before. */
  readonly duplicates: number;
  stop(): Promise<void>;
}

export interface BalanceConsumerOptions {
  brokers: string[];
  /** The ledger's accounts topic (KAFKA_TOPIC_ACCOUNTS). */
  topic?: string;
  groupId?: string;
  onChange?: (accountId: string, balance: AccountBalance) => void;
}

/** How many message ids the consumer remembers to drop duplicates. */
const rememberedIds = 100_000;

interface BalanceChanged {
  accountId: string;
  currency: string;
  posted: string;
  held: string;
  available: string;
  position: string;
}

export async function startBalanceConsumer(options: BalanceConsumerOptions): Promise<BalanceConsumer> {
  const kafka = new Kafka({ clientId: 'balance-consumer', brokers: options.brokers, logLevel: logLevel.WARN });
  const consumer = kafka.consumer({ groupId: options.groupId ?? 'balance-consumer' });
  const balances = new Map<string, AccountBalance>();
  const seen = new Set<string>();
  let duplicates = 0;

  await consumer.connect();
  await consumer.subscribe({ topic: options.topic ?? 'ledger.accounts', fromBeginning: true });
  await consumer.run({
    eachMessage: async ({ message }) => {
      const headers: Record<string, string> = {};
      for (const [name, value] of Object.entries(message.headers ?? {})) {
        if (value !== undefined) headers[name] = value.toString();
      }
      const value = message.value?.toString() ?? '';
      const kafkaMessage: KafkaMessage<string> = {
        headers,
        key: message.key?.toString() ?? '',
        value,
        body: value,
        timestamp: message.timestamp,
      };
      const event = CloudEventsKafka.toEvent(kafkaMessage);
      if (Array.isArray(event)) return; // batch mode: the ledger never sends it
      if (seen.has(event.id)) {
        duplicates++;
        return;
      }
      seen.add(event.id);
      if (seen.size > rememberedIds) seen.delete(seen.values().next().value!);
      if (event.type !== 'ledger.account.balance-changed.v1') return;
      const data = (typeof event.data === 'string' ? JSON.parse(event.data) : event.data) as BalanceChanged;
      const balance: AccountBalance = {
        currency: data.currency,
        posted: data.posted,
        held: data.held,
        available: data.available,
        position: BigInt(data.position),
      };
      balances.set(data.accountId, balance);
      options.onChange?.(data.accountId, balance);
    },
  });

  return {
    balances,
    get duplicates() {
      return duplicates;
    },
    stop: () => consumer.disconnect(),
  };
}

async function main(): Promise<void> {
  const brokers = (process.env.KAFKA_BROKERS ?? '127.0.0.1:9092').split(',');
  const running = await startBalanceConsumer({
    brokers,
    topic: process.env.KAFKA_TOPIC_ACCOUNTS,
    onChange: (accountId, b) =>
      console.log(`${accountId}: posted ${b.posted} held ${b.held} available ${b.available} ${b.currency}`),
  });
  const stop = () => void running.stop().then(() => process.exit(0));
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

if (require.main === module) {
  main().catch((err: unknown) => {
    console.error(err);
    process.exit(1);
  });
}
