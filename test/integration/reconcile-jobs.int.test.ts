/**
 * The reconciliation jobs (src/jobs) run directly, as `ledger reconcile` runs them, on a
 * real ledger: each is shown to find what it is for (a corrupted read model, a broken
 * conservation, a transfer left stuck by a crash, a hold past its expiry, a subscriber
 * behind) and, where it repairs, to repair it exactly once.
 */
import { randomUUID } from 'node:crypto';
import { run as ledgerCli } from '../../src/cli/ledger';
import { openAccount } from '../../src/commands/account-commands';
import { toEventToAppend } from '../../src/commands/aggregates';
import { transferProcessName } from '../../src/commands/transfer-process';
import { loadConfig } from '../../src/config';
import { saveCheckpoint } from '../../src/db/checkpoints';
import { accountStream } from '../../src/domain/streams';
import { ANY } from '../../src/eventstore/port';
import { createJobContext, type JobContext, type RunOptions } from '../../src/jobs/context';
import { conservationAlarm, holdsExpiring, lagAlarm } from '../../src/jobs/metrics';
import { runReconcileJob } from '../../src/jobs/run-job';
import { findRun } from '../../src/jobs/runs';
import type { ReconcileJobName } from '../../src/jobs/settings';
import { createTestDatabase } from '../support/database';
import { createTestLedger, testLogger, type TestLedger } from '../support/ledger';
import { eventually, startReadSide, syncReadSide } from '../support/projections';
import { startServiceProcess } from '../support/service-process';
import { withoutMultiStreamAppend } from '../support/single-stream-store';

jest.setTimeout(60_000);

function contextFor(ledger: TestLedger, env: Record<string, string> = {}): JobContext {
  return createJobContext({
    store: ledger.store,
    pool: ledger.db.pool,
    settings: loadConfig(env).reconcile,
    bridge: false,
    logger: testLogger,
    clock: () => ledger.clock.now,
  });
}

async function runJob(ctx: JobContext, job: ReconcileJobName, options: RunOptions = {}) {
  return runReconcileJob(ctx, job, { allAccounts: true, ...options }, { trigger: 'cli' });
}

interface Sampled {
  get(): Promise<{ values: { labels: Record<string, string | number | undefined>; value: number }[] }>;
}

async function gauge(metric: Sampled, labels: Record<string, string>): Promise<number | undefined> {
  const { values } = await metric.get();
  return values.find((v) => Object.entries(labels).every(([k, x]) => v.labels[k] === x))?.value;
}

async function countEvents(ledger: TestLedger, type: string, transferId: string): Promise<number> {
  const { rows } = await ledger.db.pool.query<{ n: string }>(
    `select count(*) as n from ledger_events where type = $1 and data ->> 'transferId' = $2`,
    [type, transferId],
  );
  return Number(rows[0].n);
}

async function transfer(ledger: TestLedger, source: string, destination: string, amountMinor: bigint): Promise<string> {
  const t = await ledger.transfers.requestTransfer({
    sourceAccount: source,
    destinationAccount: destination,
    amountMinor,
  });
  await ledger.waitForTerminal([t.transferId]);
  return t.transferId;
}

/** A pending transfer to rc-b, once it is HELD. */
async function holdPending(ledger: TestLedger, source: string, amountMinor: bigint, timeoutSeconds: number) {
  const t = await ledger.transfers.requestTransfer({
    sourceAccount: source,
    destinationAccount: 'rc-b',
    amountMinor,
    mode: 'pending',
    timeoutSeconds,
  });
  await ledger.waitForStatus(t.transferId, 'HELD');
  return t;
}

