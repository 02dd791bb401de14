import {
  accountDecider,
  assertAccountInvariant,
  availableFloorMinor,
  availableMinor,
  evolveAccount,
  initialAccountState,
  maxAmountMinor,
  type AccountCommand,
  type AccountEvent,
  type Overdraft,
} from '../../src/domain/account';
import { InvariantViolation, type TransferCancelReason } from '../../src/domain/errors';
import type { JsonObject } from '../../src/domain/events';
import { specFor } from '../support/decider';

const { given } = specFor(accountDecider);
const now = new Date('2025-03-01T12:00:00.000Z');
const A = 'A';

// ---- events -----------------------------------------------------------------------------
const opened = (overdraft: Overdraft = { kind: 'none' }, metadata: JsonObject = {}): AccountEvent => ({
  type: 'AccountOpened',
  data: { accountId: A, currency: 'USD', overdraft, metadata, openedAt: now },
});
const credited = (transferId: string, amountMinor: bigint): AccountEvent => ({
  type: 'FundsCredited',
  data: { accountId: A, transferId, amountMinor, at: now },
});
const held = (transferId: string, amountMinor: bigint): AccountEvent => ({
  type: 'FundsHeld',
  data: { accountId: A, transferId, amountMinor, at: now },
});
const released = (transferId: string, amountMinor: bigint, reason: TransferCancelReason = 'VOIDED'): AccountEvent => ({
  type: 'HoldReleased',
  data: { accountId: A, transferId, amountMinor, reason, at: now },
});
const debited = (transferId: string, amountMinor: bigint, releasedMinor = 0n): AccountEvent => ({
  type: 'FundsDebited',
  data: { accountId: A, transferId, amountMinor, releasedMinor, at: now },
});
const frozen: AccountEvent = { type: 'AccountFrozen', data: { accountId: A, at: now } };
const unfrozen: AccountEvent = { type: 'AccountUnfrozen', data: { accountId: A, at: now } };
const closed: AccountEvent = { type: 'AccountClosed', data: { accountId: A, at: now } };

// ---- commands ---------------------------------------------------------------------------
const open = (
  overrides: Partial<{ accountId: string; currency: string; overdraft: Overdraft; metadata: JsonObject }> = {},
): AccountCommand => ({
  type: 'OpenAccount',
  data: { accountId: A, currency: 'USD', overdraft: { kind: 'none' }, now, ...overrides },
});
const hold = (transferId: string, amountMinor: bigint, currency = 'USD'): AccountCommand => ({
  type: 'HoldFunds',
  data: { accountId: A, transferId, amountMinor, currency, now },
});
const release = (transferId: string, reason: TransferCancelReason = 'VOIDED'): AccountCommand => ({
  type: 'ReleaseHold',
  data: { accountId: A, transferId, reason, now },
});
const debit = (transferId: string, amountMinor?: bigint): AccountCommand => ({
  type: 'DebitFunds',
  data: { accountId: A, transferId, now, ...(amountMinor !== undefined && { amountMinor }) },
});
const credit = (transferId: string, amountMinor: bigint, currency = 'USD'): AccountCommand => ({
  type: 'CreditFunds',
  data: { accountId: A, transferId, amountMinor, currency, now },
});
const freeze: AccountCommand = { type: 'FreezeAccount', data: { accountId: A, now } };
const unfreeze: AccountCommand = { type: 'UnfreezeAccount', data: { accountId: A, now } };
const close: AccountCommand = { type: 'CloseAccount', data: { accountId: A, now } };

const limit = (limitMinor: bigint): Overdraft => ({ kind: 'limit', limitMinor });

