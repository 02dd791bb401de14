/**
 * The reconciler (src/jobs/reconciler.ts) in-process on a test ledger and the run's Redis,
 * as several instances of the service run it: on one database and one BullMQ prefix. Holds
 * of pending transfers expire through per-transfer delayed jobs and are released once; the
 * backstop sweep expires a hold whose job Redis lost, and says so; however many instances
 * start and restart, each schedule has one job scheduler and runs at its own pace; a job whose
 * data is not the ledger's fails for good at once.
 */
import { readWholeStream } from '../../src/commands/aggregates';
import { parseAccountEvent } from '../../src/domain/events';
import { accountStream } from '../../src/domain/streams';
import { type ExpiryJobData, expiryJobId, type JobQueues, type ReconcileJobData } from '../../src/jobs/queues';
import { findRun, recordRunStart } from '../../src/jobs/runs';
import { defaultSchedules, type ScheduleName, scheduleNames, scheduleVariable } from '../../src/jobs/settings';
import type { TestLedger } from '../support/ledger';
import { eventually } from '../support/projections';
import { finishedJob, openReconcilerLedger, type ReconcilerLedger, runsOf } from '../support/reconciler';

jest.setTimeout(120_000);

let env: ReconcilerLedger | undefined;

afterEach(async () => {
  await env?.close();
  env = undefined;
});

/** Per transfer id, how often the account's stream holds its funds, and how often it releases them (and why). */
async function holdsPerTransfer(ledger: TestLedger, accountId: string) {
  const held = new Map<string, number>();
  const released = new Map<string, string[]>();
  for (const recorded of await readWholeStream(ledger.store, accountStream(accountId))) {
    const event = parseAccountEvent(recorded);
    if (event.type === 'FundsHeld') held.set(event.data.transferId, (held.get(event.data.transferId) ?? 0) + 1);
    if (event.type === 'HoldReleased')
      released.set(event.data.transferId, [...(released.get(event.data.transferId) ?? []), event.data.reason]);
  }
  return { held, released };
}

test('two reconcilers: every pending transfer expires through its own delayed job, its hold released once', async () => {
  // Every schedule off, the backstop sweep included: only the per-transfer jobs expire holds.
  env = await openReconcilerLedger();
  const { ledger, transfers, queues } = env;
  const sources = ['exp-src-0', 'exp-src-1', 'exp-src-2', 'exp-src-3', 'exp-src-4'];
  for (const id of sources) {
    await ledger.open(id);
    await ledger.fund(id, 100_000n);
  }
  await ledger.open('exp-dst');
  const before = new Map(await Promise.all(sources.map(async (id) => [id, await ledger.account(id)] as const)));
  env.startReconciler();
  env.startReconciler();

  const transferCount = 30;
  const outcomes = await transfers.requestTransfers(
    Array.from({ length: transferCount }, (_, i) => ({
      transferId: `exp-${i}`,
      sourceAccount: sources[i % sources.length],
      destinationAccount: 'exp-dst',
      amountMinor: BigInt(100 + i),
      mode: 'pending' as const,
      timeoutSeconds: 1 + (i % 2),
    })),
  );
  const expiresAt = new Map<string, Date>();
  for (const outcome of outcomes) {
    if (!outcome.ok) throw outcome.error;
    expiresAt.set(outcome.transfer.transferId, outcome.transfer.state.request!.expiresAt!);
  }
  const ids = [...expiresAt.keys()];

  const done = await ledger.waitForTerminal(ids, 30_000);
  for (const id of ids)
    expect({ id, status: done.get(id)?.status, reason: done.get(id)?.reason }).toEqual({
      id,
      status: 'CANCELLED',
      reason: 'EXPIRED',
    });

  // Each expiry was its own job, under the id derived from the transfer's, delayed to its expiry,
  // and that job recorded the expiry (`expired`, not `finished`: nothing else had).
  for (const id of ids) {
    const job = await finishedJob<ExpiryJobData>(queues.expiry, expiryJobId(id));
    expect({ id, state: await job.getState(), data: job.data, result: job.returnvalue }).toEqual({
      id,
      state: 'completed',
      data: { transferId: id },
      result: { result: 'expired' },
    });
    expect(Math.abs(job.timestamp + job.opts.delay! - expiresAt.get(id)!.getTime())).toBeLessThan(200);
  }

  // Each hold was taken once and released once, for the expiry; the balances are back.
  const held = new Map<string, number>();
  const released = new Map<string, string[]>();
  for (const source of sources) {
    const holds = await holdsPerTransfer(ledger, source);
    holds.held.forEach((n, id) => expiresAt.has(id) && held.set(id, n));
    holds.released.forEach((reasons, id) => released.set(id, reasons));
  }
  expect(Object.fromEntries(held)).toEqual(Object.fromEntries(ids.map((id) => [id, 1])));
  expect(Object.fromEntries(released)).toEqual(Object.fromEntries(ids.map((id) => [id, ['EXPIRED']])));
  for (const source of sources) {
    const after = await ledger.account(source);
    expect({ source, posted: after.postedMinor, held: after.heldMinor }).toEqual({
      source,
      posted: before.get(source)!.postedMinor,
      held: 0n,
    });
  }
  expect((await ledger.account('exp-dst')).postedMinor).toBe(0n);
});

