/**
 * Rate limits (API.md "Access"): per API key, else per client address, counted in Redis;
 * 429 RATE_LIMITED with Retry-After and the RateLimit-* headers; and when Redis is
 * unreachable or hangs, a per-process in-memory limit instead of no limit.
 */
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { Writable } from 'node:stream';
import { Redis } from 'ioredis';
import request from 'supertest';
import type { AccessOptions } from '../../src/api/access';
import { type ApiScope, apiKeyEntry, generateApiKey } from '../../src/api/api-keys';
import { createApp } from '../../src/api/app';
import { redisLimitTimeoutMs } from '../../src/api/rate-limit';
import { loadConfig } from '../../src/config';
import { freePort } from '../../src/net';
import { createLogger } from '../../src/logger';
import { boundedRedisOptions } from '../../src/redis/client';
import { testLogger } from '../support/ledger';
import { openTestRedis, type TestRedis } from '../support/redis';
import { type ApiHarness, expectProblem, startApi } from './harness';

const secrets = { alpha: generateApiKey(), beta: generateApiKey() };
const scopes: ApiScope[] = ['read'];
const keys = loadConfig({
  API_KEYS: Object.entries(secrets)
    .map(([name, secret]) => apiKeyEntry(name, scopes, secret))
    .join(','),
}).apiKeys;
const limit = 3;
/** Long enough that no window ends in the middle of a test. */
const windowSeconds = 60;
const bearer = (secret: string) => `Bearer ${secret}`;

let api: ApiHarness;
let testRedis: TestRedis;
beforeAll(async () => {
  testRedis = await openTestRedis();
  api = await startApi();
});
afterAll(async () => {
  await api.close();
  await testRedis.close();
});

/** An app over the test ledger with its own counters (a fresh key prefix) and access options. */
function appWith(options: { keys?: AccessOptions['keys']; redis?: Redis; logger?: typeof testLogger } = {}) {
  const keyPrefix = `${testRedis.keyPrefix}:${randomBytes(4).toString('hex')}`;
  const app = createApp({
    store: api.ledger.store,
    pool: api.ledger.db.pool,
    transfers: api.ledger.transfers,
    logger: options.logger ?? testLogger,
    redis: options.redis ?? testRedis.redis,
    access: { keys: options.keys ?? keys, rateLimit: { requests: limit, windowSeconds, keyPrefix } },
  });
  return { app, keyPrefix };
}

function expectRateLimitHeaders(res: request.Response, remaining: number): void {
  expect(res.headers['ratelimit-limit']).toBe(String(limit));
  expect(res.headers['ratelimit-remaining']).toBe(String(remaining));
  expect(res.headers['ratelimit-policy']).toBe(`${limit};w=${windowSeconds}`);
  const reset = Number(res.headers['ratelimit-reset']);
  expect(Number.isInteger(reset) && reset >= 1 && reset <= windowSeconds).toBe(true);
}

function expectRateLimited(res: request.Response): void {
  expectProblem(res, 429, 'RATE_LIMITED');
  expectRateLimitHeaders(res, 0);
  const retryAfter = Number(res.headers['retry-after']);
  expect(Number.isInteger(retryAfter) && retryAfter >= 1 && retryAfter <= windowSeconds).toBe(true);
}

async function spend(app: ReturnType<typeof appWith>['app'], authorization?: string): Promise<request.Response[]> {
  const responses: request.Response[] = [];
  for (let i = 0; i <= limit; i++) {
    const req = request(app).get('/v1/accounts');
    responses.push(await (authorization === undefined ? req : req.set('Authorization', authorization)));
  }
  return responses;
}

