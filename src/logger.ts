import pino, { type DestinationStream, type Logger } from 'pino';

export type { Logger };

/** Credentials, at the top level, one level down (`headers.authorization`) and two (`req.headers.authorization`). */
const redactedPaths = [
  ...['authorization', 'Authorization', 'cookie', 'password', 'apiKey', 'secret'].flatMap((field) => [
    field,
    `*.${field}`,
    `*.*.${field}`,
  ]),
  '["x-api-key"]',
  '*["x-api-key"]',
  '*.*["x-api-key"]',
];

/**
 * The one logger. JSON lines on stdout (or `destination`, for tests); secrets are
 * redacted wherever they appear.
 */
export function createLogger(level: string = process.env.LOG_LEVEL ?? 'info', destination?: DestinationStream): Logger {
  const options = { level, base: { service: 'ledger' }, redact: { paths: redactedPaths, censor: '[redacted]' } };
  return destination === undefined ? pino(options) : pino(options, destination);
}
