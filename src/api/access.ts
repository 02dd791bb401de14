/**
 * Access control for /v1, /api/v1 and /admin (API.md "Access"): the caller presents an API
 * key as `Authorization: Bearer <key>`, found by its SHA-256 among the configured keys; the
 * key must hold the scope the request needs (requiredScope). Without configured keys the API
 * is open. Rate limits count each caller before access is decided, so failed attempts are
 * limited too.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { Request, RequestHandler } from 'express';
import type { Redis } from 'ioredis';
import type { Logger } from '../logger';
import { type ApiKey, type ApiScope, grants } from './api-keys';
import { HttpProblem } from './problems';
import { rateLimit, type RateLimitOptions } from './rate-limit';

/** The paths behind access control; /health, /metrics, /openapi.json and /docs stay public. */
export const protectedMounts = ['/v1', '/api/v1', '/admin'];

export interface AccessOptions {
  /** No keys: the API is open to anyone who can reach it. */
  keys: readonly ApiKey[];
  /** Absent, or 0 requests: no rate limit. */
  rateLimit?: RateLimitOptions;
}

const realm = 'ledger';
/** Generated keys are 46 characters; anything far longer is not worth hashing. */
const maxPresentedKeyLength = 256;
/** RFC 6750 b64token. */
const bearerCredentials = /^Bearer +([A-Za-z0-9._~+/-]+=*) *$/i;
/** Account commands that change who may move money: freeze, unfreeze, close. */
const adminCommandPath = /^\/v1\/accounts\/[^/]+\/(freeze|unfreeze|close)\/?$/i;
/** Operators' views and actions, whatever the method: /v1/admin, and pages such as the queue dashboard under /admin. */
const adminAreaPath = /^(\/v1)?\/admin(\/|$)/i;

/**
 * The scope a request needs: anything under /admin or /v1/admin is admin; GET and HEAD read;
 * POST to /v1/accounts/{id}/freeze, unfreeze or close is admin; every other request writes.
 * Case-insensitive and trailing-slash tolerant like the router, so no spelling of an admin
 * route reaches it as a mere read or write.
 */
export function requiredScope(method: string, path: string): ApiScope {
  if (adminAreaPath.test(path)) return 'admin';
  const m = method.toUpperCase();
  if (m === 'GET' || m === 'HEAD') return 'read';
  return adminCommandPath.test(path) ? 'admin' : 'write';
}

/** Who sent a request, as far as its Authorization header says. */
type Credentials = { kind: 'key'; key: ApiKey } | { kind: 'missing' } | { kind: 'other-scheme' } | { kind: 'invalid' };

const credentials = new WeakMap<Request, Credentials>();

/** The API key that authenticated this request; undefined when the API is open. */
export function apiKeyOf(req: Request): ApiKey | undefined {
  const found = credentials.get(req);
  return found?.kind === 'key' ? found.key : undefined;
}

/** Looks the presented secret's hash up among all keys, comparing each in constant time. */
function keyFinder(keys: readonly ApiKey[]): (secret: string) => ApiKey | undefined {
  const hashed = keys.map((key) => ({ key, digest: Buffer.from(key.sha256, 'hex') }));
  return (secret) => {
    const digest = createHash('sha256').update(secret, 'utf8').digest();
    let found: ApiKey | undefined;
    for (const candidate of hashed) {
      if (timingSafeEqual(digest, candidate.digest) && found === undefined) found = candidate.key;
    }
    return found;
  };
}

function readCredentials(authorization: string | undefined, find: (secret: string) => ApiKey | undefined): Credentials {
  if (authorization === undefined || authorization.trim() === '') return { kind: 'missing' };
  if (!/^bearer(\s|$)/i.test(authorization)) return { kind: 'other-scheme' };
  const match = bearerCredentials.exec(authorization);
  if (!match || match[1].length > maxPresentedKeyLength) return { kind: 'invalid' };
  const key = find(match[1]);
  return key ? { kind: 'key', key } : { kind: 'invalid' };
}

function identify(keys: readonly ApiKey[]): RequestHandler {
  const find = keyFinder(keys);
  return (req, _res, next) => {
    credentials.set(req, readCredentials(req.get('Authorization'), find));
    next();
  };
}

function refuse(found: Credentials | undefined): HttpProblem {
  const challenge = `Bearer realm="${realm}"`;
  if (found?.kind === 'invalid') {
    return new HttpProblem(401, 'UNAUTHORIZED', 'the API key is not valid', {
      'WWW-Authenticate': `${challenge}, error="invalid_token"`,
    });
  }
  const detail =
    found?.kind === 'other-scheme'
      ? 'only Bearer API keys are accepted: send Authorization: Bearer <key>'
      : 'an API key is required: send Authorization: Bearer <key>';
  return new HttpProblem(401, 'UNAUTHORIZED', detail, { 'WWW-Authenticate': challenge });
}

const authorize: RequestHandler = (req, _res, next) => {
  const found = credentials.get(req);
  if (found?.kind !== 'key') throw refuse(found);
  const scope = requiredScope(req.method, req.baseUrl + req.path);
  if (!grants(found.key, scope)) {
    throw new HttpProblem(403, 'FORBIDDEN', `this API key does not have the "${scope}" scope this request needs`, {
      'WWW-Authenticate': `Bearer realm="${realm}", error="insufficient_scope", scope="${scope}"`,
    });
  }
  next();
};

/** Counted per API key when one authenticated the request, else per client address. */
function rateLimitKeyOf(req: Request): string {
  const key = apiKeyOf(req);
  return key ? `key:${key.name}` : `addr:${req.ip ?? 'unknown'}`;
}

/**
 * Mount at protectedMounts, ahead of the routes: identify the caller, rate limit, authorize.
 * Plain handlers rather than a router of their own: leaving an express router costs each
 * request a turn of the event loop (setImmediate). None at all when the API is open and unlimited.
 */
export function accessControl(options: AccessOptions, redis: Redis | undefined, logger: Logger): RequestHandler[] {
  const handlers: RequestHandler[] = [];
  const secured = options.keys.length > 0;
  if (secured) handlers.push(identify(options.keys));
  if (options.rateLimit && options.rateLimit.requests > 0) {
    handlers.push(rateLimit(options.rateLimit, redis, rateLimitKeyOf, logger));
  }
  if (secured) handlers.push(authorize);
  return handlers;
}

/** The start-up log about access: an open API and a disabled rate limit are warnings. */
export function logAccessPolicy(options: AccessOptions, logger: Logger): void {
  if (options.keys.length === 0) {
    logger.warn('no API keys configured: the API is open to anyone who can reach it');
  } else {
    logger.info({ apiKeys: options.keys.map((key) => key.name) }, 'API keys configured');
  }
  const limit = options.rateLimit;
  if (limit === undefined || limit.requests === 0) {
    logger.warn('rate limiting is disabled (RATE_LIMIT_REQUESTS=0)');
  } else {
    logger.info(
      { requests: limit.requests, windowSeconds: limit.windowSeconds },
      'rate limit per API key, or per client address for requests without a valid key',
    );
  }
}