test('a hold whose expiry job Redis lost is expired by the backstop sweep, which reports it as orphaned', async () => {
  env = await openReconcilerLedger({ RECONCILE_EXPIRE_HOLDS_EVERY: '1s', RECONCILE_EXPIRY_GRACE_SECONDS: '1' });
  const { ledger, transfers, queues } = env;
  await ledger.open('lost-src');
  await ledger.fund('lost-src', 5_000n);
  await ledger.open('lost-dst');
  env.startReconciler();

  const transferId = 'lost-1';
  await transfers.requestTransfer({
    transferId,
    sourceAccount: 'lost-src',
    destinationAccount: 'lost-dst',
    amountMinor: 1_200n,
    mode: 'pending',
    timeoutSeconds: 4,
  });
  await ledger.waitForStatus(transferId, 'HELD');
  expect(await ledger.available('lost-src')).toBe(3_800n);
  const jobId = expiryJobId(transferId);
  const job = await eventually(() => queues.expiry.getJob(jobId), `expiry job ${jobId}`);
  expect(await job.getState()).toBe('delayed');
  expect(await queues.expiry.remove(jobId)).toBe(1);

  const cancelled = await ledger.waitForStatus(transferId, 'CANCELLED', 30_000);
  expect(cancelled.reason).toBe('EXPIRED');
  // The job did not come back: the sweep expired the transfer.
  expect(await queues.expiry.getJob(jobId)).toBeUndefined();

  const names = (run: { problems: { subject: string }[] }) => run.problems.some((p) => p.subject === transferId);
  const run = await eventually(
    async () => (await runsOf(ledger.db.pool, { job: 'expire-holds' })).find(names),
    'the expire-holds run that expired the hold',
  );
  expect(run).toMatchObject({ trigger: 'schedule', outcome: 'problems', problemsTotal: 1, counts: { expired: 1 } });
  expect(run.problems).toEqual([
    {
      kind: 'orphaned-hold',
      subject: transferId,
      message: expect.stringContaining(`pending transfer ${transferId} was still held`),
      details: {
        sourceAccount: 'lost-src',
        amount: '1200',
        currency: 'USD',
        expiresAt: cancelled.request!.expiresAt!.toISOString(),
      },
      repaired: true,
    },
  ]);
  // Later sweeps found nothing more to expire, and the hold was released once.
  const later = await eventually(
    async () => (await runsOf(ledger.db.pool, { job: 'expire-holds' })).find((r) => r.startedAt > run.finishedAt!),
    'a later expire-holds run',
  );
  expect(later.problemsTotal).toBe(0);
  expect((await runsOf(ledger.db.pool, { job: 'expire-holds' })).filter(names)).toHaveLength(1);
  expect(Object.fromEntries((await holdsPerTransfer(ledger, 'lost-src')).released)).toEqual({
    [transferId]: ['EXPIRED'],
  });
  expect(await ledger.available('lost-src')).toBe(5_000n);
});

