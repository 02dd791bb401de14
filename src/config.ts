import { z } from 'zod';
import { type ApiKey, parseApiKeys } from './api/api-keys';
import { integrationEventTypes, isIntegrationEventType } from './integration/messages';
import {
  type BridgeSettings,
  defaultCloudEventsSource,
  defaultKafkaClientId,
  defaultPartitions,
  defaultTopics,
} from './integration/settings';
import {
  defaultSchedules,
  parseSchedule,
  type ReconcileSettings,
  type Schedule,
  type ScheduleName,
  scheduleNames,
  scheduleVariable,
} from './jobs/settings';

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

/** Kafka's own rule for topic names. */
const kafkaTopicName = z
  .string()
  .trim()
  .regex(/^[A-Za-z0-9._-]{1,249}$/, 'must be 1-249 letters, digits, dots, underscores or hyphens')
  .refine((name) => name !== '.' && name !== '..', 'must not be . or ..');

/** Comma-separated host:port list; empty or unset: the bridge is off. */
const kafkaBrokers = optionalString.pipe(
  z
    .string()
    .transform((text, ctx) => {
      const brokers = text.split(',').map((b) => b.trim());
      const bad = brokers.filter((b) => !/^[A-Za-z0-9.-]+:[0-9]{1,5}$/.test(b));
      if (bad.length > 0)
        ctx.addIssue({ code: 'custom', message: `each broker must be host:port, not ${JSON.stringify(bad)}` });
      return brokers;
    })
    .optional(),
);

/** `all`, or a comma-separated list of integration event types. */
const bridgeEventTypes = z
  .string()
  .trim()
  .default('all')
  .transform((text, ctx) => {
    if (text === 'all' || text === '') return integrationEventTypes;
    const types = [...new Set(text.split(',').map((t) => t.trim()))];
    for (const type of types) {
      if (!isIntegrationEventType(type)) {
        ctx.addIssue({ code: 'custom', message: `unknown integration event type ${JSON.stringify(type)}` });
      }
    }
    return types.filter(isIntegrationEventType);
  });

/** A job's schedule (jobs/settings.ts): an interval, a cron pattern, or off. */
function schedule(name: ScheduleName) {
  return z
    .string()
    .trim()
    .default(defaultSchedules[name])
    .transform((text, ctx): Schedule => {
      const parsed = parseSchedule(text === '' ? defaultSchedules[name] : text);
      if (typeof parsed === 'object' && 'problem' in parsed) {
        ctx.addIssue({ code: 'custom', message: parsed.problem });
        return 'off';
      }
      return parsed;
    });
}

const scheduleVariables = Object.fromEntries(scheduleNames.map((name) => [scheduleVariable(name), schedule(name)])) as {
  [K in ScheduleName as `RECONCILE_${string}_EVERY`]: ReturnType<typeof schedule>;
};

const flag = z
  .string()
  .trim()
  .default('false')
  .pipe(z.enum(['true', 'false', ''], { message: 'must be true or false' }))
  .transform((text) => text === 'true');

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
  KAFKA_BROKERS: kafkaBrokers,
  KAFKA_CLIENT_ID: z.string().trim().min(1).max(255).default(defaultKafkaClientId),
  KAFKA_TOPIC_TRANSFERS: kafkaTopicName.default(defaultTopics.transfers),
  KAFKA_TOPIC_ACCOUNTS: kafkaTopicName.default(defaultTopics.accounts),
  KAFKA_TOPIC_PARTITIONS: wholeNumber(1, 10_000, defaultPartitions),
  KAFKA_REPLICATION_FACTOR: wholeNumber(1, 100, 1),
  BRIDGE_EVENT_TYPES: bridgeEventTypes,
  BRIDGE_SOURCE: z.string().trim().min(1).max(1_000).default(defaultCloudEventsSource),
  JOBS_PREFIX: z
    .string()
    .trim()
    .regex(/^[A-Za-z0-9._:-]{1,64}$/, 'must be 1-64 letters, digits, dots, colons, underscores or hyphens')
    .default('ledger'),
  JOBS_LOCK_SECONDS: wholeNumber(1, 3_600, 30),
  JOBS_ATTEMPTS: wholeNumber(1, 100, 5),
  JOBS_BACKOFF_MS: wholeNumber(10, 600_000, 1_000),
  ...scheduleVariables,
  RECONCILE_STUCK_AFTER_SECONDS: wholeNumber(1, 86_400, 60),
  RECONCILE_EXPIRY_GRACE_SECONDS: wholeNumber(0, 86_400, 30),
  RECONCILE_VERIFY_SLICE: wholeNumber(0, 10_000_000, 10_000),
  RECONCILE_REPAIR: flag,
  RECONCILE_LAG_MAX_SECONDS: wholeNumber(1, 86_400, 60),
  RECONCILE_EXPIRING_WITHIN_SECONDS: wholeNumber(1, 30 * 86_400, 3_600),
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
  /** The Kafka bridge; undefined (off) when KAFKA_BROKERS is unset. */
  bridge: BridgeSettings | undefined;
  /** The reconciler's jobs: schedules and thresholds. */
  reconcile: ReconcileSettings;
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
    bridge: c.KAFKA_BROKERS && {
      brokers: c.KAFKA_BROKERS,
      clientId: c.KAFKA_CLIENT_ID,
      topics: { transfers: c.KAFKA_TOPIC_TRANSFERS, accounts: c.KAFKA_TOPIC_ACCOUNTS },
      partitions: c.KAFKA_TOPIC_PARTITIONS,
      replicationFactor: c.KAFKA_REPLICATION_FACTOR,
      eventTypes: c.BRIDGE_EVENT_TYPES,
      source: c.BRIDGE_SOURCE,
    },
    reconcile: {
      prefix: c.JOBS_PREFIX,
      schedules: Object.fromEntries(
        scheduleNames.map((name) => [name, (c as Record<string, unknown>)[scheduleVariable(name)] as Schedule]),
      ) as Record<ScheduleName, Schedule>,
      stuckAfterMs: c.RECONCILE_STUCK_AFTER_SECONDS * 1000,
      expiryGraceMs: c.RECONCILE_EXPIRY_GRACE_SECONDS * 1000,
      verifySlice: c.RECONCILE_VERIFY_SLICE,
      repair: c.RECONCILE_REPAIR,
      lagMaxSeconds: c.RECONCILE_LAG_MAX_SECONDS,
      expiringWithinMs: c.RECONCILE_EXPIRING_WITHIN_SECONDS * 1000,
      lockDurationMs: c.JOBS_LOCK_SECONDS * 1000,
      attempts: c.JOBS_ATTEMPTS,
      backoffMs: c.JOBS_BACKOFF_MS,
    },
    dataDir: c.LEDGER_DATA_DIR,
    pgPoolMax: c.PG_POOL_MAX,
    httpHost: c.HTTP_HOST,
    httpPort: c.HTTP_PORT,
    logLevel: c.LOG_LEVEL,
    nodeEnv: c.NODE_ENV,
  };
}
