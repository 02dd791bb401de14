import type { Pool } from 'pg';
import { TransferCommands } from '../commands/transfer-commands';
import { type TransferWorker, transferWorker } from '../commands/transfer-process';
import type { EventStore } from '../eventstore/port';
import type { Logger } from '../logger';
import type { ReconcileSettings } from './settings';

/** What a reconciliation job works with. */
export interface JobContext {
  store: EventStore;
  /** The ledger's database: read models, checkpoints, the runs. */
  pool: Pool;
  transfers: TransferCommands;
  /** The transfer process's own decision logic, to drive stuck transfers on. */
  process: TransferWorker;
  settings: ReconcileSettings;
  /** Whether the Kafka bridge is configured: the lag watch covers it then. */
  bridge: boolean;
  logger: Logger;
  clock: () => Date;
}

/** How one run is asked for. */
export interface RunOptions {
  /** Put right what can be put right (verify-balances re-projects wrong accounts). */
  repair?: boolean;
  /** conservation: fold the event store instead of reading the read models. */
  fromEvents?: boolean;
  /** verify-balances: every account, not the next slice. */
  allAccounts?: boolean;
  /** Long runs report how far they have got. */
  progress?: (done: number, total: number) => void;
}

export function createJobContext(deps: {
  store: EventStore;
  pool: Pool;
  settings: ReconcileSettings;
  bridge: boolean;
  logger: Logger;
  clock?: () => Date;
}): JobContext {
  const clock = deps.clock ?? (() => new Date());
  const logger = deps.logger.child({ component: 'reconciler' });
  return {
    ...deps,
    logger,
    clock,
    transfers: new TransferCommands(deps.store, { clock }),
    process: transferWorker({ store: deps.store, logger, clock }),
  };
}
