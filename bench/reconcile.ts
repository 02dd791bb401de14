/**
 * npm run bench:reconcile — how long balance verification (the reconciler's verify-balances
 * job, as `ledger reconcile verify-balances` runs it) takes over every account of a big ledger on
 * this machine. A benchmark, not a test: it prints figures and checks them against the
 * issue's target, every account of a ledger of at least 1,000,000 events verified in 60 s.
 *
 * A scratch database is filled (bench/ledger-fill.ts) with BENCH_EVENTS (default 1,000,000)
 * ledger events: BENCH_ACCOUNTS (10,000) accounts and a funding account, and the transfers
 * between them, by one writer (so, as in the service, every stream's positions rise with
 * its revisions, which the verification relies on). The accounts projection is rebuilt over
 * them (replayProjection, as `ledger replay accounts` does), so the read models the
 * verification compares with are up to date.
 * Then verifyBalances runs over every account, timed: each account's stream read and folded
 * again by the domain's evolveAccount and compared with its rm_accounts row and its last
 * rm_account_entries entry. Printed: accounts and account events per second, the wall time,
 * the CPU this process (reads' row decoding, event decoding, folding) and PostgreSQL used,
 * and the problems found, which must be none: the ledger is correct.
 *
 * Then a check that the verification can fail: one account's rm_accounts row is corrupted,
 * a second run with repair must find exactly that account's balance mismatch and re-project
 * it, and a third run must find nothing.
 */
import { performance } from 'node:perf_hooks';
import { loadConfig } from '../src/config';
import { PostgresEventStore } from '../src/eventstore/postgres';
import { createJobContext, type JobContext } from '../src/jobs/context';
import type { JobReport } from '../src/jobs/report';
import { verifyBalances } from '../src/jobs/verify-balances';
import { createLogger } from '../src/logger';
import { accountsProjection } from '../src/projections/accounts';
import { replayProjection } from '../src/projections/replay';
import { accountId, cpuSecondsSince, cpuTicks, envNumber, fmt, isPostgres, report } from './common';
import { describeFill, fillLedger } from './ledger-fill';
import { withScratchDatabase } from './scratch-database';

const targetEvents = envNumber('BENCH_EVENTS', 1_000_000, 1, 100_000_000);
const accountCount = envNumber('BENCH_ACCOUNTS', 10_000, 2, 1_000_000);
/** The target: every account of the ledger verified within this. */
const verifyAllTargetSeconds = 60;
const poolMax = 20;
const progressEveryMs = 5_000;

const seconds = (fromMs: number) => (performance.now() - fromMs) / 1000;

function printProblems(run: JobReport): void {
  for (const p of run.problems) console.log(`  ${p.kind}: ${p.message}${p.repaired ? ' (repaired)' : ''}`);
  if (run.problemsTotal > run.problems.length)
    console.log(`  ... and ${fmt(run.problemsTotal - run.problems.length)} more`);
}

/** verifyBalances over every account, saying how far it has got every few seconds. */
async function verifyAll(ctx: JobContext, repair: boolean): Promise<JobReport> {
  let said = performance.now();
  return verifyBalances(ctx, {
    allAccounts: true,
    repair,
    progress: (done, total) => {
      if (performance.now() - said < progressEveryMs) return;
      said = performance.now();
      console.log(`  ... ${fmt(done)} of ${fmt(total)} accounts`);
    },
  });
}

/** The timed run over a correct ledger. Returns whether it found nothing. */
async function measure(ctx: JobContext): Promise<boolean> {
  const postgresBefore = cpuTicks(isPostgres);
  const cpuBefore = process.cpuUsage();
  const started = performance.now();
  const run = await verifyAll(ctx, false);
  const wallSeconds = seconds(started);
  const cpu = process.cpuUsage(cpuBefore);
  const postgresSeconds = cpuSecondsSince(postgresBefore, isPostgres);
  const cpuMicros = cpu.user + cpu.system;
  const accounts = Number(run.counts.accounts ?? 0);
  const events = Number(run.counts.events ?? 0);

  report('accounts verified', accounts, 'accounts');
  report('account events folded', events, 'events');
  report('verification rate, accounts', accounts / wallSeconds, 'accounts/s');
  report('verification rate, account events folded', events / wallSeconds, 'events/s');
  report(`every account verified, wall time (${wallSeconds.toFixed(1)} s)`, wallSeconds, 's', {
    atMost: verifyAllTargetSeconds,
  });
  report(`this process, CPU while verifying (${(cpuMicros / 1e6).toFixed(1)} s)`, cpuMicros / 1e6, 's');
  report('this process, CPU per account event', cpuMicros / Math.max(1, events), 'µs');
  report(`PostgreSQL, CPU while verifying (${postgresSeconds.toFixed(1)} s)`, postgresSeconds, 's');
  report('problems found (a correct ledger: 0)', run.problemsTotal, 'problems', { atMost: 0 });
  printProblems(run);
  return run.problemsTotal === 0;
}

/** Corrupts one account's balance in the read model: verification must find it, and repair it. */
async function detectsCorruption(ctx: JobContext): Promise<boolean> {
  const corrupted = accountId(Math.floor(accountCount / 2));
  const updated = await ctx.pool.query('update rm_accounts set posted = posted + 1 where id = $1', [corrupted]);
  if (updated.rowCount !== 1) throw new Error(`account ${corrupted} has no rm_accounts row to corrupt`);
  console.log(`\ncorrupted rm_accounts.posted of ${corrupted} (+1)`);

  let started = performance.now();
  const repairing = await verifyAll(ctx, true);
  console.log(`verify-balances --repair over every account: ${seconds(started).toFixed(1)} s`);
  printProblems(repairing);
  const [found] = repairing.problems;
  const detected =
    repairing.problemsTotal === 1 &&
    found.kind === 'balance-mismatch' &&
    found.subject === corrupted &&
    found.repaired === true;
  console.log(
    detected
      ? `  found exactly the balance mismatch of ${corrupted}, and repaired it`
      : `  FAILED: expected exactly one balance-mismatch of ${corrupted}, repaired; found ${fmt(repairing.problemsTotal)}`,
  );

  started = performance.now();
  const after = await verifyAll(ctx, false);
  console.log(`verify-balances again: ${seconds(started).toFixed(1)} s, ${fmt(after.problemsTotal)} problems`);
  printProblems(after);
  if (after.problemsTotal !== 0) console.log(`  FAILED: the repair left problems`);
  return detected && after.problemsTotal === 0;
}

async function main(): Promise<void> {
  let ok = false;
  await withScratchDatabase(async (db) => {
    const pool = db.pool(poolMax);
    const store = new PostgresEventStore(pool);
    console.log(`PostgreSQL: ${db.source}\n`);
    // One writer: each account stream's positions rise with its revisions, as the service writes them.
    const fill = await fillLedger(store, pool, { events: targetEvents, accounts: accountCount, writers: 1 });
    console.log(describeFill(fill));

    const projectStart = performance.now();
    const projected = await replayProjection(store, pool, accountsProjection);
    console.log(
      `projected ${accountsProjection.name} over ${fmt(projected.done)} events in ${seconds(projectStart).toFixed(1)} s\n`,
    );

    const ctx = createJobContext({
      store,
      pool,
      settings: loadConfig({ ...process.env, DATABASE_URL: db.url }).reconcile,
      bridge: false,
      logger: createLogger(process.env.LOG_LEVEL ?? 'warn'),
    });
    const clean = await measure(ctx);
    const detects = await detectsCorruption(ctx);
    ok = clean && detects;
    await store.close();
  });
  if (!ok) process.exit(1);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
