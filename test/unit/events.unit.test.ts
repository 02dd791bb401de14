import type { AccountEvent } from '../../src/domain/account';
import { EventDecodeError, InvariantViolation } from '../../src/domain/errors';
import {
  accountEventTypes,
  canonicalJson,
  isAccountEventType,
  isTransferEventType,
  jsonEquals,
  parseAccountEvent,
  parseEvent,
  parseTransferEvent,
  schemaMetadata,
  schemaVersion,
  serializeEvent,
  storedSchemaVersion,
  transferEventTypes,
  upcast,
  type LedgerEvent,
} from '../../src/domain/events';
import {
  accountStream,
  parseAccountStream,
  parseStream,
  parseTransferStream,
  transferStream,
} from '../../src/domain/streams';
import type { TransferEvent } from '../../src/domain/transfer';

const at = new Date('2025-03-01T12:00:00.123Z');
const big = 2n ** 63n - 1n;

/** Samples of every event type; the mapped types make a missing type a compile error. */
const accountSamples: { [K in AccountEvent['type']]: Extract<AccountEvent, { type: K }>[] } = {
  AccountOpened: [
    {
      type: 'AccountOpened',
      data: { accountId: 'A', currency: 'USD', overdraft: { kind: 'none' }, metadata: {}, openedAt: at },
    },
    {
      type: 'AccountOpened',
      data: {
        accountId: 'F',
        currency: 'JPY',
        overdraft: { kind: 'unlimited' },
        metadata: { n: [1, null, { x: true }] },
        openedAt: at,
      },
    },
    {
      type: 'AccountOpened',
      data: {
        accountId: 'L',
        currency: 'KWD',
        overdraft: { kind: 'limit', limitMinor: big },
        metadata: { s: 'é' },
        openedAt: at,
      },
    },
  ],
  FundsHeld: [{ type: 'FundsHeld', data: { accountId: 'A', transferId: 't1', amountMinor: big, at } }],
  HoldReleased: [
    { type: 'HoldReleased', data: { accountId: 'A', transferId: 't1', amountMinor: 5n, reason: 'VOIDED', at } },
    { type: 'HoldReleased', data: { accountId: 'A', transferId: 't2', amountMinor: 5n, reason: 'EXPIRED', at } },
    { type: 'HoldReleased', data: { accountId: 'A', transferId: 't3', amountMinor: 5n, reason: 'CREDIT_FAILED', at } },
  ],
  FundsDebited: [
    { type: 'FundsDebited', data: { accountId: 'A', transferId: 't1', amountMinor: 30n, releasedMinor: 70n, at } },
    { type: 'FundsDebited', data: { accountId: 'A', transferId: 't2', amountMinor: 30n, releasedMinor: 0n, at } },
  ],
  FundsCredited: [{ type: 'FundsCredited', data: { accountId: 'B', transferId: 't1', amountMinor: 1n, at } }],
  AccountFrozen: [{ type: 'AccountFrozen', data: { accountId: 'A', at } }],
  AccountUnfrozen: [{ type: 'AccountUnfrozen', data: { accountId: 'A', at } }],
  AccountClosed: [{ type: 'AccountClosed', data: { accountId: 'A', at } }],
};

const T = 't1';
const transferSamples: { [K in TransferEvent['type']]: Extract<TransferEvent, { type: K }>[] } = {
  TransferRequested: [
    {
      type: 'TransferRequested',
      data: {
        transferId: T,
        sourceAccount: 'A',
        destinationAccount: 'B',
        amountMinor: 100n,
        currency: 'USD',
        mode: 'immediate',
        requestedAt: at,
      },
    },
    {
      type: 'TransferRequested',
      data: {
        transferId: T,
        sourceAccount: 'A',
        destinationAccount: 'B',
        amountMinor: 100n,
        currency: 'USD',
        mode: 'pending',
        description: 'rent',
        metadata: { order: 42 },
        requestedAt: at,
        expiresAt: new Date(at.getTime() + 300_000),
      },
    },
  ],
  TransferHeld: [{ type: 'TransferHeld', data: { transferId: T, at } }],
  TransferCommitRequested: [{ type: 'TransferCommitRequested', data: { transferId: T, amountMinor: 40n, at } }],
  TransferVoidRequested: [
    { type: 'TransferVoidRequested', data: { transferId: T, reason: 'VOIDED', at } },
    { type: 'TransferVoidRequested', data: { transferId: T, reason: 'EXPIRED', at } },
  ],
  TransferCredited: [{ type: 'TransferCredited', data: { transferId: T, amountMinor: 40n, at } }],
  TransferCommitted: [{ type: 'TransferCommitted', data: { transferId: T, amountMinor: 40n, at } }],
  TransferRejected: [
    { type: 'TransferRejected', data: { transferId: T, reason: 'INSUFFICIENT_FUNDS', at } },
    { type: 'TransferRejected', data: { transferId: T, reason: 'ACCOUNT_FROZEN', at } },
    { type: 'TransferRejected', data: { transferId: T, reason: 'ACCOUNT_CLOSED', at } },
  ],
  TransferCancelled: [
    { type: 'TransferCancelled', data: { transferId: T, reason: 'VOIDED', at } },
    { type: 'TransferCancelled', data: { transferId: T, reason: 'EXPIRED', at } },
    { type: 'TransferCancelled', data: { transferId: T, reason: 'CREDIT_FAILED', at } },
  ],
};

