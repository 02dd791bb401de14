/**
 * Runs of reconciliation jobs, kept in PostgreSQL (ledger_reconcile_runs) so every
 * instance, the CLI and the admin routes see the same history.
 */
import type { Pool } from 'pg';
import type { Counts, JobReport, Problem } from './report';

export type RunTrigger = 'schedule' | 'admin' | 'cli';
export type RunOutcome = 'running' | 'ok' | 'problems' | 'failed' | 'abandoned';

export interface RunRecord {
  id: string;
  job: string;
  trigger: RunTrigger;
  /** The BullMQ job that ran it; null for `ledger reconcile`. */
  queueJobId: string | null;
  startedAt: Date;
  finishedAt: Date | null;
  outcome: RunOutcome;
  counts: Counts;
  problems: Problem[];
  problemsTotal: number;
  error: string | null;
}

export const maxListedRuns = 200;
const maxErrorLength = 2_000;

/** Closes the runs of a BullMQ job still marked running: their worker died before they finished. */
export async function abandonRuns(pool: Pool, queueJobId: string, why: string): Promise<void> {
  await pool.query(
    `update ledger_reconcile_runs set outcome = 'abandoned', finished_at = now(), error = $2
      where queue_job_id = $1 and outcome = 'running'`,
    [queueJobId, why.slice(0, maxErrorLength)],
  );
}

/**
 * Records a run's start. An earlier attempt of the same BullMQ job still marked running
 * died with its worker (BullMQ found it stalled and is running it again): it is abandoned.
 */
export async function recordRunStart(
  pool: Pool,
  run: { job: string; trigger: RunTrigger; queueJobId?: string },
): Promise<string> {
  if (run.queueJobId !== undefined) {
    await abandonRuns(pool, run.queueJobId, 'its worker stopped before it finished; the job was run again');
  }
  const { rows } = await pool.query<{ id: string }>(
    `insert into ledger_reconcile_runs (job, trigger, queue_job_id, outcome) values ($1, $2, $3, 'running') returning id`,
    [run.job, run.trigger, run.queueJobId ?? null],
  );
  return rows[0].id;
}

export async function recordRunEnd(
  pool: Pool,
  id: string,
  result: { report: JobReport } | { error: Error },
): Promise<void> {
  if ('error' in result) {
    await pool.query(
      `update ledger_reconcile_runs set outcome = 'failed', finished_at = now(), error = $2 where id = $1`,
      [id, result.error.message.slice(0, maxErrorLength)],
    );
    return;
  }
  const { report } = result;
  await pool.query(
    `update ledger_reconcile_runs
        set outcome = $2, finished_at = now(), counts = $3, problems = $4, problems_total = $5
      where id = $1`,
    [
      id,
      report.problemsTotal > 0 ? 'problems' : 'ok',
      JSON.stringify(report.counts),
      JSON.stringify(report.problems),
      report.problemsTotal,
    ],
  );
}

interface RunRow {
  id: string;
  job: string;
  trigger: RunTrigger;
  queue_job_id: string | null;
  started_at: Date;
  finished_at: Date | null;
  outcome: RunOutcome;
  counts: Counts;
  problems: Problem[];
  problems_total: number;
  error: string | null;
}

function fromRow(r: RunRow): RunRecord {
  return {
    id: r.id,
    job: r.job,
    trigger: r.trigger,
    queueJobId: r.queue_job_id,
    startedAt: r.started_at,
    finishedAt: r.finished_at,
    outcome: r.outcome,
    counts: r.counts,
    problems: r.problems,
    problemsTotal: r.problems_total,
    error: r.error,
  };
}

/** The most recent runs, newest first; of one job when `job` is given. */
export async function listRuns(pool: Pool, options: { job?: string; limit: number }): Promise<RunRecord[]> {
  const limit = Math.min(Math.max(1, options.limit), maxListedRuns);
  const { rows } = await pool.query<RunRow>(
    `select * from ledger_reconcile_runs where ($1::text is null or job = $1)
      order by started_at desc, id desc limit $2`,
    [options.job ?? null, limit],
  );
  return rows.map(fromRow);
}

export async function findRun(pool: Pool, id: string): Promise<RunRecord | undefined> {
  const { rows } = await pool.query<RunRow>('select * from ledger_reconcile_runs where id = $1', [id]);
  return rows.length === 0 ? undefined : fromRow(rows[0]);
}

/** Where a job that covers the ledger in slices goes on from; undefined: from the start. */
export async function loadCursor(pool: Pool, job: string): Promise<string | undefined> {
  const { rows } = await pool.query<{ cursor: string }>('select cursor from ledger_reconcile_cursors where job = $1', [
    job,
  ]);
  return rows[0]?.cursor;
}

export async function saveCursor(pool: Pool, job: string, cursor: string | undefined): Promise<void> {
  if (cursor === undefined) {
    await pool.query('delete from ledger_reconcile_cursors where job = $1', [job]);
    return;
  }
  await pool.query(
    `insert into ledger_reconcile_cursors (job, cursor) values ($1, $2)
     on conflict (job) do update set cursor = excluded.cursor, updated_at = now()`,
    [job, cursor],
  );
}
