/**
 * Conservation, per currency (DESIGN.md invariant 1): posted balances sum to zero, and the
 * money held on accounts equals the amounts of the transfers holding it (HELD, or CREDITED
 * and not yet debited).
 *
 * From the read models (every run): both projections are paused for a moment (their
 * checkpoint rows locked for share, which every batch locks first) and read at their
 * checkpoints in one snapshot; the one behind is brought to the other's position with the
 * events between the two, read from the store. A projection batch may end inside an append
 * (a transfer's credit applied, its debit not yet), so a difference counts only when a
 * second look at a later position finds the same one, or nothing was written since.
 *
 * From the events (`--from-events`, and a slower schedule): one pass over the whole event
 * store to its head, independent of every projection, pairing each transfer's hold, credit
 * and debit on the accounts with the transfer's own status; each transfer whose holds do
 * not match its status is named.
 */
import type { PoolClient } from 'pg';
import { type AccountEvent, balanceChange } from '../domain/account';
import { isAccountEventType, isTransferEventType, parseAccountEvent, parseTransferEvent } from '../domain/events';
import { parseStream, parseTransferStream } from '../domain/streams';
import { inTransaction } from '../db/transaction';
import { maxReadCount, type RecordedEvent } from '../eventstore/port';
import { accountsProjection } from '../projections/accounts';
import { checkpointName } from '../projections/runner';
import { transfersProjection } from '../projections/transfers';
import type { JobContext, RunOptions } from './context';
import { conservationAlarm } from './metrics';
import { Findings, type JobReport } from './report';

/** Events between the two projections' positions read to align them; further apart, the look is inconclusive. */
const maxAlignEvents = 100_000;
/** Looks taken to confirm a difference, and the pause between them. */
const maxLooks = 5;
const lookPauseMs = 200;

type Sums = Map<string, { posted: bigint; held: bigint; holding: bigint }>;

interface Look {
  position: bigint;
  sums: Sums;
}

function sumsFor(sums: Sums, currency: string) {
  let entry = sums.get(currency);
  if (entry === undefined) sums.set(currency, (entry = { posted: 0n, held: 0n, holding: 0n }));
  return entry;
}

/** Statuses in which a transfer's amount is held on its source account. */
const holdingStatuses = new Set(['HELD', 'CREDITED']);
const endStatuses = new Set(['COMMITTED', 'REJECTED', 'CANCELLED']);
const statusByEvent: Partial<Record<string, string>> = {
  TransferHeld: 'HELD',
  TransferCredited: 'CREDITED',
  TransferCommitted: 'COMMITTED',
  TransferRejected: 'REJECTED',
  TransferCancelled: 'CANCELLED',
};

/** The read models at one position: sums per currency, or undefined when the projections are too far apart. */
async function lookAtReadModels(ctx: JobContext): Promise<Look | undefined> {
  return inTransaction(ctx.pool, async (tx) => {
    const names = [checkpointName(accountsProjection), checkpointName(transfersProjection)];
    const { rows: cps } = await tx.query<{ name: string; position: string }>(
      'select name, position from ledger_checkpoints where name = any($1) order by name for share',
      [names],
    );
    const at = (name: string) => BigInt(cps.find((c) => c.name === name)?.position ?? '0');
    const accountsAt = at(names[0]);
    const transfersAt = at(names[1]);
    const position = accountsAt > transfersAt ? accountsAt : transfersAt;
    const low = accountsAt < transfersAt ? accountsAt : transfersAt;
    if (position - low > BigInt(maxAlignEvents)) return undefined;
    const sums: Sums = new Map();
    const { rows: accounts } = await tx.query<{ currency: string; posted: string; held: string }>(
      'select currency, sum(posted)::text as posted, sum(held)::text as held from rm_accounts group by currency',
    );
    for (const r of accounts)
      Object.assign(sumsFor(sums, r.currency), { posted: BigInt(r.posted), held: BigInt(r.held) });
    const { rows: holding } = await tx.query<{ currency: string; amount: string }>(
      `select currency, sum(amount)::text as amount from rm_transfers where status in ('HELD', 'CREDITED') group by currency`,
    );
    for (const r of holding) sumsFor(sums, r.currency).holding = BigInt(r.amount);
    if (low < position) await align(ctx, tx, sums, { accountsAt, transfersAt, low, position });
    return { position, sums };
  });
}