describe('OpenAccount', () => {
  it('opens an account with no overdraft and empty metadata by default', () => {
    given([]).when(open()).then([opened()]);
  });

  it('keeps the overdraft and metadata', () => {
    given([])
      .when(open({ overdraft: limit(500n), metadata: { team: 'ops', tags: ['a'] } }))
      .then([opened(limit(500n), { team: 'ops', tags: ['a'] })]);
    given([])
      .when(open({ overdraft: { kind: 'unlimited' } }))
      .then([opened({ kind: 'unlimited' })]);
  });

  it('is a no-op when the same account is opened again with the same attributes', () => {
    given([opened(limit(5n), { a: 1, b: { c: 2 } })])
      .when(open({ overdraft: limit(5n), metadata: { b: { c: 2 }, a: 1 } }))
      .thenNothingHappens();
  });

  it.each<[string, AccountCommand]>([
    ['currency', open({ currency: 'EUR' })],
    ['overdraft kind', open({ overdraft: { kind: 'unlimited' } })],
    ['overdraft limit', open({ overdraft: limit(6n) })],
    ['metadata', open({ overdraft: limit(5n), metadata: { a: 2 } })],
  ])('rejects opening an existing account with a different %s', (_, command) => {
    given([opened(limit(5n), { a: 1 })])
      .when(command)
      .thenRejects('ACCOUNT_EXISTS');
  });

  it('rejects opening a closed account again', () => {
    given([opened(), closed])
      .when(open({ currency: 'EUR' }))
      .thenRejects('ACCOUNT_EXISTS');
  });

  it.each<[string, AccountCommand]>([
    ['an invalid id', open({ accountId: '-bad' })],
    ['an empty id', open({ accountId: '' })],
    ['a lower-case currency', open({ currency: 'usd' })],
    ['a zero overdraft limit', open({ overdraft: limit(0n) })],
    ['a negative overdraft limit', open({ overdraft: limit(-1n) })],
    ['an overdraft limit above 2^63-1', open({ overdraft: limit(maxAmountMinor + 1n) })],
  ])('rejects %s', (_, command) => {
    given([]).when(command).thenRejects('INVALID_COMMAND');
  });
});

describe('commands on an account that was never opened', () => {
  it.each<AccountCommand>([hold('t1', 1n), release('t1'), debit('t1'), credit('t1', 1n), freeze, unfreeze, close])(
    '$type → ACCOUNT_NOT_FOUND',
    (command) => {
      given([]).when(command).thenRejects('ACCOUNT_NOT_FOUND');
    },
  );

  it('rejects a command addressed to another account', () => {
    given([opened()])
      .when({ type: 'FreezeAccount', data: { accountId: 'B', now } })
      .thenRejects('INVALID_COMMAND');
  });
});

