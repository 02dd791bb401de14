/** What the ledger writes: transfers by status, events by type, and how long appends take. */
import { Counter, Histogram } from 'prom-client';
import { transferCancelReasons, transferRejectReasons } from '../domain/errors';
import { accountEventTypes, transferEventTypes } from '../domain/events';
import type { TransferStatus } from '../domain/transfer';
import type { EventToAppend } from '../eventstore/port';

export type AppendOperation = 'append' | 'appendMultiple';
export type AppendOutcome = 'ok' | 'conflict' | 'error';

/** The label of a transfer status that has no reason. */
const noReason = 'none';

const transfers = new Counter({
  name: 'ledger_transfers_total',
  help: 'Transfer events appended, by the status they move the transfer to and its reason (none when there is none)',
  labelNames: ['status', 'reason'],
});

// Event types are chosen by the ledger's code, never by a client, so the label set is bounded.
const eventsAppended = new Counter({
  name: 'ledger_events_appended_total',
  help: 'Events appended to the event store, by type',
  labelNames: ['type'],
});

const appendDuration = new Histogram({
  name: 'ledger_eventstore_append_duration_seconds',
  help: 'Event-store appends by operation and outcome (ok, conflict: wrong expected revision, error)',
  labelNames: ['operation', 'outcome'],
  buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
});

/** The status each transfer event moves a transfer to; the other transfer events move none. */
const transferStatusByType: Partial<Record<string, TransferStatus>> = {
  TransferRequested: 'REQUESTED',
  TransferHeld: 'HELD',
  TransferCredited: 'CREDITED',
  TransferCommitted: 'COMMITTED',
  TransferRejected: 'REJECTED',
  TransferCancelled: 'CANCELLED',
};

// Every series a dashboard expects exists from the start, so rate() sees the first increment.
for (const status of ['REQUESTED', 'HELD', 'CREDITED', 'COMMITTED'] satisfies TransferStatus[])
  transfers.inc({ status, reason: noReason }, 0);
for (const reason of transferRejectReasons) transfers.inc({ status: 'REJECTED', reason }, 0);
for (const reason of transferCancelReasons) transfers.inc({ status: 'CANCELLED', reason }, 0);
for (const type of [...accountEventTypes, ...transferEventTypes]) eventsAppended.inc({ type }, 0);

/** Counts events a store has just stored, one increment per distinct label set. */
export function countAppended(events: readonly EventToAppend[]): void {
  const byType = new Map<string, number>();
  const byStatus = new Map<string, { status: TransferStatus; reason: string; count: number }>();
  for (const e of events) {
    byType.set(e.type, (byType.get(e.type) ?? 0) + 1);
    const status = transferStatusByType[e.type];
    if (status === undefined) continue;
    const reason = typeof e.data.reason === 'string' ? e.data.reason : noReason;
    const key = `${status}/${reason}`;
    const seen = byStatus.get(key);
    if (seen) seen.count++;
    else byStatus.set(key, { status, reason, count: 1 });
  }
  for (const [type, count] of byType) eventsAppended.inc({ type }, count);
  for (const { status, reason, count } of byStatus.values()) transfers.inc({ status, reason }, count);
}

export function observeAppend(operation: AppendOperation, outcome: AppendOutcome, seconds: number): void {
  appendDuration.observe({ operation, outcome }, seconds);
}
