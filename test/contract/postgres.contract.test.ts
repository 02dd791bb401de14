import { randomUUID } from 'node:crypto';
import { instrumentEventStore } from '../../src/eventstore/instrumented';
import { PostgresEventStore } from '../../src/eventstore/postgres';
import { type EventStore, NO_STREAM } from '../../src/eventstore/port';
import { createTestDatabase } from '../support/database';
import { describeEventStoreContract, type ContractHarness } from './eventstore.contract';

/** The PostgreSQL store on a database of its own, as it is or wrapped (`wrap`). */
async function postgresFixture(wrap: (store: EventStore) => EventStore = (store) => store): Promise<ContractHarness> {
  const db = await createTestDatabase(20);
  const store = wrap(new PostgresEventStore(db.pool, { pollIntervalMs: 20 }));
  return {
    store,
    async beginOpenAppend(streamName, events) {
      const client = await db.pool.connect();
      await client.query('begin');
      const { position } = await PostgresEventStore.appendWithin(client, {
        streamName,
        events,
        expectedRevision: NO_STREAM,
      });
      return {
        position,
        async commit() {
          await client.query('commit');
          client.release();
        },
      };
    },
    async dispose() {
      await store.close();
      await db.drop();
    },
  };
}

describeEventStoreContract('PostgreSQL', () => postgresFixture());

// The metrics decorator the service runs is an EventStore like any other: the same contract.
describeEventStoreContract('PostgreSQL, instrumented', () => postgresFixture(instrumentEventStore));

test('a subscription hears of an append made through another store of this process without waiting for its poll', async () => {
  const db = await createTestDatabase(4);
  // Polls 60 s apart: only the announcement can bring the event in time.
  const subscriber = new PostgresEventStore(db.pool, { pollIntervalMs: 60_000 });
  const writer = new PostgresEventStore(db.pool);
  const seen: string[] = [];
  const subscription = subscriber.subscribe({
    handler: async (events) => void seen.push(...events.map((e) => e.type)),
  });
  try {
    await new Promise((resolve) => setTimeout(resolve, 100)); // the subscription is idle, waiting
    await writer.append('announced-1', [{ id: randomUUID(), type: 'Announced', data: {} }], NO_STREAM);
    const deadline = Date.now() + 10_000;
    while (seen.length === 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
    expect(seen).toEqual(['Announced']);
  } finally {
    await subscription.stop();
    await Promise.all([subscriber.close(), writer.close()]);
    await db.drop();
  }
});
