/** The reconciler's metrics: its runs, what they found, and the alarms they raise. */
import { Counter, Gauge, Histogram } from 'prom-client';
import type { JobReport } from './report';
import type { RunOutcome } from './runs';

const runs = new Counter({
  name: 'ledger_reconcile_runs_total',
  help: 'Reconciliation runs finished, by job and outcome (ok, problems: it found some, failed: it could not finish)',
  labelNames: ['job', 'outcome'],
});

const runDuration = new Histogram({
  name: 'ledger_reconcile_run_duration_seconds',
  help: 'How long reconciliation runs took, by job',
  labelNames: ['job'],
  buckets: [0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 900],
});

const problems = new Counter({
  name: 'ledger_reconcile_problems_total',
  help: 'Problems reconciliation runs found, by job and kind',
  labelNames: ['job', 'kind'],
});

const lastSuccess = new Gauge({
  name: 'ledger_reconcile_last_success_timestamp_seconds',
  help: 'When each job last finished a run (with or without problems found), as a Unix time',
  labelNames: ['job'],
});

/** 1 while the last conservation check of a currency found money created or lost; 0 once it is right. */
export const conservationAlarm = new Gauge({
  name: 'ledger_conservation_alarm',
  help: 'Conservation broken (1) or holding (0), by currency and check (posted: balances sum to zero; held: holds equal open pending transfers) and source (read-models, events)',
  labelNames: ['currency', 'check', 'source'],
});

/** 1 while a subscriber is further behind than RECONCILE_LAG_MAX_SECONDS. */
export const lagAlarm = new Gauge({
  name: 'ledger_reconcile_lag_alarm',
  help: 'A subscriber (transfer process, projection, bridge) behind more than RECONCILE_LAG_MAX_SECONDS (1) or not (0)',
  labelNames: ['subscriber'],
});

export const holdsExpiring = new Gauge({
  name: 'ledger_holds_expiring',
  help: 'Holds of pending transfers expiring within RECONCILE_EXPIRING_WITHIN_SECONDS, by source account (the accounts with most; the rest as _other)',
  labelNames: ['account'],
});

export const holdsExpiringOldest = new Gauge({
  name: 'ledger_holds_expiring_oldest_age_seconds',
  help: 'Age of the oldest of those holds, by source account (as ledger_holds_expiring)',
  labelNames: ['account'],
});

export const holdExpiryJobs = new Counter({
  name: 'ledger_hold_expiry_jobs_total',
  help: 'Per-transfer hold expiry jobs run, by result (expired, finished: the transfer had ended or been decided, retry: not held yet)',
  labelNames: ['result'],
});

export function observeRun(job: string, outcome: RunOutcome, seconds: number, report?: JobReport): void {
  runs.inc({ job, outcome });
  runDuration.observe({ job }, seconds);
  if (report === undefined) return;
  lastSuccess.set({ job }, Date.now() / 1000);
  for (const [kind, n] of Object.entries(report.problemsByKind)) problems.inc({ job, kind }, n);
}
