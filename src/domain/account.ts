/**
 * Account decider, stream `account-{accountId}`.
 *
 * Representation (the one approach used throughout src/domain): domain events and
 * commands carry `bigint` minor units and `Date`s. Only src/domain/events.ts knows the
 * stored JSON form (amounts as integer strings, dates as ISO strings): it decodes stored
 * events into these types with zod and encodes them back.
 *
 * Money model: `posted` moves only on FundsCredited / FundsDebited; a hold reserves money
 * (`held`) until it is debited (captured, all or part; the rest released) or released.
 * `available = posted − held` never drops below −overdraft (unlimited: no bound).
 *
 * Exactly-once: every money command is keyed by its transferId. Repeating a step the
 * account has already taken for that transfer returns [] (no second effect), so the
 * transfer process can retry anything after a crash.
 */
import { DomainError, invariant, type TransferCancelReason } from './errors';
import { jsonEquals, type JsonObject } from './events';

/** Largest amount or balance magnitude: a signed 64-bit integer, like the read models' columns. */
export const maxAmountMinor = 2n ** 63n - 1n;

/** Account ids are safe in stream names, URLs and keys (the API's rule). */
export const accountIdPattern = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$/;
export const currencyCodePattern = /^[A-Z]{3}$/;

export type Overdraft =
  { readonly kind: 'none' } | { readonly kind: 'unlimited' } | { readonly kind: 'limit'; readonly limitMinor: bigint };

// ---- events -------------------------------------------------------------------------

type Event<Type extends string, Data> = { readonly type: Type; readonly data: Readonly<Data> };

export type AccountOpened = Event<
  'AccountOpened',
  { accountId: string; currency: string; overdraft: Overdraft; metadata: JsonObject; openedAt: Date }
>;
export type FundsHeld = Event<'FundsHeld', { accountId: string; transferId: string; amountMinor: bigint; at: Date }>;
export type HoldReleased = Event<
  'HoldReleased',
  { accountId: string; transferId: string; amountMinor: bigint; reason: TransferCancelReason; at: Date }
>;
/** `amountMinor` is captured into posted; `releasedMinor` (maybe 0) is the rest of the hold, freed. */
export type FundsDebited = Event<
  'FundsDebited',
  { accountId: string; transferId: string; amountMinor: bigint; releasedMinor: bigint; at: Date }
>;
export type FundsCredited = Event<
  'FundsCredited',
  { accountId: string; transferId: string; amountMinor: bigint; at: Date }
>;
export type AccountFrozen = Event<'AccountFrozen', { accountId: string; at: Date }>;
export type AccountUnfrozen = Event<'AccountUnfrozen', { accountId: string; at: Date }>;
export type AccountClosed = Event<'AccountClosed', { accountId: string; at: Date }>;

export type AccountEvent =
  | AccountOpened
  | FundsHeld
  | HoldReleased
  | FundsDebited
  | FundsCredited
  | AccountFrozen
  | AccountUnfrozen
  | AccountClosed;

// ---- commands -----------------------------------------------------------------------

type Command<Type extends string, Data> = {
  readonly type: Type;
  readonly data: Readonly<Data & { accountId: string; now: Date }>;
};

export type AccountCommand =
  | Command<'OpenAccount', { currency: string; overdraft: Overdraft; metadata?: JsonObject }>
  /** `currency` is the transfer's: a hold in another currency is refused (CURRENCY_MISMATCH). */
  | Command<'HoldFunds', { transferId: string; amountMinor: bigint; currency: string }>
  | Command<'ReleaseHold', { transferId: string; reason: TransferCancelReason }>
  /** Captures `amountMinor` (default: the whole hold) and releases the rest of the hold. */
  | Command<'DebitFunds', { transferId: string; amountMinor?: bigint }>
  | Command<'CreditFunds', { transferId: string; amountMinor: bigint; currency: string }>
  | Command<'FreezeAccount', object>
  | Command<'UnfreezeAccount', object>
  | Command<'CloseAccount', object>;

// ---- state --------------------------------------------------------------------------

export type AccountStatus = 'none' | 'open' | 'frozen' | 'closed';

