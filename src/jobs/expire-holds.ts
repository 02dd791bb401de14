/**
 * Hold expiry. Each pending transfer gets a delayed job at its expiry (expiry-scheduler.ts);
 * `expireOne` is that job. The backstop sweep (`expireHolds`) finds pending transfers still
 * HELD past their expiry plus a grace, whose job was lost (Redis lost it, or it gave up),
 * and expires them. Either way expiry is a decision appended with an expected revision
 * (TransferCommands.expireTransfer) and the hold is released by the transfer process: once.
 */
import type { JobContext } from './context';
import { Findings, type JobReport } from './report';

/** Transfers read per page of the sweep, and expired per run at most (the next run goes on). */
const sweepPageSize = 500;
const maxExpiredPerRun = 20_000;

export type ExpiryResult = 'expired' | 'finished' | 'retry';

/**
 * Expires one transfer when it is due. `retry` when it is not expirable yet but may become
 * so: still REQUESTED (the transfer process has not held it), or not due by this clock.
 */
export async function expireOne(ctx: JobContext, transferId: string): Promise<ExpiryResult> {
  const result = await ctx.transfers.expireTransfer(transferId);
  if (!result.replayed) return 'expired';
  const { state } = result;
  if (state.status === 'REQUESTED') return 'retry';
  const expiresAt = state.request?.expiresAt;
  if (state.status === 'HELD' && state.decision === null && expiresAt && expiresAt > ctx.clock()) return 'retry';
  return 'finished';
}

interface DueRow {
  id: string;
  source_account: string;
  amount: string;
  currency: string;
  expires_at: Date;
}

export async function expireHolds(ctx: JobContext): Promise<JobReport> {
  const findings = new Findings(['due', 'expired']);
  const dueBefore = new Date(ctx.clock().getTime() - ctx.settings.expiryGraceMs);
  let after: { expiresAt: Date; id: string } | undefined;
  for (let seen = 0; seen < maxExpiredPerRun;) {
    const { rows } = await ctx.pool.query<DueRow>(
      `select id, source_account, amount::text, currency, expires_at from rm_transfers
        where status = 'HELD' and expires_at is not null and expires_at <= $1
          and ($2::timestamptz is null or (expires_at, id) > ($2, $3))
        order by expires_at, id limit $4`,
      [dueBefore, after?.expiresAt ?? null, after?.id ?? null, sweepPageSize],
    );
    if (rows.length === 0) break;
    for (const row of rows) {
      seen++;
      findings.count('due');
      const result = await expireOne(ctx, row.id);
      if (result !== 'expired') continue;
      findings.count('expired');
      findings.problem({
        kind: 'orphaned-hold',
        subject: row.id,
        message: `pending transfer ${row.id} was still held ${Math.round((ctx.clock().getTime() - row.expires_at.getTime()) / 1000)} s after its expiry: expired now`,
        details: {
          sourceAccount: row.source_account,
          amount: row.amount,
          currency: row.currency,
          expiresAt: row.expires_at.toISOString(),
        },
        repaired: true,
      });
    }
    const last = rows[rows.length - 1];
    after = { expiresAt: last.expires_at, id: last.id };
  }
  return findings.report();
}
