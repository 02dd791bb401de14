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
