/**
 * The BullMQ dashboard at /admin/queues in a real browser (Debian's Chromium through
 * playwright-core), over the reconciler's queues on the test Redis: an admin key sees both
 * queues and a job put on one; a key without the admin scope is refused the page and its
 * API, and a request without a key is refused too. Without keys configured, it is open.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Express } from 'express';
import type { Pool } from 'pg';
import { type Browser, type BrowserContext, chromium } from 'playwright-core';
import request from 'supertest';
import type { AccessOptions } from '../../src/api/access';
import { type ApiScope, apiKeyEntry, generateApiKey } from '../../src/api/api-keys';
import { createApp } from '../../src/api/app';
import type { TransferCommands } from '../../src/commands/transfer-commands';
import { loadConfig } from '../../src/config';
import type { EventStore } from '../../src/eventstore/port';
import { JobQueues } from '../../src/jobs/queues';
import { chromiumArgs, ensureChromium } from '../support/chromium';
import { testLogger } from '../support/ledger';
import { openTestRedis, type TestRedis } from '../support/redis';
import { expectProblem } from './harness';

/** Installing Chromium, when the machine has none, takes a minute or two. */
const setupTimeoutMs = 12 * 60_000;
/** The page is a React app that fetches the queues after it loads. */
const renderTimeoutMs = 20_000;

const secrets: Record<'clerk' | 'root', string> = { clerk: generateApiKey(), root: generateApiKey() };
const scopes: Record<keyof typeof secrets, ApiScope[]> = { clerk: ['read', 'write'], root: ['admin'] };
const keys = loadConfig({
  API_KEYS: Object.entries(secrets)
    .map(([name, secret]) => apiKeyEntry(name, scopes[name as keyof typeof secrets], secret))
    .join(','),
}).apiKeys;

/** The dashboard needs only the queues: a store, pool or command handler used by mistake fails loudly. */
function dashboardApp(jobs: JobQueues, access: AccessOptions): Express {
  return createApp({
    store: {} as EventStore,
    pool: {} as Pool,
    transfers: {} as TransferCommands,
    logger: testLogger,
    jobs,
    access,
  });
}

let redis: TestRedis;
let jobs: JobQueues;
let server: Server;
let origin: string;
let browser: Browser;

beforeAll(async () => {
  redis = await openTestRedis();
  const url = process.env.LEDGER_TEST_REDIS_URL!;
  jobs = new JobQueues(url, loadConfig({ JOBS_PREFIX: redis.keyPrefix }).reconcile, testLogger);
  server = createServer(dashboardApp(jobs, { keys }));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  browser = await chromium.launch({ executablePath: await ensureChromium(), args: chromiumArgs });
}, setupTimeoutMs);

afterAll(async () => {
  await browser?.close();
  await new Promise((resolve) => server?.close(resolve));
  await jobs?.close();
  await redis?.close();
});

/** A browser session that sends the key on every request, as an operator's proxy would. */
async function sessionAs(secret: string | undefined): Promise<BrowserContext> {
  const context = await browser.newContext(
    secret === undefined ? {} : { extraHTTPHeaders: { authorization: `Bearer ${secret}` } },
  );
  // The page links a web font: nothing but the ledger is reached, and the key goes nowhere else.
  await context.route(
    (url) => url.origin !== origin,
    (route) => route.abort(),
  );
  return context;
}

describe('with the admin scope', () => {
  let context: BrowserContext;
  beforeAll(async () => {
    context = await sessionAs(secrets.root);
  });
  afterAll(() => context.close());

  it('renders both queues, which only the running app could have fetched', async () => {
    const page = await context.newPage();
    const response = await page.goto(`${origin}/admin/queues`);
    expect(response?.status()).toBe(200);
    // The served page is an empty shell: the names below are drawn from bull-board's API.
    const shell = await response!.text();
    expect(shell).not.toContain('hold-expiry');
    for (const name of ['reconcile', 'hold-expiry']) {
      await page.getByText(name, { exact: true }).first().waitFor({ timeout: renderTimeoutMs });
    }
  });

  it("shows a job put on a queue, with its name and id, on that queue's page", async () => {
    const jobId = await jobs.trigger('verify-balances', { repair: true });
    const page = await context.newPage();
    await page.goto(`${origin}/admin/queues/queue/reconcile?status=waiting`);
    // The job's name is nowhere on the page until bull-board lists the job from Redis.
    await page.getByText('verify-balances').first().waitFor({ timeout: renderTimeoutMs });
    expect(await page.locator('#root').innerText()).toMatch(new RegExp(`#${jobId}\\s+verify-balances`));
  });
});

describe('without the admin scope', () => {
  it('a read+write key is refused the page, its scripts and its API: 403', async () => {
    const context = await sessionAs(secrets.clerk);
    try {
      const page = await context.newPage();
      const response = await page.goto(`${origin}/admin/queues`);
      expect(response?.status()).toBe(403);
      expect(response?.headers()['content-type']).toMatch(/^application\/problem\+json/);
      expect(JSON.parse(await response!.text())).toMatchObject({ code: 'FORBIDDEN', detail: /"admin"/ });
      const refused = [
        '/admin/queues/api/queues',
        '/admin/queues/queue/reconcile',
        '/admin/queues/static/images/logo.svg',
        '/Admin/Queues/api/queues',
      ];
      for (const path of refused) {
        const res = await context.request.get(`${origin}${path}`);
        expect({ path, status: res.status() }).toEqual({ path, status: 403 });
      }
      const pause = await context.request.put(`${origin}/admin/queues/api/queues/reconcile/pause`);
      expect(pause.status()).toBe(403);
      expect(await jobs.reconcile.isPaused()).toBe(false);
    } finally {
      await context.close();
    }
  });

  it('no key: 401, with the Bearer challenge', async () => {
    const context = await sessionAs(undefined);
    try {
      const page = await context.newPage();
      const response = await page.goto(`${origin}/admin/queues`);
      expect(response?.status()).toBe(401);
      expect(response?.headers()['www-authenticate']).toBe('Bearer realm="ledger"');
      expect((await context.request.get(`${origin}/admin/queues/api/queues`)).status()).toBe(401);
    } finally {
      await context.close();
    }
  });

  it('the same refusals as problem+json the API sends', async () => {
    const app = dashboardApp(jobs, { keys });
    expectProblem(await request(app).get('/admin/queues'), 401, 'UNAUTHORIZED');
    expectProblem(
      await request(app).get('/admin/queues/api/queues').set('Authorization', `Bearer ${secrets.clerk}`),
      403,
      'FORBIDDEN',
    );
  });
});

test('with no API keys configured, the dashboard is open like the rest of the API', async () => {
  const open = dashboardApp(jobs, { keys: [] });
  const res = await request(open).get('/admin/queues/api/queues');
  expect(res.status).toBe(200);
  expect(res.body.queues.map((q: { name: string }) => q.name).sort()).toEqual(['hold-expiry', 'reconcile']);
});
