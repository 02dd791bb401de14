import pino, { type Logger } from 'pino';

export type { Logger };

/** The one logger. JSON lines on stdout; secrets are redacted wherever they appear. */
export function createLogger(level: string = process.env.LOG_LEVEL ?? 'info'): Logger {
  return pino({
    level,
    base: { service: 'ledger' },
    redact: { paths: ['*.password', '*.authorization', '*.apiKey', 'req.headers.authorization'], censor: '[redacted]' },
  });
}