describe('HoldFunds', () => {
  it('holds funds up to exactly the available balance without overdraft', () => {
    given([opened(), credited('t0', 100n)])
      .when(hold('t1', 100n))
      .then([held('t1', 100n)]);
  });

  it('rejects one minor unit beyond the available balance without overdraft', () => {
    given([opened(), credited('t0', 100n)])
      .when(hold('t1', 101n))
      .thenRejects('INSUFFICIENT_FUNDS');
    given([opened()]).when(hold('t1', 1n)).thenRejects('INSUFFICIENT_FUNDS');
  });

  it('counts existing holds against available', () => {
    const history = [opened(), credited('t0', 100n), held('t1', 60n)];
    given(history)
      .when(hold('t2', 40n))
      .then([held('t2', 40n)]);
    given(history).when(hold('t2', 41n)).thenRejects('INSUFFICIENT_FUNDS');
  });

  it('lets available go down to exactly minus the overdraft limit, not one unit further', () => {
    given([opened(limit(50n))])
      .when(hold('t1', 50n))
      .then([held('t1', 50n)]);
    given([opened(limit(50n))])
      .when(hold('t1', 51n))
      .thenRejects('INSUFFICIENT_FUNDS');
    given([opened(limit(50n)), credited('t0', 100n)])
      .when(hold('t1', 150n))
      .then([held('t1', 150n)]);
    given([opened(limit(50n)), credited('t0', 100n)])
      .when(hold('t1', 151n))
      .thenRejects('INSUFFICIENT_FUNDS');
    given([opened(limit(50n)), held('t1', 30n)])
      .when(hold('t2', 21n))
      .thenRejects('INSUFFICIENT_FUNDS');
  });

  it('has no bound with an unlimited overdraft, short of 64-bit overflow', () => {
    given([opened({ kind: 'unlimited' })])
      .when(hold('t1', maxAmountMinor))
      .then([held('t1', maxAmountMinor)]);
    given([opened({ kind: 'unlimited' }), held('t1', maxAmountMinor)])
      .when(hold('t2', 1n))
      .thenRejects('BALANCE_OVERFLOW');
  });

  it('is a no-op when the transfer already holds here (exactly once)', () => {
    given([opened(), credited('t0', 100n), held('t1', 60n)])
      .when(hold('t1', 60n))
      .thenNothingHappens();
  });

  it('is a no-op when the transfer held and was since released or debited', () => {
    given([opened(), credited('t0', 100n), held('t1', 100n), released('t1', 100n)])
      .when(hold('t1', 100n))
      .thenNothingHappens();
    // Insufficient funds now, but the hold already happened once: no second effect, no error.
    given([opened(), credited('t0', 100n), held('t1', 100n), debited('t1', 100n)])
      .when(hold('t1', 100n))
      .thenNothingHappens();
  });

  it('refuses to send from a frozen or closed account', () => {
    given([opened(), credited('t0', 100n), frozen])
      .when(hold('t1', 1n))
      .thenRejects('ACCOUNT_FROZEN');
    given([opened(), closed]).when(hold('t1', 1n)).thenRejects('ACCOUNT_CLOSED');
  });

  it('sends again once unfrozen', () => {
    given([opened(), credited('t0', 100n), frozen, unfrozen])
      .when(hold('t1', 1n))
      .then([held('t1', 1n)]);
  });

  it('rejects a hold in another currency', () => {
    given([opened(), credited('t0', 100n)])
      .when(hold('t1', 1n, 'EUR'))
      .thenRejects('CURRENCY_MISMATCH');
  });

  it.each<[string, AccountCommand]>([
    ['a zero amount', hold('t1', 0n)],
    ['a negative amount', hold('t1', -5n)],
    ['an amount above 2^63-1', hold('t1', maxAmountMinor + 1n)],
    ['an empty transfer id', hold('', 1n)],
  ])('rejects %s', (_, command) => {
    given([opened({ kind: 'unlimited' })])
      .when(command)
      .thenRejects('INVALID_COMMAND');
  });
});

describe('ReleaseHold', () => {
  it('releases the whole hold with its reason', () => {
    given([opened(), credited('t0', 100n), held('t1', 70n)])
      .when(release('t1', 'EXPIRED'))
      .then([released('t1', 70n, 'EXPIRED')]);
  });

  it('is a no-op when the hold was already released', () => {
    given([opened(), credited('t0', 100n), held('t1', 70n), released('t1', 70n)])
      .when(release('t1'))
      .thenNothingHappens();
  });

  it('rejects releasing a hold that never existed', () => {
    given([opened()]).when(release('t1')).thenRejects('HOLD_NOT_FOUND');
  });

  it('rejects releasing a hold that was debited', () => {
    given([opened(), credited('t0', 100n), held('t1', 70n), debited('t1', 70n)])
      .when(release('t1'))
      .thenRejects('HOLD_ALREADY_DEBITED');
  });

  it('releases on a frozen account (it gives money back, it sends nothing)', () => {
    given([opened(), credited('t0', 100n), held('t1', 70n), frozen])
      .when(release('t1', 'CREDIT_FAILED'))
      .then([released('t1', 70n, 'CREDIT_FAILED')]);
  });
});