const allAccount: AccountEvent[] = Object.values(accountSamples).flat();
const allTransfer: TransferEvent[] = Object.values(transferSamples).flat();

/** Through the store and back: serialize, JSON text, parse. */
const throughJson = (event: LedgerEvent) => {
  const { type, data } = serializeEvent(event);
  return { type, data: JSON.parse(JSON.stringify(data)) as unknown, metadata: schemaMetadata() };
};

describe('serialization round trip', () => {
  it.each(allAccount.map((e) => [e.type, e] as const))('%s', (_, event) => {
    expect(parseAccountEvent(throughJson(event))).toEqual(event);
    expect(parseEvent(throughJson(event))).toEqual(event);
  });

  it.each(allTransfer.map((e) => [e.type, e] as const))('%s', (_, event) => {
    expect(parseTransferEvent(throughJson(event))).toEqual(event);
    expect(parseEvent(throughJson(event))).toEqual(event);
  });

  it('covers every event type', () => {
    expect(new Set(allAccount.map((e) => e.type))).toEqual(new Set(accountEventTypes));
    expect(new Set(allTransfer.map((e) => e.type))).toEqual(new Set(transferEventTypes));
  });
});

describe('stored form', () => {
  it('stores amounts as integer strings and dates as ISO strings', () => {
    expect(serializeEvent(accountSamples.FundsDebited[0])).toEqual({
      type: 'FundsDebited',
      data: {
        accountId: 'A',
        transferId: 't1',
        amountMinor: '30',
        releasedMinor: '70',
        at: '2025-03-01T12:00:00.123Z',
      },
    });
    expect(serializeEvent(accountSamples.AccountOpened[2]).data.overdraft).toEqual({
      kind: 'limit',
      limitMinor: '9223372036854775807',
    });
  });

  it('leaves absent optional fields absent', () => {
    const { data } = serializeEvent(transferSamples.TransferRequested[0]);
    expect(Object.keys(data).sort()).toEqual(
      ['amountMinor', 'currency', 'destinationAccount', 'mode', 'requestedAt', 'sourceAccount', 'transferId'].sort(),
    );
  });

  it('refuses to encode an event the domain must never produce', () => {
    const bad = { type: 'FundsHeld', data: { accountId: 'A', transferId: 't', amountMinor: 0n, at } } as const;
    expect(() => serializeEvent(bad)).toThrow(InvariantViolation);
    const badDate = { type: 'AccountFrozen', data: { accountId: 'A', at: new Date(Number.NaN) } } as const;
    expect(() => serializeEvent(badDate)).toThrow(InvariantViolation);
  });
});

