import { z } from 'zod';

/** Optional URL-ish variables: empty strings count as unset. */
const optionalString = z
  .string()
  .trim()
  .transform((s) => (s === '' ? undefined : s))
  .optional();

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
  LEDGER_DATA_DIR: z.string().min(1).default('.data'),
  PG_POOL_MAX: z.coerce.number().int().min(1).max(200).default(10),
  HTTP_HOST: z.string().trim().min(1).default('127.0.0.1'),
  HTTP_PORT: z.coerce.number().int().min(0).max(65_535).default(8081),
  LOG_LEVEL: z.enum(logLevels).default('info'),
  NODE_ENV: z.enum(['development', 'production', 'test']).default('development'),
});

export type Config = {
  databaseUrl: string | undefined;
  eventStoreUrl: string | undefined;
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
    dataDir: c.LEDGER_DATA_DIR,
    pgPoolMax: c.PG_POOL_MAX,
    httpHost: c.HTTP_HOST,
    httpPort: c.HTTP_PORT,
    logLevel: c.LOG_LEVEL,
    nodeEnv: c.NODE_ENV,
  };
}