describe('per API key, in Redis', () => {
  it('lets `limit` requests through with RateLimit headers, then answers 429 with Retry-After', async () => {
    const { app, keyPrefix } = appWith();
    const responses = await spend(app, bearer(secrets.alpha));
    responses.slice(0, limit).forEach((res, i) => {
      expect(res.status).toBe(200);
      expectRateLimitHeaders(res, limit - 1 - i);
    });
    expectRateLimited(responses[limit]);
    // The count is Redis's, under this app's prefix: shared by every copy of the service.
    expect(await testRedis.redis.get(`${keyPrefix}:key:alpha`)).toBe(String(limit + 1));
  });

  it('gives each key a budget of its own', async () => {
    const { app } = appWith();
    expectRateLimited((await spend(app, bearer(secrets.alpha)))[limit]);
    const beta = await request(app).get('/v1/accounts').set('Authorization', bearer(secrets.beta));
    expect(beta.status).toBe(200);
    expectRateLimitHeaders(beta, limit - 1);
  });

  it('counts failed authentication per client address, so guessing keys is limited too', async () => {
    const { app, keyPrefix } = appWith();
    const responses = await spend(app, bearer(generateApiKey()));
    for (const res of responses.slice(0, limit)) expectProblem(res, 401, 'UNAUTHORIZED');
    expectRateLimited(responses[limit]);
    const [counter] = await testRedis.redis.keys(`${keyPrefix}:addr:*`);
    expect(counter).toBeDefined();
    // A valid key still has its own budget.
    expect((await request(app).get('/v1/accounts').set('Authorization', bearer(secrets.alpha))).status).toBe(200);
  });

  it('limits per client address when the API is open', async () => {
    const { app } = appWith({ keys: [] });
    const responses = await spend(app);
    responses.slice(0, limit).forEach((res) => expect(res.status).toBe(200));
    expectRateLimited(responses[limit]);
  });

  it('leaves the operations paths alone', async () => {
    const { app } = appWith({ keys: [] });
    await spend(app);
    const live = await request(app).get('/health/live');
    expect(live.status).toBe(200);
    expect(live.headers['ratelimit-limit']).toBeUndefined();
  });
});

describe('when Redis fails', () => {
  function capturingLogger() {
    const lines: { msg: string; level: number }[] = [];
    const logger = createLogger(
      'warn',
      new Writable({
        write: (chunk, _enc, done) => {
          lines.push(JSON.parse(String(chunk)));
          done();
        },
      }),
    );
    return { logger, lines };
  }

  async function expectLimitedInMemory(redis: Redis, bound: number) {
    const { logger, lines } = capturingLogger();
    const { app } = appWith({ redis, logger });
    const started = Date.now();
    const responses = await spend(app, bearer(secrets.alpha));
    responses.slice(0, limit).forEach((res, i) => {
      expect(res.status).toBe(200);
      expectRateLimitHeaders(res, limit - 1 - i);
    });
    expectRateLimited(responses[limit]);
    expect(Date.now() - started).toBeLessThan(bound);
    expect(lines.filter((l) => /Redis unavailable for rate limiting/.test(l.msg))).toEqual([
      expect.objectContaining({ level: 40 }),
    ]);
  }

  it('unreachable: requests are still limited, in memory, without waiting, and the log says so', async () => {
    const closedPort = await freePort();
    const redis = new Redis(`redis://127.0.0.1:${closedPort}`, boundedRedisOptions({ lazyConnect: false }));
    redis.on('error', () => undefined);
    try {
      await expectLimitedInMemory(redis, 2_000);
    } finally {
      redis.disconnect();
    }
  });

  it('connected but not answering: each decision waits at most the Redis timeout', async () => {
    // A proxy to the real Redis that stops forwarding once the client is ready: a hung Redis.
    const upstream = new URL(process.env.LEDGER_TEST_REDIS_URL as string);
    let hung = false;
    const proxy = net.createServer((client) => {
      const server = net.connect(Number(upstream.port || 6379), upstream.hostname);
      client.on('data', (chunk) => hung || server.write(chunk));
      server.pipe(client);
      client.on('close', () => server.destroy());
      server.on('error', () => client.destroy());
    });
    proxy.listen(0, '127.0.0.1');
    await new Promise((resolve) => proxy.once('listening', resolve));
    const { port } = proxy.address() as net.AddressInfo;
    const redis = new Redis(`redis://127.0.0.1:${port}`, boundedRedisOptions());
    redis.on('error', () => undefined);
    try {
      await redis.connect();
      hung = true;
      await expectLimitedInMemory(redis, (limit + 1) * (redisLimitTimeoutMs + 500));
      expect(redis.status).toBe('ready');
    } finally {
      redis.disconnect();
      proxy.close();
    }
  });
});