describe('decoding rejects bad stored data', () => {
  const held = (amountMinor: unknown, extra: Record<string, unknown> = {}) => ({
    type: 'FundsHeld',
    data: { accountId: 'A', transferId: 't1', amountMinor, at: '2025-03-01T12:00:00.000Z', ...extra },
  });

  it.each<[string, unknown]>([
    ['a decimal', '1.5'],
    ['a leading zero', '01'],
    ['a JSON number', 100],
    ['a zero amount', '0'],
    ['a negative amount', '-5'],
    ['an empty string', ''],
    ['an exponent', '1e3'],
  ])('an amount that is %s', (_, amount) => {
    expect(() => parseAccountEvent(held(amount))).toThrow(EventDecodeError);
  });

  it('accepts a large integer exactly', () => {
    const event = parseAccountEvent(held('123456789012345678901234567890'));
    expect(event.type === 'FundsHeld' && event.data.amountMinor).toBe(123456789012345678901234567890n);
  });

  it('a missing field, an invalid date, an unknown reason or overdraft kind', () => {
    expect(() =>
      parseAccountEvent({ type: 'FundsHeld', data: { accountId: 'A', amountMinor: '1', at: '2025-03-01T12:00:00Z' } }),
    ).toThrow(EventDecodeError);
    expect(() => parseAccountEvent(held('1', { at: 'yesterday' }))).toThrow(EventDecodeError);
    expect(() =>
      parseTransferEvent({
        type: 'TransferCancelled',
        data: { transferId: 't', reason: 'BORED', at: '2025-03-01T12:00:00Z' },
      }),
    ).toThrow(EventDecodeError);
    expect(() =>
      parseAccountEvent({
        type: 'AccountOpened',
        data: {
          accountId: 'A',
          currency: 'USD',
          overdraft: { kind: 'some' },
          metadata: {},
          openedAt: '2025-03-01T12:00:00Z',
        },
      }),
    ).toThrow(EventDecodeError);
    expect(() => parseAccountEvent({ type: 'FundsHeld', data: null })).toThrow(EventDecodeError);
  });

  it('names the failing field', () => {
    try {
      parseAccountEvent(held('x'));
      throw new Error('expected a decode error');
    } catch (error) {
      expect(error).toBeInstanceOf(EventDecodeError);
      expect((error as EventDecodeError).issues.join()).toMatch(/^amountMinor: /);
      expect((error as EventDecodeError).code).toBe('EVENT_DECODE_FAILED');
    }
  });

  it('an event of the wrong stream category or an unknown type', () => {
    expect(() => parseAccountEvent(throughJson(transferSamples.TransferHeld[0]))).toThrow(EventDecodeError);
    expect(() => parseTransferEvent(throughJson(accountSamples.AccountClosed[0]))).toThrow(EventDecodeError);
    expect(() => parseEvent({ type: 'SomethingElse', data: {} })).toThrow(EventDecodeError);
  });

  it('accepts dates with an offset, as the same instant', () => {
    const event = parseAccountEvent(held('1', { at: '2025-03-01T14:00:00+02:00' }));
    expect(event.type === 'FundsHeld' && event.data.at.toISOString()).toBe('2025-03-01T12:00:00.000Z');
  });
});

describe('schema versions', () => {
  const stored = (metadata: unknown) => ({ ...serializeEvent(accountSamples.AccountFrozen[0]), metadata });

  it('writes and reads the current version', () => {
    expect(schemaVersion).toBe(1);
    expect(schemaMetadata()).toEqual({ schemaVersion: 1 });
    expect(storedSchemaVersion(stored({ schemaVersion: 1 }))).toBe(1);
  });

  it('treats events without a version as version 1', () => {
    expect(storedSchemaVersion(stored(undefined))).toBe(1);
    expect(storedSchemaVersion(stored({ correlationId: 'x' }))).toBe(1);
    expect(parseAccountEvent(stored({}))).toEqual(accountSamples.AccountFrozen[0]);
  });

  it('refuses versions it cannot read', () => {
    expect(() => parseAccountEvent(stored({ schemaVersion: 2 }))).toThrow(EventDecodeError);
    expect(() => parseAccountEvent(stored({ schemaVersion: '1' }))).toThrow(EventDecodeError);
    expect(() => parseAccountEvent(stored({ schemaVersion: 0 }))).toThrow(EventDecodeError);
  });

  it('upcasts version 1 as the identity', () => {
    const data = { accountId: 'A' };
    expect(upcast('AccountFrozen', 1, data)).toBe(data);
  });
});

describe('event type names', () => {
  it('tells account and transfer events apart', () => {
    expect(accountEventTypes.every(isAccountEventType)).toBe(true);
    expect(transferEventTypes.every(isTransferEventType)).toBe(true);
    expect(accountEventTypes.some(isTransferEventType)).toBe(false);
    expect(isAccountEventType('toString')).toBe(false);
  });
});

describe('JSON comparison', () => {
  it('ignores key order, not values or array order', () => {
    expect(canonicalJson({ b: 1, a: [2, { d: null, c: 'x' }] })).toBe('{"a":[2,{"c":"x","d":null}],"b":1}');
    expect(jsonEquals({ a: 1, b: 2 }, { b: 2, a: 1 })).toBe(true);
    expect(jsonEquals({ a: [1, 2] }, { a: [2, 1] })).toBe(false);
    expect(jsonEquals(undefined, undefined)).toBe(true);
    expect(jsonEquals(undefined, {})).toBe(false);
  });
});

describe('stream names', () => {
  it('builds and parses account and transfer streams', () => {
    expect(accountStream('acc-1')).toBe('account-acc-1');
    expect(transferStream('t-1')).toBe('transfer-t-1');
    expect(parseAccountStream('account-acc-1')).toBe('acc-1');
    expect(parseTransferStream('transfer-t-1')).toBe('t-1');
    expect(parseAccountStream('transfer-t-1')).toBeNull();
    expect(parseAccountStream('account-')).toBeNull();
    expect(parseStream('account-x')).toEqual({ category: 'account', id: 'x' });
    expect(parseStream('transfer-x')).toEqual({ category: 'transfer', id: 'x' });
    expect(parseStream('$projection-x')).toBeNull();
  });
});
