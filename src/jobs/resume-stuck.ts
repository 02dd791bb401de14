/**
 * Stuck transfers: in a step that is not an end (REQUESTED, CREDITED, an immediate
 * transfer's HELD, or a pending transfer decided but not settled) for longer than
 * RECONCILE_STUCK_AFTER_SECONDS, although the transfer process has already read past the
 * event that should have moved it. Each is driven on by the transfer process's own decision
 * logic (TransferWorker.resume), safe while the process runs.
 */
import { transferProcessName } from '../commands/transfer-process';
import { loadCheckpoint } from '../db/checkpoints';
import { isTerminalTransferStatus } from '../domain/transfer';
import type { JobContext } from './context';
import { Findings, type JobReport } from './report';

/** Transfers driven on per run at most (a page at a time); the next run takes the rest. */
const pageSize = 200;
const maxPerRun = 5_000;

interface StuckRow {
  id: string;
  status: string;
  mode: string;
  updated_at: Date;
}

export async function resumeStuck(ctx: JobContext): Promise<JobReport> {
  const findings = new Findings(['stuck', 'resumed']);
  const processAt = await loadCheckpoint(ctx.pool, transferProcessName);
  const stuckBefore = new Date(ctx.clock().getTime() - ctx.settings.stuckAfterMs);
  let after = '';
  for (let seen = 0; seen < maxPerRun;) {
    // A pending transfer's last step stays HELD when a commit or void is asked for; the
    // request moves updated_at past that step's time.
    const { rows } = await ctx.pool.query<StuckRow>(
      `select id, status, mode, updated_at from rm_transfers
        where (status in ('REQUESTED', 'CREDITED')
               or (status = 'HELD' and (mode = 'immediate' or updated_at > (steps -> -1 ->> 'at')::timestamptz)))
          and updated_at < $1 and position <= $2 and id > $3
        order by id limit $4`,
      [stuckBefore, processAt.toString(), after, pageSize],
    );
    if (rows.length === 0) break;
    seen += rows.length;
    after = rows[rows.length - 1].id;
    const statuses = await ctx.process.resume(rows.map((r) => r.id));
    for (const row of rows) {
      const { before, after: now } = statuses.get(row.id)!;
      // Ended already: only the read model is behind (the lag watch reports that).
      if (before !== row.status && isTerminalTransferStatus(before)) continue;
      findings.count('stuck');
      const moved = now !== before;
      if (moved) findings.count('resumed');
      findings.problem({
        kind: 'stuck-transfer',
        subject: row.id,
        message: moved
          ? `transfer ${row.id} (${row.mode}) was stuck in ${before} since ${row.updated_at.toISOString()}: now ${now}`
          : `transfer ${row.id} (${row.mode}) is stuck in ${before} since ${row.updated_at.toISOString()} and could not be moved on`,
        details: { status: before, mode: row.mode, since: row.updated_at.toISOString(), now },
        repaired: moved,
      });
    }
  }
  return findings.report();
}
