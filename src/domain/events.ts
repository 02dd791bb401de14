/**
 * The stored form of domain events, and the only code that knows it.
 *
 * Stored `data` is JSON: amounts are strings of integer minor units, dates ISO 8601
 * strings. Each event type has one zod codec that decodes stored data into the domain
 * types (bigint, Date) and encodes them back, so reading and writing cannot drift apart.
 * Encoding validates too: an event the domain must never produce (a zero amount, an
 * invalid date) fails before it reaches the store.
 *
 * Versions: every event is written with `metadata.schemaVersion = schemaVersion`. When a
 * schema changes, bump it and teach `upcast` to lift older stored data to the current
 * shape; decoders only ever see the current version.
 */
import { z } from 'zod';
import { EventDecodeError, InvariantViolation, transferCancelReasons, transferRejectReasons } from './errors';
import type { AccountEvent } from './account';
import type { TransferEvent } from './transfer';

export const schemaVersion = 1;
/** The metadata key that carries an event's schema version. */
export const schemaVersionKey = 'schemaVersion';

export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };
export type JsonObject = { [key: string]: JsonValue };

export type LedgerEvent = AccountEvent | TransferEvent;
export type StoredEventData = JsonObject;
export interface SerializedEvent {
  type: LedgerEvent['type'];
  data: StoredEventData;
}

// ---- event type names -----------------------------------------------------------------

export const AccountEventType = {
  AccountOpened: 'AccountOpened',
  FundsHeld: 'FundsHeld',
  HoldReleased: 'HoldReleased',
  FundsDebited: 'FundsDebited',
  FundsCredited: 'FundsCredited',
  AccountFrozen: 'AccountFrozen',
  AccountUnfrozen: 'AccountUnfrozen',
  AccountClosed: 'AccountClosed',
} as const satisfies { [K in AccountEvent['type']]: K };

export const TransferEventType = {
  TransferRequested: 'TransferRequested',
  TransferHeld: 'TransferHeld',
  TransferCommitRequested: 'TransferCommitRequested',
  TransferVoidRequested: 'TransferVoidRequested',
  TransferCredited: 'TransferCredited',
  TransferCommitted: 'TransferCommitted',
  TransferRejected: 'TransferRejected',
  TransferCancelled: 'TransferCancelled',
} as const satisfies { [K in TransferEvent['type']]: K };

export const accountEventTypes: readonly AccountEvent['type'][] = Object.values(AccountEventType);
export const transferEventTypes: readonly TransferEvent['type'][] = Object.values(TransferEventType);

export function isAccountEventType(type: string): type is AccountEvent['type'] {
  return Object.hasOwn(AccountEventType, type);
}

export function isTransferEventType(type: string): type is TransferEvent['type'] {
  return Object.hasOwn(TransferEventType, type);
}

// ---- field codecs ---------------------------------------------------------------------

export const minorUnitsPattern = /^-?(0|[1-9][0-9]*)$/;

const minorUnits = z.codec(z.string().regex(minorUnitsPattern), z.bigint(), {
  decode: (text) => BigInt(text),
  encode: (value) => value.toString(),
});
const positiveMinor = minorUnits.refine((v) => v > 0n, 'must be positive');
const nonNegativeMinor = minorUnits.refine((v) => v >= 0n, 'must not be negative');
const isoDate = z.codec(z.iso.datetime({ offset: true }), z.date(), {
  decode: (text) => new Date(text),
  encode: (date) => date.toISOString(),
});
const id = z.string().min(1);
const currency = z.string().regex(/^[A-Z]{3}$/);
const jsonObject = z.record(z.string(), z.json());
const overdraft = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('none') }),
  z.object({ kind: z.literal('unlimited') }),
  z.object({ kind: z.literal('limit'), limitMinor: positiveMinor }),
]);

// ---- event data codecs ----------------------------------------------------------------

type DataOf<E extends LedgerEvent, K extends E['type']> = Extract<E, { type: K }>['data'];
type CodecsFor<E extends LedgerEvent> = { [K in E['type']]: z.ZodType<DataOf<E, K>> };

const accountMove = { accountId: id, transferId: id, amountMinor: positiveMinor, at: isoDate };
const accountAt = { accountId: id, at: isoDate };

export const accountEventSchemas = {
  AccountOpened: z.object({ accountId: id, currency, overdraft, metadata: jsonObject, openedAt: isoDate }),
  FundsHeld: z.object(accountMove),
  HoldReleased: z.object({ ...accountMove, reason: z.enum(transferCancelReasons) }),
  FundsDebited: z.object({ ...accountMove, releasedMinor: nonNegativeMinor }),
  FundsCredited: z.object(accountMove),
  AccountFrozen: z.object(accountAt),
  AccountUnfrozen: z.object(accountAt),
  AccountClosed: z.object(accountAt),
} satisfies CodecsFor<AccountEvent>;

const transferAmountAt = { transferId: id, amountMinor: positiveMinor, at: isoDate };

