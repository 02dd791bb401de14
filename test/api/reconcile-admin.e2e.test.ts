/**
 * The reconciler for operators, through the whole service over HTTP (startTestService: its
 * reconciler worker thread takes the jobs): POST /v1/admin/reconcile/{job} queues a run that
 * then appears in GET /v1/admin/reconcile/runs and /runs/{id}; bad input is refused with
 * the API's validation problem and queues nothing; only the admin scope gets in.
 */
import { testLogger } from '../support/ledger';
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import request from 'supertest';
import { type ApiScope, apiKeyEntry, generateApiKey } from '../../src/api/api-keys';
import * as responses from '../../src/api/responses';
import { triggerTimeoutMs } from '../../src/api/routes/reconcile';
import { loadConfig } from '../../src/config';
import { JobQueues } from '../../src/jobs/queues';
import { freePort } from '../../src/net';
import { eventually } from '../support/projections';
import { schedulesOff, testRedisUrl } from '../support/reconciler';
import { deleteKeys, testJobsPrefixStart } from '../support/redis';
import { startTestService, type TestService } from '../support/service';
import { expectProblem, startApi } from './harness';

jest.setTimeout(120_000);

const secrets: Record<'reader' | 'clerk' | 'root', string> = {
  reader: generateApiKey(),
  clerk: generateApiKey(),
  root: generateApiKey(),
};
const scopes: Record<keyof typeof secrets, ApiScope[]> = {
  reader: ['read'],
  clerk: ['read', 'write'],
  root: ['admin'],
};
/** A prefix of this file's own, so the test can look into the service's queues. */
const prefix = `${testJobsPrefixStart}-admin-${randomBytes(4).toString('hex')}`;

let service: TestService;
let queues: JobQueues;

beforeAll(async () => {
  const env = {
    API_KEYS: Object.entries(secrets)
      .map(([name, secret]) => apiKeyEntry(name, scopes[name as keyof typeof secrets], secret))
      .join(','),
    RATE_LIMIT_REQUESTS: '0',
    JOBS_PREFIX: prefix,
    ...schedulesOff,
  };
  service = await startTestService(env);
  queues = new JobQueues(testRedisUrl(), loadConfig(env).reconcile, testLogger);
});

afterAll(async () => {
  await queues?.close();
  await service?.close();
  const redis = new Redis(testRedisUrl());
  await deleteKeys(redis, prefix).finally(() => redis.disconnect());
});

const api = () => request(service.ledger.url);
const as = (secret: string) => ({ Authorization: `Bearer ${secret}` });
const admin = as(secrets.root);

/** Jobs in the reconcile queue, whatever their state. */
async function queuedJobs(): Promise<number> {
  const counts = await queues.reconcile.getJobCounts();
  return Object.values(counts).reduce((sum, n) => sum + n, 0);
}

test('a run asked for is queued, run by the reconciler, and listed with what it found', async () => {
  // A little ledger for conservation to check: a committed transfer, and a pending one still held.
  const clerk = as(secrets.clerk);
  for (const account of [
    { id: 'ra-bank', currency: 'EUR', overdraft: 'unlimited' },
    { id: 'ra-alice', currency: 'EUR' },
    { id: 'ra-bob', currency: 'EUR' },
  ]) {
    expect((await api().post('/v1/accounts').set(clerk).send(account)).status).toBe(201);
  }
  const moves = [
    { sourceAccount: 'ra-bank', destinationAccount: 'ra-alice', amount: '50.00' },
    { sourceAccount: 'ra-alice', destinationAccount: 'ra-bob', amount: '20.00', mode: 'pending' },
  ];
  let position = '0';
  for (const move of moves) {
    const res = await api().post('/v1/transfers').set(clerk).set('Prefer', 'wait=20').send(move);
    expect({ status: res.status, transfer: res.body.status }).toEqual({
      status: 201,
      transfer: move.mode === 'pending' ? 'HELD' : 'COMMITTED',
    });
    position = res.headers['ledger-position'];
  }
  // The read models have both transfers (a read at the position waits for them).
  const balance = await api().get('/v1/accounts/ra-alice/balance').set(clerk).set('Ledger-Min-Position', position);
  expect(balance.body).toMatchObject({ posted: '50.00', available: '30.00' });

  const triggered = await api().post('/v1/admin/reconcile/conservation').set(admin).send({});
  expect(triggered.status).toBe(202);
  expect(responses.reconcileTriggered.safeParse(triggered.body).error).toBeUndefined();
  expect(triggered.body).toEqual({ job: 'conservation', queueJobId: expect.any(String) });
  const { queueJobId } = triggered.body as { queueJobId: string };

  const listed = await eventually(
    async () => {
      const res = await api().get('/v1/admin/reconcile/runs?job=conservation').set(admin);
      expect(res.status).toBe(200);
      expect(responses.reconcileRuns.safeParse(res.body).error).toBeUndefined();
      const run = (res.body.runs as { id: string; queueJobId: string; outcome: string }[]).find(
        (r) => r.queueJobId === queueJobId,
      );
      return run !== undefined && run.outcome !== 'running' ? run : undefined;
    },
    'the run listed, finished',
    30_000,
  );
  expect(listed).toMatchObject({
    job: 'conservation',
    trigger: 'admin',
    queueJobId,
    outcome: 'ok',
    problems: [],
    problemsTotal: 0,
    error: null,
    counts: { currencies: 1 },
  });

  const one = await api().get(`/v1/admin/reconcile/runs/${listed.id}`).set(admin);
  expect(one.status).toBe(200);
  expect(responses.reconcileRun.safeParse(one.body).error).toBeUndefined();
  expect(one.body).toEqual(listed);

  // A second run, over the event store: the options reach the job; the newest is listed first.
  const fromEvents = await api().post('/v1/admin/reconcile/conservation').set(admin).send({ fromEvents: true });
  expect(fromEvents.status).toBe(202);
  const second = await eventually(
    async () => {
      const res = await api().get('/v1/admin/reconcile/runs?limit=1').set(admin);
      const [run] = res.body.runs as { queueJobId: string; outcome: string }[];
      return run?.queueJobId === fromEvents.body.queueJobId && run.outcome !== 'running' ? res.body : undefined;
    },
    'the run over the events listed first',
    30_000,
  );
  expect(second.runs).toHaveLength(1);
  expect(second.runs[0]).toMatchObject({ outcome: 'ok', counts: { currencies: 1, events: expect.any(Number) } });
  expect(listed).not.toHaveProperty('counts.events');
});

