/**
 * A reconciliation job whose worker dies mid-run, in real service processes on one
 * database (and so one BullMQ prefix): the first instance takes a verify-balances run asked
 * for with repair, and is killed (SIGKILL) while the run is under way; with JOBS_LOCK_SECONDS=2
 * the second instance finds the job stalled and runs it again. The first run is recorded as
 * abandoned, the second finishes, and its one repair is made once.
 *
 * The run is held mid-way by a lock the test takes on rm_accounts (ACCESS EXCLUSIVE, so even
 * verify-balances' first read waits): the kill lands after the run has started, whatever the
 * machine's speed, and the second instance's run waits there too until the test lets it go.
 */
import { testLogger } from '../support/ledger';
import { Client } from 'pg';
import { Redis } from 'ioredis';
import { JobQueues, type ReconcileJobData } from '../../src/jobs/queues';
import { createTestDatabase, type TestDatabase } from '../support/database';
import { eventually } from '../support/projections';
import { finishedJob, runsOf, schedulesOff, testReconcileSettings, testRedisUrl } from '../support/reconciler';
import { deleteKeys } from '../support/redis';
import { type ServiceProcess, startServiceProcess } from '../support/service-process';

jest.setTimeout(180_000);

const accounts = Array.from({ length: 10 }, (_, i) => `rf-${i}`);
const corrupted = 'rf-3';
const fundedMinor = (i: number) => BigInt((i + 1) * 1_000);

let db: TestDatabase;
let env: Record<string, string>;
let queues: JobQueues;
let lock: Client | undefined;
const started: ServiceProcess[] = [];

beforeAll(async () => {
  db = await createTestDatabase(4);
  env = {
    DATABASE_URL: db.url,
    REDIS_URL: testRedisUrl(),
    PG_POOL_MAX: '4',
    RATE_LIMIT_REQUESTS: '0',
    JOBS_LOCK_SECONDS: '2',
    RECONCILE_VERIFY_SLICE: '0',
    ...schedulesOff,
  };
  queues = new JobQueues(testRedisUrl(), testReconcileSettings(db.url, env), testLogger);
});

afterAll(async () => {
  await Promise.all(started.map((p) => p.kill()));
  await lock?.end().catch(() => undefined);
  await queues?.close();
  const redis = new Redis(testRedisUrl());
  await deleteKeys(redis, queues.settings.prefix).finally(() => redis.disconnect());
  await db?.drop();
});

async function start(): Promise<ServiceProcess> {
  const service = await startServiceProcess(env);
  started.push(service);
  return service;
}