describe('DebitFunds', () => {
  const history = [opened(), credited('t0', 100n), held('t1', 80n)];

  it('captures the whole hold by default', () => {
    given(history)
      .when(debit('t1'))
      .then([debited('t1', 80n, 0n)]);
    given(history)
      .when(debit('t1', 80n))
      .then([debited('t1', 80n, 0n)]);
  });

  it('captures part of the hold and releases the rest', () => {
    given(history)
      .when(debit('t1', 30n))
      .then([debited('t1', 30n, 50n)]);
    given(history)
      .when(debit('t1', 30n))
      .thenState((state) => {
        expect(state.postedMinor).toBe(70n);
        expect(state.heldMinor).toBe(0n);
        expect(availableMinor(state)).toBe(70n);
        expect(state.holds.size).toBe(0);
      });
  });

  it('rejects debiting more than the hold', () => {
    given(history).when(debit('t1', 81n)).thenRejects('DEBIT_EXCEEDS_HOLD');
  });

  it('rejects a zero or negative capture', () => {
    given(history).when(debit('t1', 0n)).thenRejects('INVALID_COMMAND');
    given(history).when(debit('t1', -1n)).thenRejects('INVALID_COMMAND');
  });

  it('is a no-op when the hold was already captured', () => {
    given([...history, debited('t1', 30n, 50n)])
      .when(debit('t1', 30n))
      .thenNothingHappens();
    given([...history, debited('t1', 80n)])
      .when(debit('t1'))
      .thenNothingHappens();
  });

  it('rejects debiting a hold that never existed', () => {
    given(history).when(debit('t2')).thenRejects('HOLD_NOT_FOUND');
  });

  it('rejects debiting a hold that was released (the money is no longer reserved)', () => {
    given([...history, released('t1', 80n)])
      .when(debit('t1'))
      .thenRejects('HOLD_ALREADY_RELEASED');
  });

  it('captures a hold taken before the account was frozen (the transfer was already decided)', () => {
    given([...history, frozen])
      .when(debit('t1'))
      .then([debited('t1', 80n)]);
  });
});

describe('CreditFunds', () => {
  it('credits the account', () => {
    given([opened()])
      .when(credit('t1', 250n))
      .then([credited('t1', 250n)]);
  });

  it('is a no-op when the transfer already credited here (exactly once)', () => {
    given([opened(), credited('t1', 250n)])
      .when(credit('t1', 250n))
      .thenNothingHappens();
    // Even after a freeze: the credit happened before it.
    given([opened(), credited('t1', 250n), frozen])
      .when(credit('t1', 250n))
      .thenNothingHappens();
  });

  it('refuses to receive on a frozen or closed account', () => {
    given([opened(), frozen]).when(credit('t1', 1n)).thenRejects('ACCOUNT_FROZEN');
    given([opened(), closed]).when(credit('t1', 1n)).thenRejects('ACCOUNT_CLOSED');
  });

  it('rejects a credit in another currency', () => {
    given([opened()])
      .when(credit('t1', 1n, 'JPY'))
      .thenRejects('CURRENCY_MISMATCH');
  });

  it('rejects a credit that would overflow 64 bits', () => {
    given([opened(), credited('t0', maxAmountMinor)])
      .when(credit('t1', 1n))
      .thenRejects('BALANCE_OVERFLOW');
    given([opened(), credited('t0', maxAmountMinor - 1n)])
      .when(credit('t1', 1n))
      .then([credited('t1', 1n)]);
  });

  it('rejects invalid amounts', () => {
    given([opened()]).when(credit('t1', 0n)).thenRejects('INVALID_COMMAND');
    given([opened()])
      .when(credit('t1', maxAmountMinor + 1n))
      .thenRejects('INVALID_COMMAND');
  });
});

describe('FreezeAccount / UnfreezeAccount', () => {
  it('freezes an open account and unfreezes a frozen one', () => {
    given([opened()]).when(freeze).then([frozen]);
    given([opened(), frozen]).when(unfreeze).then([unfrozen]);
  });

  it('is a no-op when already in the asked state', () => {
    given([opened(), frozen]).when(freeze).thenNothingHappens();
    given([opened()]).when(unfreeze).thenNothingHappens();
    given([opened(), frozen, unfrozen]).when(unfreeze).thenNothingHappens();
  });

  it('rejects freezing or unfreezing a closed account', () => {
    given([opened(), closed]).when(freeze).thenRejects('ACCOUNT_CLOSED');
    given([opened(), closed]).when(unfreeze).thenRejects('ACCOUNT_CLOSED');
  });
});