/** Brings the projection that is behind to `position` with the events in between. */
async function align(
  ctx: JobContext,
  tx: PoolClient,
  sums: Sums,
  at: { accountsAt: bigint; transfersAt: bigint; low: bigint; position: bigint },
): Promise<void> {
  const events: RecordedEvent[] = [];
  for (let after = at.low; after < at.position;) {
    const page = await ctx.store.readAll({ after, maxCount: maxReadCount });
    if (page.length === 0) break;
    events.push(...page.filter((e) => e.position <= at.position));
    after = page[page.length - 1].position;
  }
  if (at.accountsAt < at.position) {
    const { rows } = await tx.query<{ id: string; currency: string }>(
      'select id, currency from rm_accounts where id = any($1)',
      [streamIds(events, 'account')],
    );
    const currencies = new Map(rows.map((r) => [r.id, r.currency]));
    for (const e of events) if (isAccountEventType(e.type)) addBalanceChange(sums, currencies, parseAccountEvent(e));
    return;
  }
  const { rows } = await tx.query<{ id: string; currency: string; amount: string; status: string }>(
    'select id, currency, amount::text, status from rm_transfers where id = any($1)',
    [streamIds(events, 'transfer')],
  );
  const transfers = new Map(rows.map((r) => [r.id, { ...r, amount: BigInt(r.amount) }]));
  for (const e of events) {
    if (!isTransferEventType(e.type)) continue;
    const event = parseTransferEvent(e);
    const id = parseTransferStream(e.streamName)!;
    if (event.type === 'TransferRequested') {
      const { currency, amountMinor } = event.data;
      transfers.set(id, { id, currency, amount: amountMinor, status: 'REQUESTED' });
      continue;
    }
    const transfer = transfers.get(id);
    const status = statusByEvent[event.type];
    if (transfer === undefined || status === undefined) continue;
    const s = sumsFor(sums, transfer.currency);
    if (holdingStatuses.has(transfer.status)) s.holding -= transfer.amount;
    if (holdingStatuses.has(status)) s.holding += transfer.amount;
    transfer.status = status;
  }
}

/** The ids of the streams of one category that `events` touch. */
function streamIds(events: RecordedEvent[], category: 'account' | 'transfer'): string[] {
  const ids = new Set<string>();
  for (const e of events) {
    const stream = parseStream(e.streamName);
    if (stream?.category === category) ids.add(stream.id);
  }
  return [...ids];
}

/** Adds an account event's change to its currency's sums; `currencies` learns the accounts opened. */
function addBalanceChange(sums: Sums, currencies: Map<string, string>, event: AccountEvent) {
  if (event.type === 'AccountOpened') currencies.set(event.data.accountId, event.data.currency);
  const change = balanceChange(event);
  const s = sumsFor(sums, currencies.get(event.data.accountId)!);
  s.posted += change.posted;
  s.held += change.held;
  return change;
}

/** The differences a look shows, per currency and check: `posted` (sum of posted) and `held` (held − holding). */
function differences(look: Look): Map<string, bigint> {
  const out = new Map<string, bigint>();
  for (const [currency, s] of look.sums) {
    if (s.posted !== 0n) out.set(`${currency} posted`, s.posted);
    if (s.held !== s.holding) out.set(`${currency} held`, s.held - s.holding);
  }
  return out;
}

function sameDifferences(a: Map<string, bigint>, b: Map<string, bigint>): boolean {
  return a.size === b.size && [...a].every(([k, v]) => b.get(k) === v);
}

async function fromReadModels(ctx: JobContext, findings: Findings): Promise<void> {
  let previous: { look: Look; diffs: Map<string, bigint> } | undefined;
  for (let looks = 1; looks <= maxLooks; looks++) {
    const look = await lookAtReadModels(ctx);
    if (look === undefined) {
      findings.count('inconclusive');
    } else {
      const diffs = differences(look);
      const head = await ctx.store.headPosition();
      const confirmed =
        diffs.size === 0 ||
        head === look.position ||
        (previous !== undefined && previous.look.position !== look.position && sameDifferences(previous.diffs, diffs));
      if (confirmed) {
        report(findings, look, diffs, 'read-models');
        return;
      }
      previous = { look, diffs };
    }
    await new Promise((resolve) => setTimeout(resolve, lookPauseMs));
  }
  findings.set('outcome', 'unconfirmed');
}

