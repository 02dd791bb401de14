/**
 * Rate limits (API.md "Access"): a fixed window of `requests` per `windowSeconds` per
 * caller, counted in Redis so every copy of the service shares one budget. When Redis
 * cannot answer in time, a per-process in-memory limiter decides instead (the library's
 * insurance limiter), so an outage neither opens the gates nor stops payments.
 */
import type { Request, RequestHandler, Response } from 'express';
import type { Redis } from 'ioredis';
import { RateLimiterMemory, RateLimiterRedis, RateLimiterRes, RLWrapperTimeouts } from 'rate-limiter-flexible';
import type { Logger } from '../logger';
import { HttpProblem } from './problems';

export interface RateLimitOptions {
  /** Requests per window and caller; 0 turns rate limiting off. */
  requests: number;
  windowSeconds: number;
  /** Where the counters live in Redis; each test file uses its own. */
  keyPrefix?: string;
}

export const defaultRateLimitKeyPrefix = 'ledger:rate-limit';
/** Redis normally answers in well under a millisecond; past this the in-memory limiter decides. */
export const redisLimitTimeoutMs = 250;
/** While Redis stays unavailable, the fallback is reported at most this often. */
const fallbackReportIntervalMs = 60_000;

/** The in-memory limiter that stands in for Redis, and says so in the log. */
class FallbackLimiter extends RateLimiterMemory {
  constructor(
    options: { points: number; duration: number },
    private readonly onUse: () => void,
  ) {
    super(options);
  }

  override consume(key: string | number, points?: number, options?: Record<string, unknown>) {
    this.onUse();
    return super.consume(key, points, options);
  }
}

function fallbackReporter(redis: Redis, logger: Logger): () => void {
  const log = logger.child({ component: 'rate-limit' });
  let lastReportAt = -Infinity;
  let unreported = 0;
  return () => {
    unreported++;
    const now = Date.now();
    if (now - lastReportAt < fallbackReportIntervalMs) return;
    log.warn(
      { redisStatus: redis.status, requests: unreported },
      'Redis unavailable for rate limiting: limiting per process in memory until it answers again',
    );
    lastReportAt = now;
    unreported = 0;
  };
}

function setRateLimitHeaders(res: Response, options: RateLimitOptions, outcome: RateLimiterRes): void {
  res.set({
    'RateLimit-Limit': String(options.requests),
    'RateLimit-Remaining': String(outcome.remainingPoints),
    'RateLimit-Reset': String(Math.ceil(outcome.msBeforeNext / 1000)),
    'RateLimit-Policy': `${options.requests};w=${options.windowSeconds}`,
  });
}

/**
 * Middleware counting each request against `keyOf(req)`; over the limit it is 429
 * RATE_LIMITED with Retry-After. Every response it lets through carries the RateLimit-*
 * headers. Without Redis (tests that do not need it) the in-memory limiter is the limiter.
 */
export function rateLimit(
  options: RateLimitOptions,
  redis: Redis | undefined,
  keyOf: (req: Request) => string,
  logger: Logger,
): RequestHandler {
  const window = { points: options.requests, duration: options.windowSeconds };
  const limiter = redis
    ? new RLWrapperTimeouts({
        limiter: new RateLimiterRedis({
          ...window,
          storeClient: redis,
          keyPrefix: options.keyPrefix ?? defaultRateLimitKeyPrefix,
          // A disconnected client would queue the command; decide in memory at once instead.
          rejectIfRedisNotReady: true,
        }),
        timeoutMs: redisLimitTimeoutMs,
        insuranceLimiter: new FallbackLimiter(window, fallbackReporter(redis, logger)),
      })
    : new RateLimiterMemory(window);
  return async (req, res, next) => {
    let outcome: RateLimiterRes;
    let allowed: boolean;
    try {
      outcome = await limiter.consume(keyOf(req));
      allowed = true;
    } catch (err) {
      if (!(err instanceof RateLimiterRes)) throw err;
      outcome = err;
      allowed = false;
    }
    setRateLimitHeaders(res, options, outcome);
    if (allowed) {
      next();
      return;
    }
    const retryAfterSeconds = Math.max(1, Math.ceil(outcome.msBeforeNext / 1000));
    throw new HttpProblem(
      429,
      'RATE_LIMITED',
      `more than ${options.requests} requests in ${options.windowSeconds} s; retry after ${retryAfterSeconds} s`,
      { 'Retry-After': String(retryAfterSeconds) },
    );
  };
}