test('bad input: 422 with the field that is wrong, and nothing queued', async () => {
  const before = await queuedJobs();
  const refused: [request.Test, string][] = [
    [api().post('/v1/admin/reconcile/nope').set(admin).send({}), 'job'],
    [api().post('/v1/admin/reconcile/verify-balances').set(admin).send({ repair: 'yes' }), 'repair'],
    [api().post('/v1/admin/reconcile/verify-balances').set(admin).send({ force: true }), 'force'],
    [api().get('/v1/admin/reconcile/runs?limit=0').set(admin), 'limit'],
    [api().get('/v1/admin/reconcile/runs?limit=201').set(admin), 'limit'],
    [api().get('/v1/admin/reconcile/runs?limit=ten').set(admin), 'limit'],
    [api().get('/v1/admin/reconcile/runs?job=nope').set(admin), 'job'],
    [api().get('/v1/admin/reconcile/runs?since=1').set(admin), 'since'],
    [api().get('/v1/admin/reconcile/runs/abc').set(admin), 'id'],
  ];
  for (const [req, field] of refused) {
    const res = await req;
    expectProblem(res, 422, 'VALIDATION_FAILED');
    expect(res.body.errors).toEqual([{ path: field, message: expect.any(String) }]);
  }
  expect(await queuedJobs()).toBe(before);
});

test('an unknown run: 404 RUN_NOT_FOUND', async () => {
  const res = await api().get('/v1/admin/reconcile/runs/987654321').set(admin);
  expectProblem(res, 404, 'RUN_NOT_FOUND');
  expect(res.body.detail).toContain('987654321');
});

test('only the admin scope: a read key gets 403, no key 401, and neither queues a run', async () => {
  const before = await queuedJobs();
  for (const secret of [secrets.reader, secrets.clerk]) {
    expectProblem(await api().get('/v1/admin/reconcile/runs').set(as(secret)), 403, 'FORBIDDEN');
    expectProblem(await api().get('/v1/admin/reconcile/runs/1').set(as(secret)), 403, 'FORBIDDEN');
    expectProblem(await api().post('/v1/admin/reconcile/lag').set(as(secret)).send({}), 403, 'FORBIDDEN');
  }
  expectProblem(await api().get('/v1/admin/reconcile/runs'), 401, 'UNAUTHORIZED');
  expectProblem(await api().post('/v1/admin/reconcile/lag').send({}), 401, 'UNAUTHORIZED');
  expect(await queuedJobs()).toBe(before);
});

describe('with Redis unreachable', () => {
  it('a run asked for is refused with 503 RECONCILER_UNAVAILABLE after a bounded wait', async () => {
    const deadRedis = `redis://127.0.0.1:${await freePort()}`;
    const jobs = new JobQueues(deadRedis, loadConfig({ JOBS_PREFIX: prefix }).reconcile, testLogger);
    const harness = await startApi({ jobs });
    try {
      const started = Date.now();
      const res = await request(harness.app).post('/v1/admin/reconcile/lag').send({});
      expectProblem(res, 503, 'RECONCILER_UNAVAILABLE');
      expect(res.headers['retry-after']).toBe(String(triggerTimeoutMs / 1000));
      expect(Date.now() - started).toBeLessThan(triggerTimeoutMs + 3_000);
    } finally {
      await jobs.close();
      await harness.close();
    }
  });
});
