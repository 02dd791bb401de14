import type { Pool, PoolClient } from 'pg';
import { inTransaction } from './transaction';

/** Where a named subscriber has got to; 0n when it has never run. */
export async function loadCheckpoint(db: Pool | PoolClient, name: string): Promise<bigint> {
  const { rows } = await db.query<{ position: string }>('select position from ledger_checkpoints where name = $1', [
    name,
  ]);
  return rows.length === 0 ? 0n : BigInt(rows[0].position);
}

const saveSql = `insert into ledger_checkpoints (name, position) values ($1, $2)
  on conflict (name) do update set position = greatest(ledger_checkpoints.position, excluded.position), updated_at = now()`;

/** Moves a checkpoint forward; never backwards, so a late writer cannot undo progress. */
export async function saveCheckpoint(db: Pool | PoolClient, name: string, position: bigint): Promise<void> {
  await db.query(saveSql, [name, position.toString()]);
}

/**
 * saveCheckpoint without waiting for the WAL flush (`synchronous_commit = off` for this
 * transaction only), for a subscriber whose work is durable by itself and whose lost
 * checkpoint only means reading some events again. The WAL is written in order, so a
 * checkpoint that survives a crash never points past writes that did not.
 */
export async function saveCheckpointUnflushed(pool: Pool, name: string, position: bigint): Promise<void> {
  await inTransaction(
    pool,
    (client) => client.query(saveSql, [name, position.toString()]),
    'begin; set local synchronous_commit = off',
  );
}