async function call(url: string, method: string, path: string, body?: unknown, headers: Record<string, string> = {}) {
  const res = await fetch(`${url}${path}`, {
    method,
    headers: { ...(body !== undefined && { 'content-type': 'application/json' }), ...headers },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

async function postedInReadModel(accountId: string): Promise<bigint | undefined> {
  const { rows } = await db.pool.query<{ posted: string }>('select posted::text from rm_accounts where id = $1', [
    accountId,
  ]);
  return rows.length === 0 ? undefined : BigInt(rows[0].posted);
}

test('a verify-balances run whose worker is killed is run again by the other instance, its repair made once', async () => {
  const first = await start();

  // A small ledger, through the API, projected; then one account's row made wrong.
  expect(
    (await call(first.url, 'POST', '/v1/accounts', { id: 'rf-bank', currency: 'EUR', overdraft: 'unlimited' })).status,
  ).toBe(201);
  for (const [i, id] of accounts.entries()) {
    expect((await call(first.url, 'POST', '/v1/accounts', { id, currency: 'EUR' })).status).toBe(201);
    const funded = await call(
      first.url,
      'POST',
      '/v1/transfers',
      { sourceAccount: 'rf-bank', destinationAccount: id, amount: (Number(fundedMinor(i)) / 100).toFixed(2) },
      { Prefer: 'wait=20' },
    );
    expect({ status: funded.status, transfer: funded.body.status }).toEqual({ status: 201, transfer: 'COMMITTED' });
  }
  for (const [i, id] of accounts.entries()) {
    await eventually(
      async () => ((await postedInReadModel(id)) === fundedMinor(i) ? true : undefined),
      `${id} projected`,
      20_000,
    );
  }
  const correct = fundedMinor(accounts.indexOf(corrupted));
  await db.pool.query('update rm_accounts set posted = posted + 100 where id = $1', [corrupted]);

  // The run, asked for on the first instance, starts there and waits on the lock.
  lock = new Client({ connectionString: db.url });
  await lock.connect();
  await lock.query('begin');
  await lock.query('lock table rm_accounts in access exclusive mode');
  const triggered = await call(first.url, 'POST', '/v1/admin/reconcile/verify-balances', { repair: true });
  expect(triggered.status).toBe(202);
  const jobId = triggered.body.queueJobId as string;
  const firstRun = await eventually(
    async () => (await runsOf(db.pool, { queueJobId: jobId }))[0],
    'the first run recorded as started',
  );
  expect(firstRun).toMatchObject({ job: 'verify-balances', trigger: 'admin', outcome: 'running' });
  await eventually(async () => {
    const { rows } = await db.pool.query<{ n: number }>(
      `select count(*)::int as n from pg_stat_activity
          where datname = current_database() and wait_event_type = 'Lock' and query ilike '%rm_accounts%'`,
    );
    return rows[0].n > 0 || undefined;
  }, 'the run waiting on rm_accounts');
  expect(await (await queues.reconcile.getJob(jobId))!.getState()).toBe('active');

  // A second instance, then the first is killed mid-run.
  const second = await start();
  expect(await (await queues.reconcile.getJob(jobId))!.getState()).toBe('active');
  await first.kill();

  // Its lock not renewed, the job is found stalled and taken by the second instance.
  const handedOver = await eventually(
    async () => {
      const runs = await runsOf(db.pool, { queueJobId: jobId });
      return runs.length >= 2 ? runs : undefined;
    },
    'the job run again',
    30_000,
  );
  expect(handedOver.map((r) => ({ id: r.id, outcome: r.outcome }))).toEqual([
    { id: firstRun.id, outcome: 'abandoned' },
    { id: expect.any(String), outcome: 'running' },
  ]);
  await lock.query('rollback');
  await lock.end();
  lock = undefined;

  const job = await finishedJob<ReconcileJobData>(queues.reconcile, jobId);
  expect(await job.getState()).toBe('completed');
  const secondRunId = handedOver[1].id;
  expect(job.returnvalue).toEqual({ run: secondRunId, problems: 1 });
  expect(job.stalledCounter).toBe(1);
  expect(job.data.repair).toBe(true);

  const runs = await runsOf(db.pool, { queueJobId: jobId });
  expect(runs.map((r) => r.outcome)).toEqual(['abandoned', 'problems']);
  expect(runs[0]).toMatchObject({ finishedAt: expect.any(Date), error: expect.stringMatching(/run again/) });
  expect(runs[1]).toMatchObject({ id: secondRunId, problemsTotal: 1, counts: { repaired: 1 } });
  expect(runs[1].problems).toEqual([
    expect.objectContaining({ kind: 'balance-mismatch', subject: corrupted, repaired: true }),
  ]);
  expect(await postedInReadModel(corrupted)).toBe(correct);

  // A later run, on the surviving instance, finds nothing left to put right.
  const again = await call(second.url, 'POST', '/v1/admin/reconcile/verify-balances', {});
  expect(again.status).toBe(202);
  const laterJob = again.body.queueJobId as string;
  expect(await (await finishedJob(queues.reconcile, laterJob)).getState()).toBe('completed');
  expect((await runsOf(db.pool, { queueJobId: laterJob })).map((r) => [r.outcome, r.problemsTotal])).toEqual([
    ['ok', 0],
  ]);
  expect((await runsOf(db.pool, { job: 'verify-balances' })).length).toBe(3);
  await second.stop();
});