export interface AccountState {
  readonly status: AccountStatus;
  readonly accountId: string | null;
  readonly currency: string | null;
  readonly overdraft: Overdraft;
  readonly metadata: JsonObject;
  readonly openedAt: Date | null;
  readonly postedMinor: bigint;
  readonly heldMinor: bigint;
  /** Active holds by transferId: transfers between hold and debit/release. */
  readonly holds: ReadonlyMap<string, bigint>;
  /*
   * Transfers whose hold was released / debited, and transfers credited here: what makes
   * repeated steps no-ops. They grow forever (one id per transfer ever seen), which is
   * acceptable for now; a snapshot or a retention horizon would bound them later.
   * To keep folding O(1) per event (a hot account can have thousands of holds open),
   * evolveAccount changes `holds` and these Sets IN PLACE: they are shared between
   * successive states. So once a state has been evolved, the older state is spent: do not
   * decide on it or read its collections again. decideAccount never evolves its input.
   */
  readonly releasedTransferIds: ReadonlySet<string>;
  readonly debitedTransferIds: ReadonlySet<string>;
  readonly creditedTransferIds: ReadonlySet<string>;
}

export function initialAccountState(): AccountState {
  return {
    status: 'none',
    accountId: null,
    currency: null,
    overdraft: { kind: 'none' },
    metadata: {},
    openedAt: null,
    postedMinor: 0n,
    heldMinor: 0n,
    holds: new Map(),
    releasedTransferIds: new Set(),
    debitedTransferIds: new Set(),
    creditedTransferIds: new Set(),
  };
}

export function availableMinor(state: AccountState): bigint {
  return state.postedMinor - state.heldMinor;
}

/** The lowest `available` may go: −limit, 0 for none, null when unlimited. */
export function availableFloorMinor(overdraft: Overdraft): bigint | null {
  switch (overdraft.kind) {
    case 'none':
      return 0n;
    case 'unlimited':
      return null;
    case 'limit':
      return -overdraft.limitMinor;
    default: {
      const _exhaustive: never = overdraft;
      return _exhaustive;
    }
  }
}

/** Throws InvariantViolation if the account's money is in an impossible state. O(1). */
export function assertAccountInvariant(state: AccountState): void {
  const available = availableMinor(state);
  const floor = availableFloorMinor(state.overdraft);
  invariant(
    floor === null || available >= floor,
    `account ${state.accountId}: available ${available} below floor ${floor}`,
  );
  invariant(state.heldMinor >= 0n, `account ${state.accountId}: negative held ${state.heldMinor}`);
  invariant(
    (state.holds.size === 0) === (state.heldMinor === 0n),
    `account ${state.accountId}: held ${state.heldMinor} with ${state.holds.size} holds`,
  );
  invariant(
    state.postedMinor <= maxAmountMinor && state.postedMinor >= -maxAmountMinor,
    `account ${state.accountId}: posted ${state.postedMinor} out of range`,
  );
}

/** What an event does to the account's posted and held balances (zero for the others). */
export function balanceChange(event: AccountEvent): { posted: bigint; held: bigint } {
  switch (event.type) {
    case 'FundsHeld':
      return { posted: 0n, held: event.data.amountMinor };
    case 'HoldReleased':
      return { posted: 0n, held: -event.data.amountMinor };
    case 'FundsDebited':
      return { posted: -event.data.amountMinor, held: -(event.data.amountMinor + event.data.releasedMinor) };
    case 'FundsCredited':
      return { posted: event.data.amountMinor, held: 0n };
    default:
      return { posted: 0n, held: 0n };
  }
}

// ---- evolve -------------------------------------------------------------------------

export function evolveAccount(state: AccountState, event: AccountEvent): AccountState {
  switch (event.type) {
    case 'AccountOpened': {
      const { accountId, currency, overdraft, metadata, openedAt } = event.data;
      return { ...state, status: 'open', accountId, currency, overdraft, metadata, openedAt };
    }
    case 'FundsHeld': {
      const { transferId, amountMinor } = event.data;
      return checked({
        ...state,
        heldMinor: state.heldMinor + amountMinor,
        holds: (state.holds as Map<string, bigint>).set(transferId, amountMinor),
      });
    }
    case 'HoldReleased': {
      const { transferId, amountMinor } = event.data;
      grow(state.releasedTransferIds, transferId);
      return checked({
        ...state,
        heldMinor: state.heldMinor - amountMinor,
        holds: withoutHold(state.holds, transferId),
      });
    }
    case 'FundsDebited': {
      const { transferId, amountMinor, releasedMinor } = event.data;
      grow(state.debitedTransferIds, transferId);
      return checked({
        ...state,
        postedMinor: state.postedMinor - amountMinor,
        heldMinor: state.heldMinor - amountMinor - releasedMinor,
        holds: withoutHold(state.holds, transferId),
      });
    }
    case 'FundsCredited': {
      grow(state.creditedTransferIds, event.data.transferId);
      return checked({ ...state, postedMinor: state.postedMinor + event.data.amountMinor });
    }
    case 'AccountFrozen':
      return { ...state, status: 'frozen' };
    case 'AccountUnfrozen':
      return { ...state, status: 'open' };
    case 'AccountClosed':
      return { ...state, status: 'closed' };
    default: {
      const _exhaustive: never = event;
      return _exhaustive;
    }
  }
}

