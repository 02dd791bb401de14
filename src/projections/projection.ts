import type { PoolClient } from 'pg';
import type { RecordedEvent } from '../eventstore/port';

/** Maps a live table name to the physical table a run writes (live, or a rebuild's copy). */
export type TableNames = (liveTable: string) => string;

export const liveTables: TableNames = (table) => table;

/**
 * A named, versioned read model. `apply` folds a batch of events (in global order, all
 * after the checkpoint) into its tables inside the caller's transaction, and must be
 * idempotent: every row remembers the position it reflects, and an event at or before it
 * changes nothing, so a batch applied twice leaves the tables as they were.
 */
export interface Projection {
  readonly name: string;
  readonly version: number;
  /** Live table names this projection owns, parents before children. */
  readonly tables: readonly string[];
  handles(event: RecordedEvent): boolean;
  apply(tx: PoolClient, events: RecordedEvent[], tables: TableNames): Promise<void>;
}
