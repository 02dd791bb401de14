/**
 * A ledger of a given size for the benchmarks that need history (bench:replay,
 * bench:reconcile): events appended straight through the store in big multi-stream batches,
 * shaped as the transfer process writes them. AccountOpened for `accounts` accounts and a
 * funding account, then per transfer TransferRequested, FundsHeld (source), FundsCredited
 * (destination), FundsDebited (source), TransferHeld + TransferCredited + TransferCommitted,
 * with amounts that keep every account consistent: each account is first funded from the
 * funding account, then random transfers of 0.01 to 100.00 move between the accounts.
 */
import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Pool } from 'pg';
import { toEventToAppend } from '../src/commands/aggregates';
import type { LedgerEvent } from '../src/domain/events';
import { accountStream, transferStream } from '../src/domain/streams';
import { ANY, type EventStore, type EventToAppend, NO_STREAM, type StreamAppend } from '../src/eventstore/port';
import { accountId, fmt, randomInt } from './common';

export const fillCurrency = 'EUR';
/** The account every other account is funded from (overdraft unlimited). */
export const fundingAccount = 'bank-eur';
/** Each account starts with 1,000,000.00; transfers move 0.01 to 100.00. */
const fundingMinor = 100_000_000n;
const maxTransferMinor = 10_000;
const transfersPerRound = 1_000;
const accountsPerOpenAppend = 1_000;
const defaultWriters = 4;
const eventsPerTransfer = 7;

export interface LedgerShape {
  /** Events to write at least (rounded up to whole transfers). */
  events: number;
  /** Accounts besides the funding account: acc-00000, acc-00001, ... (common.ts accountId). */
  accounts: number;
  /**
   * Rounds of transfers written at once (default 4). The fill appends to account streams at
   * revision ANY, so concurrent rounds that touch one account may give a later revision of
   * its stream a lower position than an earlier one. The service never does (it appends at
   * exact revisions), and what reads a stream against positions (verify-balances, account
   * re-projection) needs it not to: those benchmarks write with 1.
   */
  writers?: number;
}

export interface LedgerFill {
  events: number;
  accounts: number;
  transfers: number;
  /** Time spent appending (not the wait for visibility nor the vacuum after). */
  seconds: number;
}

interface Transfer {
  id: string;
  from: string;
  to: string;
  amount: bigint;
}

function envelope(event: LedgerEvent, correlationId: string): EventToAppend {
  return toEventToAppend({ id: randomUUID(), event, correlationId });
}

/** One append per account (streams sorted, so concurrent writers lock them in one order). */
function accountAppends(
  transfers: Transfer[],
  account: (t: Transfer) => string,
  event: (t: Transfer) => LedgerEvent,
): StreamAppend[] {
  const byAccount = new Map<string, EventToAppend[]>();
  for (const t of transfers) {
    const id = account(t);
    let events = byAccount.get(id);
    if (!events) byAccount.set(id, (events = []));
    events.push(envelope(event(t), t.id));
  }
  return [...byAccount.keys()]
    .sort()
    .map((id) => ({ streamName: accountStream(id), expectedRevision: ANY, events: byAccount.get(id)! }));
}

/** A round of transfers, written in the steps (and append shapes) of the transfer process. */
async function writeRound(store: EventStore, transfers: Transfer[]): Promise<number> {
  const at = new Date();
  await store.appendMultiple(
    transfers.map((t) => ({
      streamName: transferStream(t.id),
      expectedRevision: NO_STREAM,
      events: [
        envelope(
          {
            type: 'TransferRequested',
            data: {
              transferId: t.id,
              sourceAccount: t.from,
              destinationAccount: t.to,
              amountMinor: t.amount,
              currency: fillCurrency,
              mode: 'immediate',
              requestedAt: at,
            },
          },
          t.id,
        ),
      ],
    })),
  );
  const move = { at };
  await store.appendMultiple(
    accountAppends(
      transfers,
      (t) => t.from,
      (t) => ({ type: 'FundsHeld', data: { accountId: t.from, transferId: t.id, amountMinor: t.amount, ...move } }),
    ),
  );
  await store.appendMultiple(
    accountAppends(
      transfers,
      (t) => t.to,
      (t) => ({ type: 'FundsCredited', data: { accountId: t.to, transferId: t.id, amountMinor: t.amount, ...move } }),
    ),
  );
  await store.appendMultiple(
    accountAppends(
      transfers,
      (t) => t.from,
      (t) => ({
        type: 'FundsDebited',
        data: { accountId: t.from, transferId: t.id, amountMinor: t.amount, releasedMinor: 0n, ...move },
      }),
    ),
  );
  await store.appendMultiple(
    transfers.map((t) => ({
      streamName: transferStream(t.id),
      expectedRevision: 0n,
      events: [
        envelope({ type: 'TransferHeld', data: { transferId: t.id, at } }, t.id),
        envelope({ type: 'TransferCredited', data: { transferId: t.id, amountMinor: t.amount, at } }, t.id),
        envelope({ type: 'TransferCommitted', data: { transferId: t.id, amountMinor: t.amount, at } }, t.id),
      ],
    })),
  );
  return transfers.length * eventsPerTransfer;
}

