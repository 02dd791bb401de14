import { loadConfig } from '../../src/config';
import { type RunningLedger, startLedger } from '../../src/main';
import { createTestDatabase } from './database';
import { testLogger } from './ledger';
import { testJobsPrefix } from './redis';

export interface TestService {
  ledger: RunningLedger;
  /** Stops the service (if a test has not), then drops its database. */
  close(): Promise<void>;
}

/** The whole service as `npm start` composes it, on a database of its own, on a free port; `env` adds variables. */
export async function startTestService(env: Record<string, string> = {}): Promise<TestService> {
  const db = await createTestDatabase();
  const ledger = await startLedger(
    loadConfig({
      DATABASE_URL: db.url,
      REDIS_URL: process.env.LEDGER_TEST_REDIS_URL,
      HTTP_PORT: '0',
      PG_POOL_MAX: '5',
      JOBS_PREFIX: testJobsPrefix(db.url),
      ...env,
    }),
    testLogger,
  );
  return {
    ledger,
    async close() {
      await ledger.stop();
      await db.drop();
    },
  };
}
