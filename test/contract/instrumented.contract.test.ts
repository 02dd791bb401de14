import { instrumentEventStore } from '../../src/eventstore/instrumented';
import { PostgresEventStore } from '../../src/eventstore/postgres';
import { NO_STREAM } from '../../src/eventstore/port';
import { createTestDatabase } from '../support/database';
import { describeEventStoreContract } from './eventstore.contract';

// The metrics decorator the service runs is an EventStore like any other: the same contract.
describeEventStoreContract('PostgreSQL, instrumented', async () => {
  const db = await createTestDatabase(20);
  const store = instrumentEventStore(new PostgresEventStore(db.pool, { pollIntervalMs: 20 }));
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
});
