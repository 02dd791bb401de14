import type { Pool } from 'pg';
import { migrations, type Migration } from './migrations';

/** Serialises concurrent migrators (several processes starting at once). */
const migrationLockKey = 7_245_031_000;

export interface MigrationReport {
  applied: Migration[];
  current: number;
}

/** Applies every pending migration, each in its own transaction, in version order. */
export async function migrate(pool: Pool, all: readonly Migration[] = migrations): Promise<MigrationReport> {
  const client = await pool.connect();
  try {
    await client.query('select pg_advisory_lock($1)', [migrationLockKey]);
    await client.query(`create table if not exists ledger_schema_migrations (
      version int primary key, name text not null, applied_at timestamptz not null default now())`);
    const { rows } = await client.query<{ version: number }>('select version from ledger_schema_migrations');
    const done = new Set(rows.map((r) => r.version));
    const applied: Migration[] = [];
    for (const m of [...all].sort((a, b) => a.version - b.version)) {
      if (done.has(m.version)) continue;
      await client.query('begin');
      try {
        await client.query(m.sql);
        await client.query('insert into ledger_schema_migrations (version, name) values ($1, $2)', [m.version, m.name]);
        await client.query('commit');
      } catch (err) {
        await client.query('rollback');
        throw new Error(`migration ${m.version} (${m.name}) failed: ${(err as Error).message}`, { cause: err });
      }
      applied.push(m);
    }
    const current = Math.max(0, ...all.map((m) => m.version));
    return { applied, current };
  } finally {
    await client.query('select pg_advisory_unlock($1)', [migrationLockKey]).catch(() => undefined);
    client.release();
  }
}