function checked(state: AccountState): AccountState {
  assertAccountInvariant(state);
  return state;
}

/** Deliberate mutation, as in `grow`: see the comment on AccountState. */
function withoutHold(holds: ReadonlyMap<string, bigint>, transferId: string): ReadonlyMap<string, bigint> {
  (holds as Map<string, bigint>).delete(transferId);
  return holds;
}

/** Deliberate mutation: see the comment on AccountState. */
function grow(ids: ReadonlySet<string>, transferId: string): void {
  (ids as Set<string>).add(transferId);
}

// ---- decide -------------------------------------------------------------------------

export function decideAccount(command: AccountCommand, state: AccountState): AccountEvent[] {
  const { accountId, now } = command.data;
  if (command.type === 'OpenAccount') return openAccount(command.data, state);
  if (state.status === 'none') {
    throw new DomainError('ACCOUNT_NOT_FOUND', `account ${accountId} does not exist`, { accountId });
  }
  if (state.accountId !== accountId) {
    throw new DomainError('INVALID_COMMAND', `command for ${accountId} sent to ${state.accountId}`);
  }
  const at = now;

  switch (command.type) {
    case 'HoldFunds': {
      const { transferId, amountMinor, currency } = command.data;
      requireTransferId(transferId);
      requireAmount(amountMinor);
      if (wasHeld(state, transferId)) return [];
      requireCanMoveMoney(state, currency);
      const heldAfter = state.heldMinor + amountMinor;
      const availableAfter = state.postedMinor - heldAfter;
      const floor = availableFloorMinor(state.overdraft);
      if (heldAfter > maxAmountMinor || availableAfter < -maxAmountMinor) {
        throw new DomainError('BALANCE_OVERFLOW', `hold of ${amountMinor} overflows ${accountId}`);
      }
      if (floor !== null && availableAfter < floor) {
        throw new DomainError('INSUFFICIENT_FUNDS', `available ${availableMinor(state)} < ${amountMinor}`, {
          accountId,
          transferId,
        });
      }
      return [{ type: 'FundsHeld', data: { accountId, transferId, amountMinor, at } }];
    }
    case 'ReleaseHold': {
      const { transferId, reason } = command.data;
      const held = state.holds.get(transferId);
      if (held === undefined) return settledHold(state, transferId, 'released');
      return [{ type: 'HoldReleased', data: { accountId, transferId, amountMinor: held, reason, at } }];
    }
    case 'DebitFunds': {
      const { transferId } = command.data;
      const held = state.holds.get(transferId);
      if (held === undefined) return settledHold(state, transferId, 'debited');
      const amountMinor = command.data.amountMinor ?? held;
      requireAmount(amountMinor);
      if (amountMinor > held) {
        throw new DomainError('DEBIT_EXCEEDS_HOLD', `debit ${amountMinor} exceeds hold ${held}`, {
          accountId,
          transferId,
        });
      }
      const releasedMinor = held - amountMinor;
      return [{ type: 'FundsDebited', data: { accountId, transferId, amountMinor, releasedMinor, at } }];
    }
    case 'CreditFunds': {
      const { transferId, amountMinor, currency } = command.data;
      requireTransferId(transferId);
      requireAmount(amountMinor);
      if (state.creditedTransferIds.has(transferId)) return [];
      requireCanMoveMoney(state, currency);
      if (state.postedMinor + amountMinor > maxAmountMinor) {
        throw new DomainError('BALANCE_OVERFLOW', `credit of ${amountMinor} overflows ${accountId}`);
      }
      return [{ type: 'FundsCredited', data: { accountId, transferId, amountMinor, at } }];
    }
    case 'FreezeAccount':
      if (state.status === 'frozen') return [];
      requireNotClosed(state);
      return [{ type: 'AccountFrozen', data: { accountId, at } }];
    case 'UnfreezeAccount':
      if (state.status === 'open') return [];
      requireNotClosed(state);
      return [{ type: 'AccountUnfrozen', data: { accountId, at } }];
    case 'CloseAccount':
      if (state.status === 'closed') return [];
      if (state.postedMinor !== 0n || state.heldMinor !== 0n || state.holds.size > 0) {
        throw new DomainError(
          'ACCOUNT_NOT_EMPTY',
          `account ${accountId} has posted ${state.postedMinor} and ${state.holds.size} holds`,
          { accountId },
        );
      }
      return [{ type: 'AccountClosed', data: { accountId, at } }];
    default: {
      const _exhaustive: never = command;
      return _exhaustive;
    }
  }
}