describe('job schedulers', () => {
  /** Schedules as the service defaults them, but lag every second and expiring-holds off. */
  const schedules: Record<string, string> = {
    ...Object.fromEntries(scheduleNames.map((name) => [scheduleVariable(name), defaultSchedules[name]])),
    RECONCILE_LAG_EVERY: '1s',
    RECONCILE_EXPIRING_HOLDS_EVERY: 'off',
  };

  /** What each scheduler's runs are asked to do, as the reconciler must ask it. */
  const template = (name: ScheduleName) =>
    name === 'conservation-events'
      ? { job: 'conservation', trigger: 'schedule', fromEvents: true }
      : { job: name, trigger: 'schedule' };

  async function listSchedulers(queues: JobQueues) {
    const found = await queues.reconcile.getJobSchedulers(0, -1, true);
    return found
      .map((s) => ({ key: s.key, every: s.every, pattern: s.pattern, data: s.template?.data }))
      .sort((a, b) => a.key.localeCompare(b.key));
  }

  async function schedulersInPlace(...reconcilers: { log: { count(msg: string): number } }[]): Promise<void> {
    await eventually(
      async () => reconcilers.every((r) => r.log.count('job schedulers in place') === 1) || undefined,
      'every reconciler to set its job schedulers up',
    );
  }

  test('two instances, then a restart: one scheduler per schedule, and lag runs once a second', async () => {
    env = await openReconcilerLedger(schedules);
    const { ledger, queues, settings } = env;
    // Left by an earlier configuration: a schedule since turned off, and one since changed.
    for (const [name, every] of [
      ['expiring-holds', 60_000],
      ['lag', 300_000],
    ] as const) {
      await queues.reconcile.upsertJobScheduler(name, { every }, { name, data: { job: name, trigger: 'schedule' } });
    }

    const expected = scheduleNames
      .filter((name) => name !== 'expiring-holds')
      .map((name) => {
        const schedule = settings.schedules[name];
        if (schedule === 'off' || !('every' in schedule)) throw new Error(`${name} should run at an interval`);
        return { key: name, every: schedule.every, pattern: undefined, data: template(name) };
      })
      .sort((a, b) => a.key.localeCompare(b.key));
    expect(expected.find((s) => s.key === 'lag')?.every).toBe(1_000);

    const a = env.startReconciler();
    const b = env.startReconciler();
    await schedulersInPlace(a, b);
    expect(await listSchedulers(queues)).toEqual(expected);

    await a.stop();
    const c = env.startReconciler();
    await schedulersInPlace(c);
    expect(await listSchedulers(queues)).toEqual(expected);

    // Two instances take lag's runs from one scheduler: about one a second, not one each.
    const { rows } = await ledger.db.pool.query<{ t0: Date }>('select now() as t0');
    const t0 = rows[0].t0;
    const wantedRuns = 8;
    const pace = await eventually(
      async () => {
        const { rows: counted } = await ledger.db.pool.query<{ runs: number; seconds: number }>(
          `select count(*) filter (where job = 'lag' and started_at > $1)::int as runs,
                  extract(epoch from clock_timestamp() - $1)::float8 as seconds
             from ledger_reconcile_runs`,
          [t0],
        );
        return counted[0].runs >= wantedRuns ? counted[0] : undefined;
      },
      `${wantedRuns} lag runs`,
      30_000,
    );
    expect(pace.runs).toBeLessThanOrEqual(pace.seconds + 2);
    const lagRuns = (await runsOf(ledger.db.pool, { job: 'lag' })).filter((r) => r.startedAt > t0);
    expect(new Set(lagRuns.map((r) => r.trigger))).toEqual(new Set(['schedule']));
    expect(lagRuns.filter((r) => r.outcome === 'failed')).toEqual([]);
  });
});

test("a job whose data is not the ledger's fails at once, without retries, records no run, and closes one left running", async () => {
  env = await openReconcilerLedger({ JOBS_ATTEMPTS: '5', JOBS_BACKOFF_MS: '10' });
  const { ledger, queues } = env;
  env.startReconciler();

  // As if an earlier attempt of the job had started a run and died with its worker.
  const dead = await recordRunStart(ledger.db.pool, { job: 'lag', trigger: 'admin', queueJobId: 'bad-1' });
  const badRun = await queues.reconcile.add('nope', { job: 'nope' } as unknown as ReconcileJobData, {
    jobId: 'bad-1',
  });
  const badExpiry = await queues.expiry.add('expire', { transferId: 42 } as unknown as ExpiryJobData);
  // Taken after the bad one (one at a time, in order): by then the bad one's run, had it had one, is recorded.
  const good = await queues.trigger('lag');

  for (const [queue, id] of [
    [queues.reconcile, badRun.id!],
    [queues.expiry, badExpiry.id!],
  ] as const) {
    const job = await finishedJob(queue, id);
    expect({ state: await job.getState(), attemptsMade: job.attemptsMade }).toEqual({
      state: 'failed',
      attemptsMade: 1,
    });
    expect(job.failedReason).toMatch(/has invalid data/);
  }
  const ran = await finishedJob<ReconcileJobData>(queues.reconcile, good);
  expect(await ran.getState()).toBe('completed');
  const runs = await runsOf(ledger.db.pool);
  expect(runs.map((r) => ({ job: r.job, queueJobId: r.queueJobId }))).toEqual([
    { job: 'lag', queueJobId: 'bad-1' },
    { job: 'lag', queueJobId: good },
  ]);
  // The job failed for good: the run its dead worker left running is closed.
  const closed = await eventually(async () => {
    const run = await findRun(ledger.db.pool, dead);
    return run?.outcome === 'running' ? undefined : run;
  }, 'the dead run closed');
  expect(closed).toMatchObject({ outcome: 'abandoned', error: expect.stringMatching(/has invalid data/) });
});
