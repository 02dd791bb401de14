import type { Pool, PoolClient } from 'pg';

/** Where a named subscriber has got to; 0n when it has never run. */
export async function loadCheckpoint(db: Pool | PoolClient, name: string): Promise<bigint> {
  const { rows } = await db.query<{ position: string }>('select position from ledger_checkpoints where name = $1', [name]);
  return rows.length === 0 ? 0n : BigInt(rows[0].position);
}

/** Moves a checkpoint forward; never backwards, so a late writer cannot undo progress. */
export async function saveCheckpoint(db: Pool | PoolClient, name: string, position: bigint): Promise<void> {
  await db.query(
    `insert into ledger_checkpoints (name, position) values ($1, $2)
     on conflict (name) do update set position = greatest(ledger_checkpoints.position, excluded.position), updated_at = now()`,
    [name, position.toString()],
  );
}
