import { randomBytes } from 'node:crypto';
import { Client, Pool } from 'pg';
import { databaseUrl } from '../../src/db/url';

export interface TestDatabase {
  url: string;
  pool: Pool;
  drop(): Promise<void>;
}

function required(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: run the tests through jest (npm test), whose global setup sets it`);
  return value;
}

/** A fresh, migrated database of its own, cloned from the run's template. */
export async function createTestDatabase(poolMax = 10): Promise<TestDatabase> {
  const serverUrl = required('LEDGER_TEST_PG_URL');
  const template = required('LEDGER_TEST_PG_TEMPLATE');
  const name = `ledger_t_${required('LEDGER_TEST_RUN_ID')}_${randomBytes(4).toString('hex')}`;
  const admin = new Client({ connectionString: serverUrl });
  await admin.connect();
  try {
    await admin.query(`create database ${name} template ${template}`);
  } finally {
    await admin.end();
  }
  const url = databaseUrl(serverUrl, name);
  const pool = new Pool({ connectionString: url, max: poolMax });
  return {
    url,
    pool,
    async drop() {
      // pool.end() resolves once it has asked its connections to close, not once they are
      // gone; the forced drop below may cut the stragglers, which is expected here.
      pool.on('error', () => undefined);
      await pool.end();
      const c = new Client({ connectionString: serverUrl });
      await c.connect();
      try {
        await c.query(`drop database if exists ${name} with (force)`);
      } finally {
        await c.end();
      }
    },
  };
}
