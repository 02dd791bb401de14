import type { Redis } from 'ioredis';
import type { Pool } from 'pg';
import { AccountDirectory } from '../commands/account-directory';
import type { TransferCommands } from '../commands/transfer-commands';
import type { EventStore } from '../eventstore/port';
import type { BridgeSettings } from '../integration/settings';
import type { JobQueues } from '../jobs/queues';
import type { Logger } from '../logger';
import type { AccessOptions } from './access';

/** What the HTTP API needs from the rest of the ledger. */
export interface ApiDeps {
  store: EventStore;
  /** The read models' database (rm_* tables and projection checkpoints). */
  pool: Pool;
  transfers: TransferCommands;
  /** Redis (rate limits); absent in tests that do not exercise it. */
  redis?: Redis;
  /** API keys and rate limit; absent: the API is open and not rate limited. */
  access?: AccessOptions;
  /** The time commands are stamped with; the wall clock unless a test sets it. */
  clock?: () => Date;
  logger: Logger;
  /** The Kafka bridge's settings, for /asyncapi.json; absent when the bridge is off. */
  bridge?: BridgeSettings;
  /** The reconciler's queues (admin routes, dashboard); absent in tests that do not exercise them. */
  jobs?: JobQueues;
}

/** ApiDeps as the routes use them. */
export interface ApiContext {
  store: EventStore;
  pool: Pool;
  transfers: TransferCommands;
  redis?: Redis;
  now: () => Date;
  logger: Logger;
  /** Account currencies, to read a transfer's amount before the transfer is requested. */
  directory: AccountDirectory;
  /** The Kafka bridge's settings; absent when the bridge is off. */
  bridge?: BridgeSettings;
  jobs?: JobQueues;
}

export function apiContext(deps: ApiDeps): ApiContext {
  return {
    store: deps.store,
    pool: deps.pool,
    transfers: deps.transfers,
    redis: deps.redis,
    now: deps.clock ?? (() => new Date()),
    logger: deps.logger,
    directory: new AccountDirectory(deps.store),
    bridge: deps.bridge,
    jobs: deps.jobs,
  };
}
