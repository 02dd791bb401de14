/** One run of a reconciliation job, recorded (runs.ts), measured (metrics.ts) and logged. */
import { conservation } from './conservation';
import type { JobContext, RunOptions } from './context';
import { expireHolds } from './expire-holds';
import { expiringHolds } from './expiring-holds';
import { lagWatch } from './lag';
import { observeRun } from './metrics';
import type { JobReport } from './report';
import { resumeStuck } from './resume-stuck';
import { recordRunEnd, recordRunStart, type RunTrigger } from './runs';
import type { ReconcileJobName } from './settings';
import { verifyBalances } from './verify-balances';

const jobs: Record<ReconcileJobName, (ctx: JobContext, options: RunOptions) => Promise<JobReport>> = {
  'expire-holds': expireHolds,
  'resume-stuck': resumeStuck,
  'verify-balances': verifyBalances,
  conservation,
  lag: lagWatch,
  'expiring-holds': expiringHolds,
};

export interface FinishedRun {
  /** The run's id in ledger_reconcile_runs. */
  id: string;
  report: JobReport;
}

/** Runs `job` once; a job that throws is recorded as failed, and the error rethrown (BullMQ retries it). */
export async function runReconcileJob(
  ctx: JobContext,
  job: ReconcileJobName,
  options: RunOptions,
  run: { trigger: RunTrigger; queueJobId?: string },
): Promise<FinishedRun> {
  const log = ctx.logger.child({ job, trigger: run.trigger, queueJobId: run.queueJobId });
  const id = await recordRunStart(ctx.pool, { job, ...run });
  const started = performance.now();
  const seconds = () => (performance.now() - started) / 1000;
  let report: JobReport;
  try {
    report = await jobs[job](ctx, options);
  } catch (err) {
    observeRun(job, 'failed', seconds());
    log.error({ err, run: id }, 'reconciliation run failed');
    await recordRunEnd(ctx.pool, id, { error: err as Error });
    throw err;
  }
  await recordRunEnd(ctx.pool, id, { report });
  const outcome = report.problemsTotal > 0 ? 'problems' : 'ok';
  observeRun(job, outcome, seconds(), report);
  const fields = { run: id, seconds: seconds(), counts: report.counts, problems: report.problemsTotal };
  if (outcome === 'problems')
    log.warn({ ...fields, first: report.problems.slice(0, 5) }, 'reconciliation found problems');
  else log.info(fields, 'reconciliation run finished');
  return { id, report };
}
