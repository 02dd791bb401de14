import { z } from 'zod';
import { type ApiKey, parseApiKeys } from './api/api-keys';

/** Optional URL-ish variables: empty strings count as unset. */
const optionalString = z
  .string()
  .trim()
  .transform((s) => (s === '' ? undefined : s))
  .optional();

/** A whole number in [min, max]; unset or empty means `fallback`. */
function wholeNumber(min: number, max: number, fallback: number) {
  return optionalString.pipe(
    z
      .string()
      .regex(/^[0-9]+$/, 'must be a whole number')
      .transform(Number)
      .pipe(z.number().min(min).max(max))
      .default(fallback),
  );
}

/** The seed system's port, so its clients' curl calls work unchanged. */
export const defaultHttpPort = 8081;

/**
 * Accepted transfers the transfer process may be behind: about 0.3 s of its work on 2 cores.
 * Measured on this machine: 500, 1,000 and 2,000 commit as fast; the smaller the backlog,
 * the lower the latency to COMMITTED and the projection lag under full load.
 */
const defaultIngressMaxBacklog = 1_000;

const logLevels = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

const configSchema = z.object({
  DATABASE_URL: optionalString.pipe(
    z
      .string()
      .regex(/^postgres(ql)?:\/\//, 'must be a postgres:// or postgresql:// URL')
      .optional(),
  ),
  EVENTSTORE_URL: optionalString.pipe(
    z
      .string()
      .regex(/^esdb(\+discover)?:\/\//, 'must be an esdb:// URL')
      .optional(),
  ),
  REDIS_URL: optionalString.pipe(
    z
      .string()
      .regex(/^rediss?:\/\//, 'must be a redis:// or rediss:// URL')
      .optional(),
  ),
  API_KEYS: z
    .string()
    .default('')
    .transform((text, ctx) => {
      const { keys, problems } = parseApiKeys(text);
      for (const message of problems) ctx.addIssue({ code: 'custom', message });
      return keys;
    }),
  RATE_LIMIT_REQUESTS: wholeNumber(0, 1_000_000, 1000),
  RATE_LIMIT_WINDOW_SECONDS: wholeNumber(1, 3600, 1),
  INGRESS_MAX_BACKLOG: wholeNumber(0, 1_000_000, defaultIngressMaxBacklog),
  LEDGER_DATA_DIR: z.string().min(1).default('.data'),
  PG_POOL_MAX: wholeNumber(1, 200, 10),
  HTTP_HOST: z.string().trim().min(1).default('127.0.0.1'),
  HTTP_PORT: wholeNumber(0, 65_535, defaultHttpPort),
  LOG_LEVEL: z.enum(logLevels).default('info'),
  NODE_ENV: z.enum(['development', 'production', 'test']).default('development'),
});

export type Config = {
  databaseUrl: string | undefined;
  eventStoreUrl: string | undefined;
  /** Unset: a Redis on 127.0.0.1:6379, else a redis-server started under dataDir (src/redis/resolve-redis.ts). */
  redisUrl: string | undefined;
  /** Hashed API keys; none means the API is open to anyone who can reach it. */
  apiKeys: readonly ApiKey[];
  /** Requests per window and caller (API key, else client address); 0 turns rate limiting off. */
  rateLimit: { requests: number; windowSeconds: number };
  /** Accepted transfers the transfer process may be behind before ingress waits; 0 turns admission control off. */
  ingressMaxBacklog: number;
  dataDir: string;
  pgPoolMax: number;
  httpHost: string;
  /** 8081 by default: the seed system's port, so its clients' curl calls work unchanged. 0 picks a free port. */
  httpPort: number;
  logLevel: (typeof logLevels)[number];
  nodeEnv: 'development' | 'production' | 'test';
};

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

/** The one place the environment is read. Every bad variable is named in the error. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const parsed = configSchema.safeParse(env);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
    throw new ConfigError(`invalid configuration:\n  ${problems.join('\n  ')}`);
  }
  const c = parsed.data;
  return {
    databaseUrl: c.DATABASE_URL,
    eventStoreUrl: c.EVENTSTORE_URL,
    redisUrl: c.REDIS_URL,
    apiKeys: c.API_KEYS,
    rateLimit: { requests: c.RATE_LIMIT_REQUESTS, windowSeconds: c.RATE_LIMIT_WINDOW_SECONDS },
    ingressMaxBacklog: c.INGRESS_MAX_BACKLOG,
    dataDir: c.LEDGER_DATA_DIR,
    pgPoolMax: c.PG_POOL_MAX,
    httpHost: c.HTTP_HOST,
    httpPort: c.HTTP_PORT,
    logLevel: c.LOG_LEVEL,
    nodeEnv: c.NODE_ENV,
  };
}
