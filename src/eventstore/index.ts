import type { Pool } from 'pg';
import type { Config } from '../config';
import type { Logger } from '../logger';
import type { EventStore } from './port';
import { PostgresEventStore } from './postgres';

/** The PostgreSQL event store (the EventStoreDB adapter is wired in by its own commit). */
export function openEventStore(config: Config, pool: Pool, logger: Logger): EventStore {
  if (config.eventStoreUrl) throw new Error('EVENTSTORE_URL is set, but this build has no EventStoreDB adapter yet');
  logger.info('events are stored in PostgreSQL');
  return new PostgresEventStore(pool);
}
