import path from 'node:path';
import { Pool } from 'pg';
import type { Config } from '../config';
import type { Logger } from '../logger';
import { startEmbeddedPostgres } from './embedded-postgres';
import { migrate } from './migrate';

/** A connection that cannot be had within this fails its query instead of waiting on. */
const connectTimeoutMs = 10_000;

export interface Database {
  pool: Pool;
  url: string;
  close(): Promise<void>;
}

/**
 * The service's PostgreSQL: DATABASE_URL, or else an embedded server whose data stays in
 * LEDGER_DATA_DIR/postgres across restarts. Migrated before it is handed out.
 */
export async function openDatabase(config: Config, logger: Logger): Promise<Database> {
  let url = config.databaseUrl;
  let stopEmbedded: (() => Promise<void>) | undefined;
  if (!url) {
    const dataDir = path.join(config.dataDir, 'postgres');
    logger.info({ dataDir }, 'DATABASE_URL is not set: starting an embedded PostgreSQL');
    const server = await startEmbeddedPostgres(dataDir, {
      log: (line) => logger.debug({ component: 'postgres' }, line),
    });
    url = server.url;
    stopEmbedded = server.stop;
  }
  const pool = openPool(url, config.pgPoolMax, logger);
  const report = await migrate(pool);
  logger.info({ applied: report.applied.map((m) => m.version), schemaVersion: report.current }, 'database migrated');
  return {
    pool,
    url,
    async close() {
      await pool.end();
      await stopEmbedded?.();
    },
  };
}

/** A pool on an already migrated database: the one way the service's parts connect. */
export function openPool(url: string, max: number, logger: Logger): Pool {
  const pool = new Pool({ connectionString: url, max, connectionTimeoutMillis: connectTimeoutMs });
  // pool.end() returns before its connections are gone; an embedded server stopping then cuts them.
  pool.on('error', (err) => pool.ending || logger.error({ err }, 'idle PostgreSQL connection failed'));
  return pool;
}
