import { rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client } from 'pg';
import { startEmbeddedPostgres } from './embedded-postgres';

/**
 * How tests and benchmarks find a PostgreSQL: DATABASE_URL if set; else a server already
 * answering on 127.0.0.1:5432; else an embedded one in a temporary directory, thrown away
 * on stop. (`npm start` differs on purpose: without DATABASE_URL it keeps its embedded
 * data in LEDGER_DATA_DIR.)
 */
export interface ResolvedService {
  url: string;
  source: 'environment' | 'local server' | 'embedded, temporary';
  stop?: () => Promise<void>;
}

async function answers(url: string): Promise<boolean> {
  const client = new Client({ connectionString: url, connectionTimeoutMillis: 2_000 });
  try {
    await client.connect();
    await client.query('select 1');
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => undefined);
  }
}

const localPostgresUrls = [
  'postgres://postgres@127.0.0.1:5432/postgres',
  `postgres://${os.userInfo().username}@127.0.0.1:5432/postgres`,
];

export async function resolvePostgres(purpose = 'test'): Promise<ResolvedService> {
  const fromEnv = process.env.DATABASE_URL;
  if (fromEnv) {
    if (!(await answers(fromEnv))) throw new Error(`DATABASE_URL is set but no PostgreSQL answers there`);
    return { url: fromEnv, source: 'environment' };
  }
  for (const url of localPostgresUrls) {
    if (await answers(url)) return { url, source: 'local server' };
  }
  const dataDir = path.join(os.tmpdir(), `ledger-${purpose}-pg-${process.pid}-${Date.now()}`);
  const server = await startEmbeddedPostgres(dataDir, {
    postgresFlags: ['-c', 'fsync=off', '-c', 'max_connections=300'],
  });
  return {
    url: server.url,
    source: 'embedded, temporary',
    stop: async () => {
      await server.stop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
