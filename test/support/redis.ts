import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import { closeRedis, openRedis } from '../../src/redis/client';
import { testLogger } from './ledger';

export interface TestRedis {
  redis: Redis;
  /** This test file's own: every key it writes starts with it. */
  keyPrefix: string;
  /** Deletes this file's keys and closes the client. */
  close(): Promise<void>;
}

const scanCount = 500;
/** Every test service's BullMQ keys start with this and its database's name (which holds the run id). */
export const testJobsPrefixStart = 'ledger-test-jobs';

/** The BullMQ prefix of a test service: one per database, so instances of one ledger share their queues. */
export function testJobsPrefix(databaseUrl: string): string {
  return `${testJobsPrefixStart}-${new URL(databaseUrl).pathname.slice(1)}`;
}

/** Deletes every key that starts with `prefix`. */
export async function deleteKeys(redis: Redis, prefix: string): Promise<void> {
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', scanCount);
    if (keys.length > 0) await redis.del(...keys);
    cursor = next;
  } while (cursor !== '0');
}

/** The run's Redis (found or started by the global setup), under a random key prefix. */
export async function openTestRedis(): Promise<TestRedis> {
  const url = process.env.LEDGER_TEST_REDIS_URL;
  if (!url) throw new Error('LEDGER_TEST_REDIS_URL is not set: run the tests through jest, whose global setup sets it');
  const redis = await openRedis(url, testLogger);
  const keyPrefix = `ledger-test:${randomBytes(6).toString('hex')}`;
  return {
    redis,
    keyPrefix,
    async close() {
      await deleteKeys(redis, keyPrefix);
      await closeRedis(redis);
    },
  };
}
