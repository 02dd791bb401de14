/**
 * Holds about to expire: pending transfers still HELD whose expiry falls within
 * RECONCILE_EXPIRING_WITHIN_SECONDS, counted by source account with the age of the oldest,
 * for operators who warn card-programme clients before the money is released. Reported as
 * counts and metrics, not as problems: a hold expiring is the ledger working as asked.
 */
import type { JobContext } from './context';
import { holdsExpiring, holdsExpiringOldest } from './metrics';
import { Findings, type JobReport } from './report';

/** Accounts listed (in the report and as metric series), those with most first; the rest as one. */
export const maxListedAccounts = 20;
const otherAccounts = '_other';

interface Row {
  account: string;
  holds: string;
  amount: string;
  currency: string;
  oldest: Date;
  soonest: Date;
}

export async function expiringHolds(ctx: JobContext): Promise<JobReport> {
  const findings = new Findings();
  const now = ctx.clock();
  const until = new Date(now.getTime() + ctx.settings.expiringWithinMs);
  const { rows } = await ctx.pool.query<Row>(
    `select source_account as account, count(*)::text as holds, sum(amount)::text as amount, min(currency) as currency,
            min(created_at) as oldest, min(expires_at) as soonest
       from rm_transfers where status = 'HELD' and expires_at is not null and expires_at <= $1
      group by source_account order by count(*) desc, source_account limit $2`,
    [until, maxListedAccounts + 1],
  );
  const { rows: totals } = await ctx.pool.query<{ holds: string; accounts: string; oldest: Date | null }>(
    `select count(*)::text as holds, count(distinct source_account)::text as accounts, min(created_at) as oldest
       from rm_transfers where status = 'HELD' and expires_at is not null and expires_at <= $1`,
    [until],
  );
  const age = (d: Date) => Math.max(0, (now.getTime() - d.getTime()) / 1000);
  holdsExpiring.reset();
  holdsExpiringOldest.reset();
  const listed = rows.slice(0, maxListedAccounts);
  for (const r of listed) {
    holdsExpiring.set({ account: r.account }, Number(r.holds));
    holdsExpiringOldest.set({ account: r.account }, age(r.oldest));
    findings.set(
      `account ${r.account}`,
      `${r.holds} holds, ${r.amount} ${r.currency}, oldest since ${r.oldest.toISOString()}, first expiry ${r.soonest.toISOString()}`,
    );
  }
  const total = totals[0];
  const rest = Number(total.holds) - listed.reduce((n, r) => n + Number(r.holds), 0);
  if (rest > 0) holdsExpiring.set({ account: otherAccounts }, rest);
  findings.set('holds', Number(total.holds));
  findings.set('accounts', Number(total.accounts));
  findings.set('withinSeconds', ctx.settings.expiringWithinMs / 1000);
  if (total.oldest !== null) findings.set('oldest', total.oldest.toISOString());
  return findings.report();
}
