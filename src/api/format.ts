/**
 * The API's response shapes (API.md: Account, Balance, Transfer, statement entry), from a
 * read-model row or from a freshly written or loaded state. Amounts are decimal strings at
 * the currency's full scale; positions are strings (64-bit); times are RFC 3339 UTC.
 */
import type { AccountState, Overdraft } from '../domain/account';
import type { JsonObject } from '../domain/events';
import { formatAmount } from '../domain/money';
import type { TransferState } from '../domain/transfer';
import type { PointInTimeBalance } from '../projections/balance-as-of';
import type { AccountRow, EntryRow, TransferRow } from './read-models';

export interface BalanceJson {
  accountId: string;
  currency: string;
  posted: string;
  held: string;
  available: string;
  asOf: string;
  position: string;
}

export interface AccountJson {
  id: string;
  currency: string;
  status: string;
  overdraft: string;
  balance: BalanceJson;
  metadata: JsonObject;
  createdAt: string;
  version: number;
}

export interface TransferJson {
  id: string;
  sourceAccount: string;
  destinationAccount: string;
  amount: string;
  currency: string;
  mode: string;
  status: string;
  reason?: string;
  description?: string;
  metadata?: JsonObject;
  createdAt: string;
  updatedAt: string;
  expiresAt?: string;
  steps: { status: string; at: string }[];
}

export interface EntryJson {
  transferId: string;
  direction: string;
  amount: string;
  balanceAfter: string;
  description: string | null;
  at: string;
  position: string;
}

export interface Money {
  accountId: string;
  currency: string;
  postedMinor: bigint;
  heldMinor: bigint;
  asOf: Date;
  position: bigint;
}

/** A balance at the currency's full scale, as of a time and an event-store position. */
export function balanceJson(m: Money): BalanceJson {
  return {
    accountId: m.accountId,
    currency: m.currency,
    posted: formatAmount(m.postedMinor, m.currency),
    held: formatAmount(m.heldMinor, m.currency),
    available: formatAmount(m.postedMinor - m.heldMinor, m.currency),
    asOf: m.asOf.toISOString(),
    position: m.position.toString(),
  };
}

export function overdraftText(overdraft: Overdraft, currency: string): string {
  return overdraft.kind === 'limit' ? formatAmount(overdraft.limitMinor, currency) : overdraft.kind;
}

/** The balance a row holds, as of the last change it reflects. */
export function balanceFromRow(row: AccountRow): BalanceJson {
  return balanceJson({
    accountId: row.id,
    currency: row.currency,
    postedMinor: row.posted,
    heldMinor: row.held,
    asOf: row.updatedAt,
    position: row.position,
  });
}

export function accountFromRow(row: AccountRow): AccountJson {
  const overdraft: Overdraft =
    row.overdraftKind === 'limit' && row.overdraftLimit !== null
      ? { kind: 'limit', limitMinor: row.overdraftLimit }
      : { kind: row.overdraftKind === 'unlimited' ? 'unlimited' : 'none' };
  return {
    id: row.id,
    currency: row.currency,
    status: row.status,
    overdraft: overdraftText(overdraft, row.currency),
    balance: balanceFromRow(row),
    metadata: row.metadata,
    createdAt: row.createdAt.toISOString(),
    version: Number(row.version),
  };
}

/** An account folded from its stream just now (a write's result, or a read the read model had not reached). */
export function accountFromState(
  state: AccountState,
  at: { version: bigint; position: bigint; asOf: Date },
): AccountJson {
  const accountId = state.accountId!;
  const currency = state.currency!;
  return {
    id: accountId,
    currency,
    status: state.status,
    overdraft: overdraftText(state.overdraft, currency),
    balance: balanceJson({
      accountId,
      currency,
      postedMinor: state.postedMinor,
      heldMinor: state.heldMinor,
      asOf: at.asOf,
      position: at.position,
    }),
    metadata: state.metadata,
    createdAt: state.openedAt!.toISOString(),
    version: Number(at.version),
  };
}

export function balanceAsOfJson(b: PointInTimeBalance): BalanceJson {
  return balanceJson(b);
}

export function transferFromRow(row: TransferRow): TransferJson {
  return {
    id: row.id,
    sourceAccount: row.sourceAccount,
    destinationAccount: row.destinationAccount,
    amount: formatAmount(row.amount, row.currency),
    currency: row.currency,
    mode: row.mode,
    status: row.status,
    ...(row.reason !== null && { reason: row.reason }),
    ...(row.description !== null && { description: row.description }),
    ...(row.metadata !== null && { metadata: row.metadata }),
    createdAt: row.createdAt.toISOString(),
    updatedAt: row.updatedAt.toISOString(),
    ...(row.expiresAt !== null && { expiresAt: row.expiresAt.toISOString() }),
    steps: row.steps.map((s) => ({ status: s.status, at: s.at })),
  };
}

export function transferFromState(state: TransferState): TransferJson {
  const r = state.request!;
  return {
    id: r.transferId,
    sourceAccount: r.sourceAccount,
    destinationAccount: r.destinationAccount,
    amount: formatAmount(r.amountMinor, r.currency),
    currency: r.currency,
    mode: r.mode,
    status: state.status,
    ...(state.reason !== null && { reason: state.reason }),
    ...(r.description !== undefined && { description: r.description }),
    ...(r.metadata !== undefined && { metadata: r.metadata }),
    createdAt: r.requestedAt.toISOString(),
    updatedAt: (state.updatedAt ?? r.requestedAt).toISOString(),
    ...(r.expiresAt !== undefined && { expiresAt: r.expiresAt.toISOString() }),
    steps: state.steps.map((s) => ({ status: s.status, at: s.at.toISOString() })),
  };
}

export function entryFromRow(row: EntryRow, currency: string): EntryJson {
  return {
    transferId: row.transferId,
    direction: row.direction,
    amount: formatAmount(row.amount, currency),
    balanceAfter: formatAmount(row.balanceAfter, currency),
    description: row.description,
    at: row.at.toISOString(),
    position: row.position.toString(),
  };
}
