import os from 'node:os';
import path from 'node:path';
import { Client, Pool } from 'pg';
import { migrate } from '../../src/db/migrate';
import { databaseUrl } from '../../src/db/url';
import { Redis } from 'ioredis';
import { redisLocation } from '../../src/redis/client';
import { deleteKeys, testJobsPrefixStart } from './redis';
import {
  eventStoreDbAvailability,
  eventStoreDbHowToRun,
  resolveKafka,
  resolvePostgres,
  resolveRedis,
} from './services';

declare global {
  var __ledgerStopServices: (() => Promise<void>) | undefined;
}

/**
 * Once per `jest` run: find or start PostgreSQL, and build a migrated template database
 * that each test file clones into a database of its own; find or start Redis, which test
 * files share, each under a key prefix of its own; find or start Kafka, which test files
 * share, each with topics of its own.
 */
export default async function globalSetup(): Promise<void> {
  const runId = `${process.pid}_${Date.now().toString(36)}`;
  // Kafka is the slowest to start (a JVM; Maven the first time): it starts while the rest is set up.
  const kafkaStarting = resolveKafka({
    brokers: process.env.KAFKA_BROKERS || undefined,
    dataDir: path.join(os.tmpdir(), `ledger-test-kafka-${runId}`),
    removeDataDir: true,
    log: (line) => process.stderr.write(`\n[test services] Kafka: ${line}`),
  });
  kafkaStarting.catch(() => undefined); // awaited below; a failure before that must not go unhandled

  const pg = await resolvePostgres();
  const template = `ledger_tpl_${runId}`;
  const admin = new Client({ connectionString: pg.url });
  await admin.connect();
  await admin.query(`create database ${template}`);
  await admin.end();

  const pool = new Pool({ connectionString: databaseUrl(pg.url, template), max: 1 });
  await migrate(pool);
  await pool.end();

  process.env.LEDGER_TEST_PG_URL = pg.url;
  process.env.LEDGER_TEST_PG_TEMPLATE = template;
  process.env.LEDGER_TEST_RUN_ID = runId;

  const redis = await resolveRedis({
    url: process.env.REDIS_URL || undefined,
    serverDir: path.join(os.tmpdir(), `ledger-test-redis-${runId}`),
    removeServerDir: true,
  });
  process.env.LEDGER_TEST_REDIS_URL = redis.url;
  const kafka = await kafkaStarting;
  process.env.LEDGER_TEST_KAFKA_BROKERS = kafka.brokers;
  process.stderr.write(`\n[test services] PostgreSQL: ${pg.source} (template ${template})\n`);
  process.stderr.write(`[test services] Redis: ${redis.source} (${redisLocation(redis.url)})\n`);
  process.stderr.write(`[test services] Kafka: ${kafka.source} (${kafka.brokers})\n`);
  const esdb = eventStoreDbAvailability();
  process.stderr.write(
    esdb.skipReason
      ? `[test services] EventStoreDB: SKIPPED, ${esdb.skipReason}; its contract tests are reported as skipped (${eventStoreDbHowToRun} to run them)\n`
      : `[test services] EventStoreDB: ${esdb.url ?? 'started by testcontainers'}\n`,
  );

  globalThis.__ledgerStopServices = async () => {
    const c = new Client({ connectionString: pg.url });
    await c.connect();
    const { rows } = await c.query<{ datname: string }>(`select datname from pg_database where datname like $1`, [
      `ledger_%${runId}%`,
    ]);
    for (const { datname } of rows) await c.query(`drop database if exists ${datname} with (force)`);
    await c.end();
    await pg.stop?.();
    // The BullMQ keys of every test service of this run (test/support/redis.ts).
    const client = new Redis(redis.url);
    await deleteKeys(client, `${testJobsPrefixStart}-ledger_t_${runId}`);
    client.disconnect();
    await redis.stop();
    await kafka.stop();
  };
}
