/**
 * Balance verification: each account's stream is folded again by the domain's own
 * `evolveAccount` (which checks every invariant on the way), and the result compared with
 * the account's read-model row (posted, held) and with its statement's last `balanceAfter`,
 * all at the revision the row says it reflects, so a projection that is merely behind is
 * not a difference. Scheduled runs cover RECONCILE_VERIFY_SLICE accounts each, going on
 * where the last run stopped; `--repair` (or RECONCILE_REPAIR) re-projects every account
 * found wrong (projections/reproject.ts).
 */
import { type AccountState, evolveAccount, initialAccountState } from '../domain/account';
import { parseAccountEvent } from '../domain/events';
import { accountStream } from '../domain/streams';
import { maxReadCount } from '../eventstore/port';
import { reprojectAccount } from '../projections/reproject';
import type { JobContext, RunOptions } from './context';
import { Findings, type JobReport } from './report';
import { loadCursor, saveCursor } from './runs';

const jobName = 'verify-balances';
/** Accounts read from the read model per query, and folded at once. */
const pageSize = 500;
const parallelFolds = 8;

interface AccountRow {
  id: string;
  posted: string;
  held: string;
  version: string;
  entry_position: string | null;
  entry_balance: string | null;
}

interface Folded {
  state: AccountState;
  /** Revision of the last event folded; -1n when the stream has none up to the row's. */
  revision: bigint;
  events: number;
  /** Posted balance after the last debit or credit, and that event's position. */
  lastEntry: { position: bigint; balance: bigint } | undefined;
}

/** Folds the account's stream up to `revision` (the read model's row reflects it). */
async function foldAccount(ctx: JobContext, accountId: string, revision: bigint): Promise<Folded> {
  let state = initialAccountState();
  let last = -1n;
  let events = 0;
  let lastEntry: Folded['lastEntry'];
  while (last < revision) {
    const wanted = revision - last;
    const page = await ctx.store.readStream(accountStream(accountId), {
      fromRevision: last + 1n,
      maxCount: wanted < BigInt(maxReadCount) ? Number(wanted) : maxReadCount,
    });
    if (page.length === 0) break;
    for (const recorded of page) {
      const event = parseAccountEvent(recorded);
      state = evolveAccount(state, event);
      if (event.type === 'FundsDebited' || event.type === 'FundsCredited')
        lastEntry = { position: recorded.position, balance: state.postedMinor };
    }
    events += page.length;
    last = page[page.length - 1].revision;
  }
  return { state, revision: last, events, lastEntry };
}

/** Compares one account; returns whether it is wrong. */
async function verifyAccount(ctx: JobContext, row: AccountRow, findings: Findings): Promise<boolean> {
  const version = BigInt(row.version);
  let folded: Folded;
  try {
    folded = await foldAccount(ctx, row.id, version);
  } catch (err) {
    findings.problem({
      kind: 'invalid-events',
      subject: row.id,
      message: `account ${row.id}: its events cannot be folded: ${(err as Error).message}`,
    });
    return false;
  }
  findings.count('events', folded.events);
  const readModel = { posted: BigInt(row.posted), held: BigInt(row.held) };
  const events = { posted: folded.state.postedMinor, held: folded.state.heldMinor };
  let wrong = false;
  if (folded.revision < version) {
    wrong = true;
    findings.problem({
      kind: 'read-model-ahead',
      subject: row.id,
      message: `account ${row.id}: the read model reflects revision ${version}, the stream ends at ${folded.revision}`,
      details: { readModelVersion: row.version, streamRevision: folded.revision.toString() },
    });
  } else if (readModel.posted !== events.posted || readModel.held !== events.held) {
    wrong = true;
    findings.problem({
      kind: 'balance-mismatch',
      subject: row.id,
      message:
        `account ${row.id} at revision ${version}: read model posted ${readModel.posted} held ${readModel.held}, ` +
        `events posted ${events.posted} held ${events.held}`,
      details: {
        revision: row.version,
        readModelPosted: readModel.posted.toString(),
        readModelHeld: readModel.held.toString(),
        eventsPosted: events.posted.toString(),
        eventsHeld: events.held.toString(),
      },
    });
  }
  const entry = row.entry_position === null ? undefined : { position: row.entry_position, balance: row.entry_balance };
  const expected = folded.lastEntry && {
    position: folded.lastEntry.position.toString(),
    balance: folded.lastEntry.balance.toString(),
  };
  if (entry?.position !== expected?.position || entry?.balance !== expected?.balance) {
    wrong = true;
    findings.problem({
      kind: 'statement-mismatch',
      subject: row.id,
      message:
        `account ${row.id}: the statement's last entry is ${entry ? `balanceAfter ${entry.balance} at position ${entry.position}` : 'missing'}, ` +
        `the events say ${expected ? `balanceAfter ${expected.balance} at position ${expected.position}` : 'there is none'}`,
      details: {
        statementPosition: entry?.position ?? null,
        statementBalanceAfter: entry?.balance ?? null,
        eventsPosition: expected?.position ?? null,
        eventsBalanceAfter: expected?.balance ?? null,
      },
    });
  }
  return wrong;
}

/** A page of accounts after `after` (in id order), with each one's last statement entry, read in one snapshot. */
async function accountsPage(ctx: JobContext, after: string, limit: number): Promise<AccountRow[]> {
  const { rows } = await ctx.pool.query<AccountRow>(
    `select a.id, a.posted::text, a.held::text, a.version::text,
            e.position::text as entry_position, e.balance_after::text as entry_balance
       from rm_accounts a
       left join lateral (
         select position, balance_after from rm_account_entries
          where account_id = a.id and position <= a.position order by position desc limit 1
       ) e on true
      where a.id > $1 order by a.id limit $2`,
    [after, limit],
  );
  return rows;
}

export async function verifyBalances(ctx: JobContext, options: RunOptions = {}): Promise<JobReport> {
  const findings = new Findings(['accounts', 'events']);
  const repair = options.repair ?? ctx.settings.repair;
  const sliced = !options.allAccounts && ctx.settings.verifySlice > 0;
  const limit = sliced ? ctx.settings.verifySlice : Number.MAX_SAFE_INTEGER;
  const from = sliced ? ((await loadCursor(ctx.pool, jobName)) ?? '') : '';
  const { rows: count } = await ctx.pool.query<{ n: string }>('select count(*) as n from rm_accounts where id > $1', [
    from,
  ]);
  const total = Math.min(Number(count[0].n), limit);
  const wrong = new Set<string>();
  let after = from;
  let done = 0;
  while (done < limit) {
    const page = await accountsPage(ctx, after, Math.min(pageSize, limit - done));
    if (page.length === 0) break;
    for (let i = 0; i < page.length; i += parallelFolds) {
      const slice = page.slice(i, i + parallelFolds);
      const results = await Promise.all(slice.map((row) => verifyAccount(ctx, row, findings)));
      slice.forEach((row, k) => results[k] && wrong.add(row.id));
    }
    done += page.length;
    after = page[page.length - 1].id;
    options.progress?.(done, total);
  }
  findings.set('accounts', done);
  findings.set('from', from);
  findings.set('to', after);
  if (repair) {
    for (const accountId of wrong) await reprojectAccount(ctx.pool, ctx.store, accountId);
    for (const p of findings.problems) if (wrong.has(p.subject)) p.repaired = true;
    findings.set('repaired', wrong.size);
  }
  if (sliced) await saveCursor(ctx.pool, jobName, done < limit ? undefined : after);
  return findings.report();
}