describe('reconciliation jobs on a running ledger', () => {
  let ledger: TestLedger;
  let readSide: { stop(): Promise<void> };
  let ctx: JobContext;

  beforeAll(async () => {
    ledger = await createTestLedger();
    ledger.startProcess();
    readSide = startReadSide(ledger);
    ctx = contextFor(ledger, { RECONCILE_EXPIRY_GRACE_SECONDS: '0' });
    await ledger.open('rc-a');
    await ledger.open('rc-b');
    await ledger.fund('rc-a', 1_000n);
    await transfer(ledger, 'rc-a', 'rc-b', 300n);
    await syncReadSide(ledger);
  });

  afterAll(async () => {
    await readSide.stop();
    await ledger.close();
  });

  it('verify-balances: a correct ledger has no problems, and the run is recorded', async () => {
    const { id, report } = await runJob(ctx, 'verify-balances');
    expect(report.problemsTotal).toBe(0);
    expect(report.counts.accounts).toBe(3);
    expect(await findRun(ledger.db.pool, id)).toMatchObject({ job: 'verify-balances', outcome: 'ok', trigger: 'cli' });
  });

  it('verify-balances: finds a corrupted balance, naming the account and both balances, and repairs it once', async () => {
    await ledger.db.pool.query(`update rm_accounts set posted = posted + 100 where id = 'rc-a'`);
    const found = await runJob(ctx, 'verify-balances');
    expect(found.report.problems).toEqual([
      expect.objectContaining({
        kind: 'balance-mismatch',
        subject: 'rc-a',
        message: expect.stringMatching(/read model posted 800 held 0, events posted 700 held 0/),
      }),
    ]);
    expect(await findRun(ledger.db.pool, found.id)).toMatchObject({ outcome: 'problems', problemsTotal: 1 });

    const repaired = await runJob(ctx, 'verify-balances', { repair: true });
    expect(repaired.report.problems).toEqual([expect.objectContaining({ subject: 'rc-a', repaired: true })]);
    const { rows } = await ledger.db.pool.query(`select posted::text from rm_accounts where id = 'rc-a'`);
    expect(rows[0].posted).toBe('700');
    expect((await runJob(ctx, 'verify-balances')).report.problemsTotal).toBe(0);
  });

  it('verify-balances: finds a statement missing its last entry, and repairs it', async () => {
    await ledger.db.pool.query(
      `delete from rm_account_entries where account_id = 'rc-b'
          and position = (select max(position) from rm_account_entries where account_id = 'rc-b')`,
    );
    const found = await runJob(ctx, 'verify-balances', { repair: true });
    expect(found.report.problems).toEqual([
      expect.objectContaining({ kind: 'statement-mismatch', subject: 'rc-b', repaired: true }),
    ]);
    expect((await runJob(ctx, 'verify-balances')).report.problemsTotal).toBe(0);
  });

  it('conservation: the alarm fires on a broken read model and clears after the repair', async () => {
    // A pending transfer holds money: held on the account equals the HELD transfer's amount.
    const pending = await holdPending(ledger, 'rc-a', 50n, 3_600);
    await syncReadSide(ledger);
    expect((await runJob(ctx, 'conservation')).report.problemsTotal).toBe(0);
    expect(await gauge(conservationAlarm, { currency: 'USD', check: 'posted', source: 'read-models' })).toBe(0);

    await ledger.db.pool.query(`update rm_accounts set posted = posted - 25, held = held + 5 where id = 'rc-b'`);
    const broken = await runJob(ctx, 'conservation');
    expect(broken.report.problems.map((p) => [p.kind, p.subject, p.details?.check, p.details?.difference])).toEqual([
      ['conservation', 'USD', 'posted', '-25'],
      ['conservation', 'USD', 'held', '5'],
    ]);
    expect(await gauge(conservationAlarm, { currency: 'USD', check: 'posted', source: 'read-models' })).toBe(1);
    expect(await gauge(conservationAlarm, { currency: 'USD', check: 'held', source: 'read-models' })).toBe(1);

    await runJob(ctx, 'verify-balances', { repair: true });
    expect((await runJob(ctx, 'conservation')).report.problemsTotal).toBe(0);
    expect(await gauge(conservationAlarm, { currency: 'USD', check: 'posted', source: 'read-models' })).toBe(0);
    expect(await gauge(conservationAlarm, { currency: 'USD', check: 'held', source: 'read-models' })).toBe(0);
    // The event store itself was never wrong.
    const fromEvents = await runJob(ctx, 'conservation', { fromEvents: true });
    expect(fromEvents.report.problemsTotal).toBe(0);
    await ledger.transfers.voidTransfer(pending.transferId);
    await ledger.waitForStatus(pending.transferId, 'CANCELLED');
  });

  it('expire-holds: the backstop expires a pending transfer left held past its expiry, once', async () => {
    const pending = await holdPending(ledger, 'rc-a', 40n, 60);
    await syncReadSide(ledger);
    expect((await runJob(ctx, 'expire-holds')).report.counts.expired).toBe(0);

    ledger.clock.now = new Date(ledger.clock.now.getTime() + 61_000);
    try {
      const swept = await runJob(ctx, 'expire-holds');
      expect(swept.report.problems).toEqual([
        expect.objectContaining({ kind: 'orphaned-hold', subject: pending.transferId, repaired: true }),
      ]);
      const done = await ledger.waitForStatus(pending.transferId, 'CANCELLED');
      expect(done.reason).toBe('EXPIRED');
      await syncReadSide(ledger);
      expect((await runJob(ctx, 'expire-holds')).report.problemsTotal).toBe(0);
      expect(await countEvents(ledger, 'HoldReleased', pending.transferId)).toBe(1);
    } finally {
      ledger.clock.now = new Date();
    }
  });

  it('expiring-holds: counts holds about to expire by source account', async () => {
    await ledger.open('rc-c');
    await ledger.fund('rc-c', 100n);
    const ids: string[] = [];
    for (const [source, amount] of [
      ['rc-a', 10n],
      ['rc-a', 20n],
      ['rc-c', 30n],
    ] as const) {
      ids.push((await holdPending(ledger, source, amount, 60)).transferId);
    }
    await syncReadSide(ledger);
    const soon = await runJob(contextFor(ledger, { RECONCILE_EXPIRING_WITHIN_SECONDS: '120' }), 'expiring-holds');
    expect(soon.report.counts).toMatchObject({ holds: 3, accounts: 2 });
    expect(soon.report.counts['account rc-a']).toMatch(/^2 holds, 30 USD/);
    expect(await gauge(holdsExpiring, { account: 'rc-a' })).toBe(2);
    const later = await runJob(contextFor(ledger, { RECONCILE_EXPIRING_WITHIN_SECONDS: '30' }), 'expiring-holds');
    expect(later.report.counts).toMatchObject({ holds: 0, accounts: 0 });
    expect(await gauge(holdsExpiring, { account: 'rc-a' })).toBeUndefined();
    for (const id of ids) await ledger.transfers.voidTransfer(id);
    await ledger.waitForTerminal(ids);
  });

  it('lag: a projection behind more than the limit raises its alarm, which clears once it catches up', async () => {
    const strict = contextFor(ledger, { RECONCILE_LAG_MAX_SECONDS: '1' });
    await syncReadSide(ledger);
    expect((await runJob(strict, 'lag')).report.problemsTotal).toBe(0);
    await readSide.stop();
    try {
      await ledger.open(`rc-lag-${randomUUID()}`);
      await new Promise((resolve) => setTimeout(resolve, 1_500)); // the unprojected event ages past the limit
      const behind = await runJob(strict, 'lag');
      expect(behind.report.problems.map((p) => p.subject).sort()).toEqual([
        'projection:accounts',
        'projection:transfers',
      ]);
      expect(await gauge(lagAlarm, { subscriber: 'projection:accounts' })).toBe(1);
    } finally {
      readSide = startReadSide(ledger);
    }
    await syncReadSide(ledger);
    expect((await runJob(strict, 'lag')).report.problemsTotal).toBe(0);
    expect(await gauge(lagAlarm, { subscriber: 'projection:accounts' })).toBe(0);
  });

  describe('ledger reconcile', () => {
    let out: string[];
    let spy: jest.SpyInstance;
    const env = process.env;

    beforeEach(() => {
      out = [];
      spy = jest.spyOn(process.stdout, 'write').mockImplementation((chunk) => {
        out.push(String(chunk));
        return true;
      });
      process.env = { ...env, DATABASE_URL: ledger.db.url, LOG_LEVEL: 'silent' };
    });

    afterEach(() => {
      spy.mockRestore();
      process.env = env;
    });

    it('prints the report and exits 0 when a job finds nothing, 1 when it finds problems', async () => {
      expect(await ledgerCli(['reconcile', 'conservation'])).toBe(0);
      expect(out.join('')).toMatch(/^conservation: ok \(run \d+, /m);
      await ledger.db.pool.query(`update rm_accounts set held = held + 7 where id = 'rc-a'`);
      out = [];
      expect(await ledgerCli(['reconcile', 'verify-balances', '--repair'])).toBe(1);
      expect(out.join('')).toMatch(/PROBLEM balance-mismatch rc-a: .*held 7, events .*held 0 \(repaired\)/);
      expect(await ledgerCli(['reconcile', 'all'])).toBe(0);
    });

    it('refuses an unknown job or flag with exit code 2, running nothing', async () => {
      const errors = jest.spyOn(process.stderr, 'write').mockImplementation(() => true);
      try {
        expect(await ledgerCli(['reconcile', 'everything'])).toBe(2);
        expect(await ledgerCli(['reconcile', 'lag', '--fix'])).toBe(2);
        expect(await ledgerCli(['reconcile'])).toBe(2);
        expect(String(errors.mock.calls[0][0])).toMatch(/unknown job "everything"/);
      } finally {
        errors.mockRestore();
      }
    });
  });
});

describe('resume-stuck', () => {
  it('completes a transfer left stuck by a crash, exactly once, while the live process runs', async () => {
    const ledger = await createTestLedger({ store: withoutMultiStreamAppend });
    const readSide = startReadSide(ledger);
    try {
      await ledger.open('st-a');
      await ledger.open('st-b');
      ledger.startProcess();
      await ledger.fund('st-a', 500n);
      await ledger.stopProcesses();

      // A process that dies after the hold: FundsHeld is written, the transfer stream never hears of it.
      const stuck = await ledger.transfers.requestTransfer({
        sourceAccount: 'st-a',
        destinationAccount: 'st-b',
        amountMinor: 120n,
      });
      let crashed = false;
      const dying = ledger.startProcess({
        restartOnError: false,
        faults: {
          check(point) {
            if (point === 'after-hold' && !crashed) {
              crashed = true;
              throw new Error('injected crash after the hold');
            }
          },
        },
      });
      await expect(dying.done).rejects.toThrow('injected crash');
      expect(await countEvents(ledger, 'FundsHeld', stuck.transferId)).toBe(1);
      // ...and its work is lost while its checkpoint moved on (the live process will never see it).
      await saveCheckpoint(ledger.db.pool, transferProcessName, await ledger.store.headPosition());
      await ledger.stopProcesses();
      ledger.startProcess();
      await syncReadSide(ledger);

      const ctx = contextFor(ledger, { RECONCILE_STUCK_AFTER_SECONDS: '1' });
      ledger.clock.now = new Date(Date.now() + 2_000);
      // Live traffic meanwhile, from the same account.
      const live = Promise.all(
        [1n, 2n, 3n].map((n) =>
          ledger.transfers.requestTransfer({ sourceAccount: 'st-a', destinationAccount: 'st-b', amountMinor: n }),
        ),
      );
      const resumed = await runJob(ctx, 'resume-stuck');
      expect(resumed.report.problems).toEqual([
        expect.objectContaining({ kind: 'stuck-transfer', subject: stuck.transferId, repaired: true }),
      ]);
      expect((await ledger.waitForStatus(stuck.transferId, 'COMMITTED')).status).toBe('COMMITTED');
      const others = await live;
      await ledger.waitForTerminal(others.map((t) => t.transferId));
      for (const type of ['FundsHeld', 'FundsCredited', 'FundsDebited'])
        expect(await countEvents(ledger, type, stuck.transferId)).toBe(1);
      expect(await ledger.available('st-a')).toBe(500n - 120n - 6n);
      await syncReadSide(ledger);
      expect((await runJob(ctx, 'resume-stuck')).report.problemsTotal).toBe(0);
      expect((await runJob(ctx, 'verify-balances')).report.problemsTotal).toBe(0);
    } finally {
      await readSide.stop();
      await ledger.close();
    }
  });
});

describe('conservation from the events', () => {
  it('names a hold that no transfer accounts for', async () => {
    const ledger = await createTestLedger();
    try {
      await openAccount(ledger.store, {
        accountId: 'ce-a',
        currency: 'EUR',
        overdraft: { kind: 'unlimited' },
        now: new Date(),
      });
      const ctx = contextFor(ledger);
      expect((await runJob(ctx, 'conservation', { fromEvents: true })).report.problemsTotal).toBe(0);
      const ghost = await ledger.store.append(
        accountStream('ce-a'),
        [
          toEventToAppend({
            id: randomUUID(),
            event: {
              type: 'FundsHeld',
              data: { accountId: 'ce-a', transferId: 'ghost', amountMinor: 9n, at: new Date() },
            },
            correlationId: 'ghost',
          }),
        ],
        ANY,
      );
      // The pass reads up to the head subscribers can see: the ghost hold must be in it.
      await eventually(
        async () => ((await ledger.store.headPosition()) >= ghost.position ? true : undefined),
        'the ghost hold readable',
      );
      const found = await runJob(ctx, 'conservation', { fromEvents: true });
      expect(found.report.problems.map((p) => [p.kind, p.subject])).toEqual([
        ['hold-mismatch', 'ghost'],
        ['conservation', 'EUR'],
      ]);
      expect(await gauge(conservationAlarm, { currency: 'EUR', check: 'held', source: 'events' })).toBe(1);
    } finally {
      await ledger.close();
    }
  });
});

describe('configuration', () => {
  it.each([
    ['RECONCILE_LAG_EVERY', '0s', /RECONCILE_LAG_EVERY: an interval must be 1s to 7d, not 0s/],
    ['RECONCILE_VERIFY_BALANCES_EVERY', '0 25 * * *', /RECONCILE_VERIFY_BALANCES_EVERY: malformed cron pattern/],
  ])('the service refuses to start with %s=%s, saying why', async (name, value, message) => {
    const db = await createTestDatabase();
    try {
      await expect(startServiceProcess({ DATABASE_URL: db.url, [name]: value })).rejects.toThrow(message);
    } finally {
      await db.drop();
    }
  });
});
