import type { Pool, PoolClient } from 'pg';

/**
 * Runs `work` in a transaction on a connection of its own: committed when it returns,
 * rolled back when it throws. `begin` may carry settings for the transaction
 * (`begin; set local ...`).
 */
export async function inTransaction<T>(
  pool: Pool,
  work: (client: PoolClient) => Promise<T>,
  begin = 'begin',
): Promise<T> {
  const client = await pool.connect();
  try {
    await client.query(begin);
    const result = await work(client);
    await client.query('commit');
    return result;
  } catch (err) {
    await client.query('rollback').catch(() => undefined);
    throw err;
  } finally {
    client.release();
  }
}
