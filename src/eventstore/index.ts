import type { Pool } from 'pg';
import type { Config } from '../config';
import type { Logger } from '../logger';
import { EventStoreDbEventStore } from './esdb';
import type { EventStore } from './port';
import { PostgresEventStore } from './postgres';

/** EventStoreDB when EVENTSTORE_URL is set, else the PostgreSQL event store. */
export function openEventStore(config: Pick<Config, 'eventStoreUrl'>, pool: Pool, logger: Logger): EventStore {
  if (config.eventStoreUrl) {
    logger.info('events are stored in EventStoreDB');
    return new EventStoreDbEventStore(config.eventStoreUrl, { logger });
  }
  logger.info('events are stored in PostgreSQL');
  return new PostgresEventStore(pool);
}