describe('CloseAccount', () => {
  it('closes an empty account, open or frozen', () => {
    given([opened()]).when(close).then([closed]);
    given([opened(), frozen]).when(close).then([closed]);
    given([opened(), credited('t0', 10n), held('t1', 10n), debited('t1', 10n)])
      .when(close)
      .then([closed]);
  });

  it('is a no-op on a closed account', () => {
    given([opened(), closed]).when(close).thenNothingHappens();
  });

  it('rejects closing with a non-zero posted balance', () => {
    given([opened(), credited('t0', 1n)])
      .when(close)
      .thenRejects('ACCOUNT_NOT_EMPTY');
    given([opened(limit(10n)), held('t1', 10n), debited('t1', 10n)])
      .when(close)
      .thenRejects('ACCOUNT_NOT_EMPTY');
  });

  it('rejects closing with an active hold, even at zero posted', () => {
    given([opened(limit(10n)), held('t1', 5n)])
      .when(close)
      .thenRejects('ACCOUNT_NOT_EMPTY');
  });
});

describe('state and invariants', () => {
  const fold = (events: AccountEvent[]) => events.reduce(evolveAccount, initialAccountState());

  it('folds balances, holds and processed transfers', () => {
    const state = fold([
      opened(limit(100n)),
      credited('c1', 500n),
      held('h1', 200n),
      held('h2', 300n),
      debited('h1', 150n, 50n),
      released('h2', 300n),
      held('h3', 400n),
    ]);
    expect(state.status).toBe('open');
    expect(state.postedMinor).toBe(350n);
    expect(state.heldMinor).toBe(400n);
    expect(availableMinor(state)).toBe(-50n);
    expect([...state.holds]).toEqual([['h3', 400n]]);
    expect([...state.creditedTransferIds]).toEqual(['c1']);
    expect([...state.debitedTransferIds]).toEqual(['h1']);
    expect([...state.releasedTransferIds]).toEqual(['h2']);
  });

  it('tracks status through freeze, unfreeze and close', () => {
    expect(fold([opened(), frozen]).status).toBe('frozen');
    expect(fold([opened(), frozen, unfrozen]).status).toBe('open');
    expect(fold([opened(), closed]).status).toBe('closed');
    expect(initialAccountState().status).toBe('none');
  });

  it('knows the floor of each overdraft kind', () => {
    expect(availableFloorMinor({ kind: 'none' })).toBe(0n);
    expect(availableFloorMinor(limit(7n))).toBe(-7n);
    expect(availableFloorMinor({ kind: 'unlimited' })).toBeNull();
  });

  it('fails loudly when a history breaks the overdraft bound', () => {
    expect(() => fold([opened(), credited('c1', 10n), held('h1', 11n)])).toThrow(InvariantViolation);
    expect(() => fold([opened(limit(5n)), held('h1', 6n)])).toThrow(InvariantViolation);
    expect(() => fold([opened({ kind: 'unlimited' }), held('h1', 10n ** 12n)])).not.toThrow();
  });

  it('assertAccountInvariant rejects impossible states', () => {
    const base = fold([opened(), credited('c1', 10n)]);
    expect(() => assertAccountInvariant(base)).not.toThrow();
    expect(() => assertAccountInvariant({ ...base, heldMinor: 11n, holds: new Map([['h', 11n]]) })).toThrow(
      InvariantViolation,
    );
    expect(() => assertAccountInvariant({ ...base, heldMinor: 5n })).toThrow(InvariantViolation);
    expect(() => assertAccountInvariant({ ...base, heldMinor: -1n })).toThrow(InvariantViolation);
  });

  it('never hands out the same collections twice from initialAccountState', () => {
    const a = initialAccountState();
    const b = initialAccountState();
    expect(a.creditedTransferIds).not.toBe(b.creditedTransferIds);
    expect(a.holds).not.toBe(b.holds);
  });
});