export const transferEventSchemas = {
  TransferRequested: z.object({
    transferId: id,
    sourceAccount: id,
    destinationAccount: id,
    amountMinor: positiveMinor,
    currency,
    mode: z.enum(['immediate', 'pending']),
    description: z.string().optional(),
    metadata: jsonObject.optional(),
    requestedAt: isoDate,
    expiresAt: isoDate.optional(),
  }),
  TransferHeld: z.object({ transferId: id, at: isoDate }),
  TransferCommitRequested: z.object(transferAmountAt),
  TransferVoidRequested: z.object({ transferId: id, reason: z.enum(['VOIDED', 'EXPIRED']), at: isoDate }),
  TransferCredited: z.object(transferAmountAt),
  TransferCommitted: z.object(transferAmountAt),
  TransferRejected: z.object({ transferId: id, reason: z.enum(transferRejectReasons), at: isoDate }),
  TransferCancelled: z.object({ transferId: id, reason: z.enum(transferCancelReasons), at: isoDate }),
} satisfies CodecsFor<TransferEvent>;

// ---- decode ---------------------------------------------------------------------------

/** What the event store hands back; RecordedEvent fits. */
export interface StoredEvent {
  readonly type: string;
  readonly data: unknown;
  readonly metadata?: unknown;
}

export function parseAccountEvent(stored: StoredEvent): AccountEvent {
  if (!isAccountEventType(stored.type)) throw new EventDecodeError(stored.type, ['not an account event']);
  return decodeWith<AccountEvent>(accountEventSchemas, stored.type, stored);
}

export function parseTransferEvent(stored: StoredEvent): TransferEvent {
  if (!isTransferEventType(stored.type)) throw new EventDecodeError(stored.type, ['not a transfer event']);
  return decodeWith<TransferEvent>(transferEventSchemas, stored.type, stored);
}

export function parseEvent(stored: StoredEvent): LedgerEvent {
  return isAccountEventType(stored.type) ? parseAccountEvent(stored) : parseTransferEvent(stored);
}

function decodeWith<E extends LedgerEvent>(codecs: CodecsFor<E>, type: E['type'], stored: StoredEvent): E {
  const data = upcast(type, storedSchemaVersion(stored), stored.data);
  const result = z.safeDecode(codecs[type], data);
  if (!result.success) {
    throw new EventDecodeError(
      type,
      result.error.issues.map((issue) => `${issue.path.join('.') || '(data)'}: ${issue.message}`),
    );
  }
  // The codec table is keyed by type, so the decoded data is that type's data.
  return { type, data: result.data } as E;
}

/** The version an event was written with; events without one predate versioning: 1. */
export function storedSchemaVersion(stored: StoredEvent): number {
  const metadata = stored.metadata;
  if (typeof metadata === 'object' && metadata !== null && schemaVersionKey in metadata) {
    const version: unknown = (metadata as Record<string, unknown>)[schemaVersionKey];
    if (typeof version === 'number' && Number.isInteger(version) && version >= 1) return version;
    throw new EventDecodeError('(metadata)', [`invalid ${schemaVersionKey}: ${String(version)}`]);
  }
  return 1;
}

/**
 * Lifts stored data written with an older schema version to the current one. The identity
 * while every event is version 1; when a schema changes, add a step here per (type,
 * version) — e.g. `if (type === 'FundsHeld' && version === 1) data = {...data, newField}`
 * — and keep the old steps forever: the store never rewrites history.
 */
export function upcast(type: string, version: number, data: unknown): unknown {
  if (version > schemaVersion) {
    throw new EventDecodeError(type, [`schema version ${version} is newer than this code (${schemaVersion})`]);
  }
  return data;
}

// ---- encode ---------------------------------------------------------------------------

export function serializeEvent(event: LedgerEvent): SerializedEvent {
  const codec: z.ZodType<unknown> = isAccountEventType(event.type)
    ? accountEventSchemas[event.type]
    : transferEventSchemas[event.type];
  const result = z.safeEncode(codec, event.data);
  if (!result.success) {
    // The deciders never produce such an event: this is a bug, not a rejection.
    const issues = result.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`);
    throw new InvariantViolation(`cannot encode ${event.type}: ${issues.join('; ')}`);
  }
  // Output of the codecs is JSON by construction: strings, numbers, literals and z.json().
  return { type: event.type, data: result.data as StoredEventData };
}

/** Metadata every event carries about its own schema (merge into the envelope's metadata). */
export function schemaMetadata(): { [schemaVersionKey]: number } {
  return { [schemaVersionKey]: schemaVersion };
}

// ---- JSON comparison ------------------------------------------------------------------

/** JSON with object keys sorted, so equal values give equal text. */
export function canonicalJson(value: JsonValue): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const keys = Object.keys(value).sort();
    return `{${keys.map((key) => `${JSON.stringify(key)}:${canonicalJson(value[key])}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

/** Deep equality of JSON values regardless of key order; two absent values are equal. */
export function jsonEquals(a: JsonValue | undefined, b: JsonValue | undefined): boolean {
  if (a === undefined || b === undefined) return a === b;
  return canonicalJson(a) === canonicalJson(b);
}
