import net from 'node:net';
import type { Express } from 'express';
import { Redis } from 'ioredis';
import { Pool } from 'pg';
import request from 'supertest';
import { hashApiKey } from '../../src/api/api-keys';
import { createApp, type ApiDeps } from '../../src/api/app';
import { healthProbeTimeoutMs } from '../../src/api/health';
import { testLogger } from '../support/ledger';
import { startApi, type ApiHarness } from './harness';

/** A port nothing listens on: connections to it are refused at once. */
async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** A server that accepts connections and never says a word: a hung dependency. */
async function silentServer(): Promise<{ port: number; close(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

function poolAt(port: number): Pool {
  const pool = new Pool({ host: '127.0.0.1', port, user: 'nobody', database: 'nothing', max: 2 });
  pool.on('error', () => undefined);
  return pool;
}

describe('health', () => {
  let api: ApiHarness;
  beforeAll(async () => {
    api = await startApi();
  });
  afterAll(() => api.close());

  const deps = (overrides: Partial<ApiDeps> = {}): ApiDeps => ({
    store: api.ledger.store,
    pool: api.ledger.db.pool,
    transfers: api.ledger.transfers,
    logger: testLogger,
    ...overrides,
  });

  /** GET `path`, and how long the answer took. */
  async function timedGet(app: Express, path: string) {
    const started = Date.now();
    const res = await request(app).get(path);
    return { res, elapsedMs: Date.now() - started };
  }

  const up = { status: 'UP', durationMs: expect.any(Number) };

  it('GET /health/live is 200 while the process runs', async () => {
    const res = await request(api.app).get('/health/live');
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ status: 'UP' });
  });

  it('GET /health/ready is 200 with every dependency UP', async () => {
    const res = await request(api.app).get('/health/ready');
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/^application\/json/);
    expect(res.body).toEqual({ status: 'UP', components: { database: up, eventStore: up } });
  });

  it('GET /health/ready is 503 with the database DOWN when its pool cannot connect, at once', async () => {
    const pool = poolAt(await closedPort());
    try {
      const { res, elapsedMs } = await timedGet(createApp(deps({ pool })), '/health/ready');
      expect(res.status).toBe(503);
      expect(res.body).toEqual({
        status: 'DOWN',
        components: {
          database: { status: 'DOWN', durationMs: expect.any(Number), error: 'UNAVAILABLE' },
          eventStore: up,
        },
      });
      expect(elapsedMs).toBeLessThan(healthProbeTimeoutMs);
      expect(res.text).not.toMatch(/ECONNREFUSED|127\.0\.0\.1|nobody/);
    } finally {
      await pool.end();
    }
  });

  it('reports a database that hangs as DOWN once the probe times out, instead of hanging', async () => {
    const hung = await silentServer();
    const pool = poolAt(hung.port);
    try {
      const { res, elapsedMs } = await timedGet(createApp(deps({ pool })), '/health/ready');
      expect(res.status).toBe(503);
      expect(res.body.components.database).toEqual({
        status: 'DOWN',
        durationMs: expect.any(Number),
        error: 'TIMEOUT',
      });
      expect(res.body.components.eventStore).toEqual(up);
      expect(elapsedMs).toBeGreaterThanOrEqual(healthProbeTimeoutMs - 50);
      expect(elapsedMs).toBeLessThan(healthProbeTimeoutMs + 1_500);
    } finally {
      await hung.close();
      await pool.end().catch(() => undefined);
    }
  });

  it('probes Redis when the API has it: UP when it answers, DOWN within the time limit when it does not', async () => {
    const redisUrl = process.env.LEDGER_TEST_REDIS_URL;
    if (!redisUrl) throw new Error('LEDGER_TEST_REDIS_URL is not set: run the tests through jest');
    const live = new Redis(redisUrl, { maxRetriesPerRequest: 1 });
    // Connected but never ready: the client queues commands meanwhile, and only the probe's limit ends the wait.
    const hung = await silentServer();
    const silent = new Redis({ host: '127.0.0.1', port: hung.port });
    silent.on('error', () => undefined);
    try {
      const ok = await request(createApp(deps({ redis: live }))).get('/health/ready');
      expect(ok.status).toBe(200);
      expect(ok.body).toEqual({ status: 'UP', components: { database: up, eventStore: up, redis: up } });

      const { res, elapsedMs } = await timedGet(createApp(deps({ redis: silent })), '/health/ready');
      expect(res.status).toBe(503);
      expect(res.body).toEqual({
        status: 'DOWN',
        components: {
          database: up,
          eventStore: up,
          redis: { status: 'DOWN', durationMs: expect.any(Number), error: 'TIMEOUT' },
        },
      });
      expect(elapsedMs).toBeLessThan(healthProbeTimeoutMs + 1_500);
    } finally {
      live.disconnect();
      silent.disconnect();
      await hung.close();
    }
  });

  it("GET /api/v1/actuator/health keeps the seed's Spring shape: 200 UP, 503 DOWN", async () => {
    const ok = await request(api.app).get('/api/v1/actuator/health');
    expect(ok.status).toBe(200);
    expect(ok.body).toEqual({ status: 'UP', components: { db: { status: 'UP' }, eventStore: { status: 'UP' } } });

    const pool = poolAt(await closedPort());
    try {
      const down = await request(createApp(deps({ pool }))).get('/api/v1/actuator/health');
      expect(down.status).toBe(503);
      expect(down.body).toEqual({
        status: 'DOWN',
        components: { db: { status: 'DOWN' }, eventStore: { status: 'UP' } },
      });
    } finally {
      await pool.end();
    }
  });

  it('with API keys configured, /health and /metrics stay public; the actuator under /api/v1 does not', async () => {
    const app = createApp(
      deps({ access: { keys: [{ name: 'ops', scopes: ['read'], sha256: hashApiKey('health-test-key') }] } }),
    );
    expect((await request(app).get('/health/live')).status).toBe(200);
    expect((await request(app).get('/health/ready')).status).toBe(200);
    expect((await request(app).get('/metrics')).status).toBe(200);
    expect((await request(app).get('/api/v1/actuator/health')).status).toBe(401);
    const authorized = await request(app).get('/api/v1/actuator/health').set('Authorization', 'Bearer health-test-key');
    expect(authorized.status).toBe(200);
  });
});
