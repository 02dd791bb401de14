import { Client, Pool } from 'pg';
import { migrate } from '../src/db/migrate';
import { resolvePostgres } from '../src/db/resolve-postgres';
import { databaseUrl } from '../src/db/url';

export interface ScratchDatabase {
  url: string;
  /** Where the PostgreSQL came from (environment, local server, embedded). */
  source: string;
  /** A pool on the scratch database; every pool made here is ended before the drop. */
  pool(max: number): Pool;
}

/**
 * Runs a benchmark in a migrated database of its own on the PostgreSQL tests use, and
 * drops it afterwards whatever happens.
 */
export async function withScratchDatabase(run: (db: ScratchDatabase) => Promise<void>): Promise<void> {
  const server = await resolvePostgres('bench');
  const name = `ledger_bench_${Date.now().toString(36)}`;
  const admin = new Client({ connectionString: server.url });
  await admin.connect();
  await admin.query(`create database ${name}`);
  const url = databaseUrl(server.url, name);
  const pools: Pool[] = [];
  const pool = (max: number) => {
    const p = new Pool({ connectionString: url, max });
    // pool.end() returns before its connections are gone; the forced drop may cut them.
    p.on('error', () => undefined);
    pools.push(p);
    return p;
  };
  try {
    await migrate(pool(1));
    await run({ url, source: server.source, pool });
  } finally {
    await Promise.all(pools.map((p) => p.end()));
    await admin.query(`drop database if exists ${name} with (force)`);
    await admin.end();
    await server.stop?.();
  }
}