/**
 * Opening is idempotent on identical attributes (returns [], so a handler can answer
 * "already exists, same account"); different attributes → ACCOUNT_EXISTS.
 */
function openAccount(
  data: Extract<AccountCommand, { type: 'OpenAccount' }>['data'],
  state: AccountState,
): AccountEvent[] {
  const { accountId, currency, overdraft, now } = data;
  const metadata = data.metadata ?? {};
  if (!accountIdPattern.test(accountId)) {
    throw new DomainError('INVALID_COMMAND', `invalid account id ${JSON.stringify(accountId)}`);
  }
  if (!currencyCodePattern.test(currency)) {
    throw new DomainError('INVALID_COMMAND', `invalid currency ${JSON.stringify(currency)}`);
  }
  if (overdraft.kind === 'limit') requireAmount(overdraft.limitMinor);
  if (state.status !== 'none') {
    const same =
      state.accountId === accountId &&
      state.currency === currency &&
      sameOverdraft(state.overdraft, overdraft) &&
      jsonEquals(state.metadata, metadata);
    if (same) return [];
    throw new DomainError('ACCOUNT_EXISTS', `account ${accountId} exists with other attributes`, {
      accountId,
    });
  }
  return [{ type: 'AccountOpened', data: { accountId, currency, overdraft, metadata, openedAt: now } }];
}

function sameOverdraft(a: Overdraft, b: Overdraft): boolean {
  if (a.kind === 'limit' && b.kind === 'limit') return a.limitMinor === b.limitMinor;
  return a.kind === b.kind;
}

/** A transfer that ever held here: its hold is active, released or debited. */
function wasHeld(state: AccountState, transferId: string): boolean {
  return (
    state.holds.has(transferId) || state.releasedTransferIds.has(transferId) || state.debitedTransferIds.has(transferId)
  );
}

/**
 * No active hold for a release/debit: repeating the same step is a no-op; the other
 * step is a conflict (a released hold can no longer be captured — returning [] would
 * let a transfer commit without its debit — and a debited one can no longer be released).
 */
function settledHold(state: AccountState, transferId: string, step: 'released' | 'debited'): [] {
  const released = state.releasedTransferIds.has(transferId);
  const debited = state.debitedTransferIds.has(transferId);
  if ((step === 'released' && released) || (step === 'debited' && debited)) return [];
  const details = { accountId: state.accountId ?? '', transferId };
  if (released) throw new DomainError('HOLD_ALREADY_RELEASED', `hold ${transferId} was released`, details);
  if (debited) throw new DomainError('HOLD_ALREADY_DEBITED', `hold ${transferId} was debited`, details);
  throw new DomainError('HOLD_NOT_FOUND', `no hold for transfer ${transferId}`, details);
}

function requireCanMoveMoney(state: AccountState, currency: string): void {
  const accountId = state.accountId ?? '';
  if (state.status === 'frozen') {
    throw new DomainError('ACCOUNT_FROZEN', `account ${accountId} is frozen`, { accountId });
  }
  requireNotClosed(state);
  if (currency !== state.currency) {
    throw new DomainError('CURRENCY_MISMATCH', `account ${accountId} holds ${state.currency}, not ${currency}`, {
      accountId,
    });
  }
}

function requireNotClosed(state: AccountState): void {
  if (state.status === 'closed') {
    const accountId = state.accountId ?? '';
    throw new DomainError('ACCOUNT_CLOSED', `account ${accountId} is closed`, { accountId });
  }
}

function requireAmount(amountMinor: bigint): void {
  if (amountMinor <= 0n || amountMinor > maxAmountMinor) {
    throw new DomainError('INVALID_COMMAND', `amount ${amountMinor} must be 1..${maxAmountMinor} minor units`);
  }
}

function requireTransferId(transferId: string): void {
  if (transferId.length === 0) throw new DomainError('INVALID_COMMAND', 'transferId is empty');
}

export const accountDecider = {
  decide: decideAccount,
  evolve: evolveAccount,
  initialState: initialAccountState,
} as const;