function report(findings: Findings, look: Look, diffs: Map<string, bigint>, source: string): void {
  findings.set('position', look.position.toString());
  findings.set('currencies', look.sums.size);
  for (const [currency, s] of look.sums) {
    for (const check of ['posted', 'held'] as const) {
      const difference = diffs.get(`${currency} ${check}`);
      conservationAlarm.set({ currency, check, source }, difference === undefined ? 0 : 1);
      if (difference === undefined) continue;
      findings.problem({
        kind: 'conservation',
        subject: currency,
        message:
          check === 'posted'
            ? `${currency}: posted balances sum to ${s.posted}, not 0 (${source} at position ${look.position})`
            : `${currency}: accounts hold ${s.held}, the transfers holding money amount to ${s.holding} (${source} at position ${look.position})`,
        details: {
          check,
          source,
          position: look.position.toString(),
          posted: s.posted.toString(),
          held: s.held.toString(),
          holding: s.holding.toString(),
          difference: difference.toString(),
        },
      });
    }
  }
}

/** One pass over the event store to its head. */
async function fromEvents(ctx: JobContext, findings: Findings, options: RunOptions): Promise<void> {
  const head = await ctx.store.headPosition();
  const currencies = new Map<string, string>();
  const sums: Sums = new Map();
  /** Per open transfer: its amount held on the accounts, and its status and amount on its own stream. */
  const open = new Map<string, { currency?: string; held: bigint; status?: string; amount?: bigint }>();
  const entry = (id: string) => {
    let e = open.get(id);
    if (e === undefined) open.set(id, (e = { held: 0n }));
    return e;
  };
  let events = 0;
  for (let after = 0n; after < head;) {
    const page = await ctx.store.readAll({ after, maxCount: maxReadCount });
    if (page.length === 0) break;
    for (const recorded of page) {
      if (recorded.position > head) break;
      events++;
      if (isAccountEventType(recorded.type)) {
        const event = parseAccountEvent(recorded);
        const change = addBalanceChange(sums, currencies, event);
        if ('transferId' in event.data && change.held !== 0n) {
          const e = entry(event.data.transferId);
          e.held += change.held;
          e.currency = currencies.get(event.data.accountId);
        }
      } else if (isTransferEventType(recorded.type)) {
        const event = parseTransferEvent(recorded);
        const e = entry(parseTransferStream(recorded.streamName)!);
        if (event.type === 'TransferRequested') {
          e.amount = event.data.amountMinor;
          e.currency = event.data.currency;
          e.status = 'REQUESTED';
        } else {
          e.status = statusByEvent[event.type] ?? e.status;
        }
      } else {
        continue;
      }
      const id = parseTransferStream(recorded.streamName) ?? recorded.data.transferId;
      const e = typeof id === 'string' ? open.get(id) : undefined;
      // Ended, and nothing held for it: nothing more to pair.
      if (e?.held === 0n && e.status !== undefined && endStatuses.has(e.status)) open.delete(id as string);
    }
    after = page[page.length - 1].position;
    options.progress?.(Number(after), Number(head));
  }
  for (const [id, e] of open) {
    const holding = e.status !== undefined && holdingStatuses.has(e.status) ? (e.amount ?? 0n) : 0n;
    if (e.currency !== undefined) sumsFor(sums, e.currency).holding += holding;
    if (e.held === holding) continue;
    findings.problem({
      kind: 'hold-mismatch',
      subject: id,
      message: `transfer ${id} is ${e.status ?? 'unknown'} with ${holding} to hold, and its accounts hold ${e.held} for it`,
      details: { status: e.status ?? null, held: e.held.toString(), holding: holding.toString() },
    });
  }
  findings.set('events', events);
  report(findings, { position: head, sums }, differences({ position: head, sums }), 'events');
}

export async function conservation(ctx: JobContext, options: RunOptions = {}): Promise<JobReport> {
  const findings = new Findings();
  if (options.fromEvents) await fromEvents(ctx, findings, options);
  else await fromReadModels(ctx, findings);
  return findings.report();
}