/** Runs the rounds `writers` at a time. */
async function writeRounds(store: EventStore, rounds: Transfer[][], writers: number): Promise<number> {
  let next = 0;
  let written = 0;
  await Promise.all(
    Array.from({ length: writers }, async () => {
      while (next < rounds.length) {
        const n = await writeRound(store, rounds[next++]);
        written += n;
      }
    }),
  );
  return written;
}

function chunk<T>(items: T[], size: number): T[][] {
  return Array.from({ length: Math.ceil(items.length / size) }, (_, i) => items.slice(i * size, (i + 1) * size));
}

/**
 * Fills an empty ledger with `shape.events` events or a few more. Returns once every event
 * is visible to readers and the event tables are vacuumed and analysed, as they would be long
 * after the events were written.
 */
export async function fillLedger(store: EventStore, pool: Pool, shape: LedgerShape): Promise<LedgerFill> {
  const writers = shape.writers ?? defaultWriters;
  const started = performance.now();
  const openedAt = new Date();
  const open = (id: string, overdraft: 'none' | 'unlimited'): StreamAppend => ({
    streamName: accountStream(id),
    expectedRevision: NO_STREAM,
    events: [
      envelope(
        {
          type: 'AccountOpened',
          data: {
            accountId: id,
            currency: fillCurrency,
            overdraft: { kind: overdraft },
            metadata: { bench: true },
            openedAt,
          },
        },
        id,
      ),
    ],
  });
  await store.appendMultiple([open(fundingAccount, 'unlimited')]);
  for (const ids of chunk(
    Array.from({ length: shape.accounts }, (_, i) => accountId(i)),
    accountsPerOpenAppend,
  )) {
    await store.appendMultiple(ids.map((id) => open(id, 'none')));
  }
  let total = shape.accounts + 1;
  const funding = Array.from({ length: shape.accounts }, (_, i) => ({
    id: randomUUID(),
    from: fundingAccount,
    to: accountId(i),
    amount: fundingMinor,
  }));
  total += await writeRounds(store, chunk(funding, transfersPerRound), writers);
  const random = Array.from({ length: Math.max(0, Math.ceil((shape.events - total) / eventsPerTransfer)) }, () => {
    const from = randomInt(shape.accounts);
    const to = (from + 1 + randomInt(shape.accounts - 1)) % shape.accounts;
    return {
      id: randomUUID(),
      from: accountId(from),
      to: accountId(to),
      amount: BigInt(1 + randomInt(maxTransferMinor)),
    };
  });
  total += await writeRounds(store, chunk(random, transfersPerRound), writers);
  const seconds = (performance.now() - started) / 1000;
  // Everything written is final (no append in flight), and the table is vacuumed and
  // analysed, as it would be long after the events were written.
  const { rows } = await pool.query<{ n: string }>('select max(position)::text as n from ledger_events');
  while ((await store.headPosition()) < BigInt(rows[0].n)) await sleep(10);
  await pool.query('vacuum analyze ledger_events');
  await pool.query('vacuum analyze ledger_streams');
  return { events: total, accounts: shape.accounts, transfers: funding.length + random.length, seconds };
}

/** "generated N events (A accounts, T transfers) in S s (R events/s)". */
export function describeFill(fill: LedgerFill): string {
  return (
    `generated ${fmt(fill.events)} events (${fmt(fill.accounts)} accounts, ` +
    `${fmt(fill.transfers)} transfers) in ${fill.seconds.toFixed(1)} s ` +
    `(${fmt(fill.events / fill.seconds)} events/s)`
  );
}
