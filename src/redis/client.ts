/**
 * Redis clients with every wait bounded: connecting, each command, the first connection.
 * The service's client reconnects in the background after an outage and says so in the
 * log once per outage, not once per attempt.
 */
import { Redis, type RedisOptions } from 'ioredis';
import { withDeadline } from '../deadline';
import type { Logger } from '../logger';

export const redisConnectTimeoutMs = 2_000;
export const redisCommandTimeoutMs = 1_000;
/** The first connection (TCP, AUTH, ready check) must be up within this. */
export const redisFirstConnectTimeoutMs = 5_000;
/** Reconnect attempts back off to this pace and keep it. */
const maxReconnectDelayMs = 2_000;

/**
 * Options where nothing waits unboundedly: no offline queue (a command sent while
 * disconnected fails at once), one retry per command, timeouts on connect and commands.
 */
export function boundedRedisOptions(overrides: RedisOptions = {}): RedisOptions {
  return {
    lazyConnect: true,
    connectTimeout: redisConnectTimeoutMs,
    commandTimeout: redisCommandTimeoutMs,
    maxRetriesPerRequest: 1,
    enableOfflineQueue: false,
    retryStrategy: (attempt) => Math.min(attempt * 100, maxReconnectDelayMs),
    ...overrides,
  };
}

/** A Redis URL as it may be shown: scheme, host, port and database, never the credentials. */
export function redisLocation(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.hostname}:${u.port || '6379'}${u.pathname === '/' ? '' : u.pathname}`;
  } catch {
    return 'an unparseable Redis URL';
  }
}

/** Connects the service's client; throws (and leaves nothing running) if that fails. */
export async function openRedis(url: string, logger: Logger): Promise<Redis> {
  const log = logger.child({ component: 'redis' });
  const client = new Redis(url, boundedRedisOptions());
  let down = false;
  client.on('error', (err: Error) => {
    if (down) return;
    down = true;
    log.warn({ err: err.message }, 'Redis connection failed: reconnecting in the background');
  });
  client.on('ready', () => {
    if (!down) return;
    down = false;
    log.info('Redis connection restored');
  });
  try {
    await withDeadline(client.connect(), redisFirstConnectTimeoutMs, 'connecting to Redis');
  } catch (err) {
    client.disconnect();
    throw new Error(`cannot connect to Redis at ${redisLocation(url)}: ${(err as Error).message}`, { cause: err });
  }
  return client;
}

/** Closes a client politely, or cuts it if Redis does not answer in time. */
export async function closeRedis(client: Redis): Promise<void> {
  if (client.status === 'end') return;
  try {
    await withDeadline(client.quit(), redisCommandTimeoutMs, 'closing the Redis connection');
  } catch {
    client.disconnect();
  }
}
