/**
 * Transfer decider, stream `transfer-{transferId}`: the transfer's own record of where it
 * is. The transfer process (src/commands) reads it, acts on the accounts, and records
 * each step here. Domain types use bigint and Date; src/domain/events.ts is the only place
 * that knows the stored JSON form.
 *
 *   immediate: REQUESTED → HELD → CREDITED → COMMITTED
 *   pending:   REQUESTED → HELD (waits for a decision)
 *                commit  → CREDITED (commit amount) → COMMITTED
 *                void / expiry → CANCELLED (VOIDED / EXPIRED)
 *   the hold fails → REJECTED{reason}; the credit fails → CANCELLED{CREDIT_FAILED}
 *
 * A client's commit/void (and the reconciler's expiry) is recorded as a decision event
 * while the transfer is still HELD — TransferCommitRequested / TransferVoidRequested —
 * before the process acts on it, so two decisions can never both win: the stream's
 * expected revision serialises them.
 *
 * Process steps (MarkHeld, MarkCredited, MarkCommitted, RejectTransfer, CancelTransfer)
 * are idempotent: a step the transfer has already taken returns [], so the process may
 * retry after a crash. Client decisions are not: a second commit/void → TRANSFER_NOT_PENDING.
 */
import { DomainError, type TransferCancelReason, type TransferRejectReason } from './errors';
import { accountIdPattern, currencyCodePattern, maxAmountMinor } from './account';
import { jsonEquals, type JsonObject } from './events';

export const defaultPendingTimeoutSeconds = 300;
export const maxPendingTimeoutSeconds = 604_800;
export const maxDescriptionLength = 512;
/** Transfer ids follow the account id rule: safe in stream names, URLs and keys (UUIDs fit). */
export const transferIdPattern = accountIdPattern;

export type TransferMode = 'immediate' | 'pending';
export type TransferStatus = 'REQUESTED' | 'HELD' | 'CREDITED' | 'COMMITTED' | 'REJECTED' | 'CANCELLED';
/** Why a pending transfer is to be cancelled: the client voided it, or it timed out. */
export type VoidReason = Extract<TransferCancelReason, 'VOIDED' | 'EXPIRED'>;

export const terminalTransferStatuses: readonly TransferStatus[] = ['COMMITTED', 'REJECTED', 'CANCELLED'];

export function isTerminalTransferStatus(status: TransferStatus | 'NONE'): boolean {
  return (terminalTransferStatuses as readonly string[]).includes(status);
}

// ---- events -------------------------------------------------------------------------

type Event<Type extends string, Data> = {
  readonly type: Type;
  readonly data: Readonly<Data & { transferId: string }>;
};

export type TransferRequested = Event<
  'TransferRequested',
  {
    sourceAccount: string;
    destinationAccount: string;
    amountMinor: bigint;
    currency: string;
    mode: TransferMode;
    description?: string;
    metadata?: JsonObject;
    requestedAt: Date;
    /** Pending mode only: requestedAt + timeoutSeconds. */
    expiresAt?: Date;
  }
>;
export type TransferHeld = Event<'TransferHeld', { at: Date }>;
export type TransferCommitRequested = Event<'TransferCommitRequested', { amountMinor: bigint; at: Date }>;
export type TransferVoidRequested = Event<'TransferVoidRequested', { reason: VoidReason; at: Date }>;
export type TransferCredited = Event<'TransferCredited', { amountMinor: bigint; at: Date }>;
export type TransferCommitted = Event<'TransferCommitted', { amountMinor: bigint; at: Date }>;
export type TransferRejected = Event<'TransferRejected', { reason: TransferRejectReason; at: Date }>;
export type TransferCancelled = Event<'TransferCancelled', { reason: TransferCancelReason; at: Date }>;

export type TransferEvent =
  | TransferRequested
  | TransferHeld
  | TransferCommitRequested
  | TransferVoidRequested
  | TransferCredited
  | TransferCommitted
  | TransferRejected
  | TransferCancelled;

// ---- commands -----------------------------------------------------------------------

type Command<Type extends string, Data> = {
  readonly type: Type;
  readonly data: Readonly<Data & { transferId: string; now: Date }>;
};

export type TransferCommand =
  | Command<
      'RequestTransfer',
      {
        sourceAccount: string;
        destinationAccount: string;
        amountMinor: bigint;
        currency: string;
        mode: TransferMode;
        description?: string;
        metadata?: JsonObject;
        /** Pending mode only (ignored for immediate); default 300. */
        timeoutSeconds?: number;
      }
    >
  | Command<'MarkHeld', object>
  | Command<'MarkCredited', object>
  | Command<'MarkCommitted', object>
  | Command<'RejectTransfer', { reason: TransferRejectReason }>
  | Command<'CancelTransfer', { reason: TransferCancelReason }>
  /** Client commit of a pending transfer; `amountMinor` 1..held (default: all), rest released. */
  | Command<'RequestCommit', { amountMinor?: bigint }>
  | Command<'RequestVoid', object>
  /** Reconciler: a no-op unless the transfer is pending, HELD, undecided and due. */
  | Command<'ExpireTransfer', object>;

// ---- state --------------------------------------------------------------------------

export type TransferDecision =
  | { readonly kind: 'commit'; readonly amountMinor: bigint; readonly at: Date }
  | { readonly kind: 'void'; readonly reason: VoidReason; readonly at: Date };

export interface TransferStep {
  readonly status: TransferStatus;
  readonly at: Date;
}

export interface TransferState {
  readonly status: TransferStatus | 'NONE';
  readonly request: TransferRequested['data'] | null;
  readonly decision: TransferDecision | null;
  readonly creditedMinor: bigint | null;
  readonly committedMinor: bigint | null;
  readonly reason: TransferRejectReason | TransferCancelReason | null;
  readonly steps: readonly TransferStep[];
  readonly updatedAt: Date | null;
}

export function initialTransferState(): TransferState {
  return {
    status: 'NONE',
    request: null,
    decision: null,
    creditedMinor: null,
    committedMinor: null,
    reason: null,
    steps: [],
    updatedAt: null,
  };
}

// ---- evolve -------------------------------------------------------------------------

export function evolveTransfer(state: TransferState, event: TransferEvent): TransferState {
  switch (event.type) {
    case 'TransferRequested':
      return step({ ...state, request: event.data }, 'REQUESTED', event.data.requestedAt);
    case 'TransferHeld':
      return step(state, 'HELD', event.data.at);
    case 'TransferCommitRequested': {
      const { amountMinor, at } = event.data;
      return { ...state, decision: { kind: 'commit', amountMinor, at }, updatedAt: at };
    }
    case 'TransferVoidRequested': {
      const { reason, at } = event.data;
      return { ...state, decision: { kind: 'void', reason, at }, updatedAt: at };
    }
    case 'TransferCredited':
      return step({ ...state, creditedMinor: event.data.amountMinor }, 'CREDITED', event.data.at);
    case 'TransferCommitted':
      return step({ ...state, committedMinor: event.data.amountMinor }, 'COMMITTED', event.data.at);
    case 'TransferRejected':
      return step({ ...state, reason: event.data.reason }, 'REJECTED', event.data.at);
    case 'TransferCancelled':
      return step({ ...state, reason: event.data.reason }, 'CANCELLED', event.data.at);
    default: {
      const _exhaustive: never = event;
      return _exhaustive;
    }
  }
}

function step(state: TransferState, status: TransferStatus, at: Date): TransferState {
  return { ...state, status, steps: [...state.steps, { status, at }], updatedAt: at };
}

// ---- decide -------------------------------------------------------------------------

export function decideTransfer(command: TransferCommand, state: TransferState): TransferEvent[] {
  if (command.type === 'RequestTransfer') return requestTransfer(command.data, state);
  const { transferId, now: at } = command.data;
  const request = state.request;
  if (request === null) {
    throw new DomainError('TRANSFER_NOT_FOUND', `transfer ${transferId} does not exist`, { transferId });
  }
  if (request.transferId !== transferId) {
    throw new DomainError('INVALID_COMMAND', `command for ${transferId} sent to ${request.transferId}`);
  }

  switch (command.type) {
    case 'MarkHeld':
      if (reached(state, 'HELD')) return [];
      requireStatus(state, 'REQUESTED', command.type);
      return [{ type: 'TransferHeld', data: { transferId, at } }];
    case 'MarkCredited': {
      if (reached(state, 'CREDITED')) return [];
      requireStatus(state, 'HELD', command.type);
      const amountMinor = creditAmountMinor(state);
      if (amountMinor === null) throw invalidTransition(state, `${command.type} without a commit decision`);
      return [{ type: 'TransferCredited', data: { transferId, amountMinor, at } }];
    }
    case 'MarkCommitted': {
      if (reached(state, 'COMMITTED')) return [];
      requireStatus(state, 'CREDITED', command.type);
      const amountMinor = state.creditedMinor ?? request.amountMinor;
      return [{ type: 'TransferCommitted', data: { transferId, amountMinor, at } }];
    }
    case 'RejectTransfer': {
      const { reason } = command.data;
      if (state.status === 'REJECTED' && state.reason === reason) return [];
      requireStatus(state, 'REQUESTED', `${command.type}(${reason})`);
      return [{ type: 'TransferRejected', data: { transferId, reason, at } }];
    }
    case 'CancelTransfer': {
      const { reason } = command.data;
      if (state.status === 'CANCELLED' && state.reason === reason) return [];
      requireStatus(state, 'HELD', `${command.type}(${reason})`);
      const decision = state.decision;
      const allowed =
        reason === 'CREDIT_FAILED'
          ? request.mode === 'immediate' || decision?.kind === 'commit'
          : decision?.kind === 'void' && decision.reason === reason;
      if (!allowed) throw invalidTransition(state, `${command.type}(${reason}) does not match the decision`);
      return [{ type: 'TransferCancelled', data: { transferId, reason, at } }];
    }
    case 'RequestCommit': {
      requireUndecidedPending(state, at);
      const amountMinor = command.data.amountMinor ?? request.amountMinor;
      if (amountMinor <= 0n || amountMinor > request.amountMinor) {
        throw new DomainError('INVALID_COMMAND', `commit amount must be 1..${request.amountMinor} minor units`, {
          transferId,
        });
      }
      return [{ type: 'TransferCommitRequested', data: { transferId, amountMinor, at } }];
    }
    case 'RequestVoid':
      requireUndecidedPending(state, at);
      return [{ type: 'TransferVoidRequested', data: { transferId, reason: 'VOIDED', at } }];
    case 'ExpireTransfer':
      if (!isExpirable(state, at)) return [];
      return [{ type: 'TransferVoidRequested', data: { transferId, reason: 'EXPIRED', at } }];
    default: {
      const _exhaustive: never = command;
      return _exhaustive;
    }
  }
}

/**
 * A new transfer. Re-requesting an existing id with the same attributes is a no-op ([]);
 * with different ones → TRANSFER_EXISTS. `now` (requestedAt) is not compared: a retry
 * happens later by nature.
 */
function requestTransfer(
  data: Extract<TransferCommand, { type: 'RequestTransfer' }>['data'],
  state: TransferState,
): TransferEvent[] {
  const { transferId, sourceAccount, destinationAccount, amountMinor, currency, mode, now } = data;
  const invalid = (message: string) => new DomainError('INVALID_COMMAND', message, { transferId });
  if (!transferIdPattern.test(transferId)) throw invalid(`invalid transfer id ${JSON.stringify(transferId)}`);
  if (!accountIdPattern.test(sourceAccount)) throw invalid('invalid sourceAccount');
  if (!accountIdPattern.test(destinationAccount)) throw invalid('invalid destinationAccount');
  if (sourceAccount === destinationAccount) throw invalid('sourceAccount equals destinationAccount');
  if (amountMinor <= 0n || amountMinor > maxAmountMinor) throw invalid(`amount must be 1..${maxAmountMinor}`);
  if (!currencyCodePattern.test(currency)) throw invalid(`invalid currency ${JSON.stringify(currency)}`);
  if (data.description !== undefined && data.description.length > maxDescriptionLength) {
    throw invalid(`description longer than ${maxDescriptionLength}`);
  }
  const timeoutSeconds = data.timeoutSeconds ?? defaultPendingTimeoutSeconds;
  if (!Number.isInteger(timeoutSeconds) || timeoutSeconds < 1 || timeoutSeconds > maxPendingTimeoutSeconds) {
    throw invalid(`timeoutSeconds must be an integer 1..${maxPendingTimeoutSeconds}`);
  }

  const existing = state.request;
  if (existing !== null) {
    const existingTimeoutSeconds =
      existing.expiresAt === undefined
        ? undefined
        : (existing.expiresAt.getTime() - existing.requestedAt.getTime()) / 1000;
    const same =
      existing.transferId === transferId &&
      existing.sourceAccount === sourceAccount &&
      existing.destinationAccount === destinationAccount &&
      existing.amountMinor === amountMinor &&
      existing.currency === currency &&
      existing.mode === mode &&
      existing.description === data.description &&
      jsonEquals(existing.metadata, data.metadata) &&
      (mode === 'immediate' || existingTimeoutSeconds === timeoutSeconds);
    if (same) return [];
    throw new DomainError('TRANSFER_EXISTS', `transfer ${transferId} exists with other attributes`, {
      transferId,
    });
  }

  const requested: TransferRequested['data'] = {
    transferId,
    sourceAccount,
    destinationAccount,
    amountMinor,
    currency,
    mode,
    requestedAt: now,
    ...(data.description !== undefined && { description: data.description }),
    ...(data.metadata !== undefined && { metadata: data.metadata }),
    ...(mode === 'pending' && { expiresAt: new Date(now.getTime() + timeoutSeconds * 1000) }),
  };
  return [{ type: 'TransferRequested', data: requested }];
}

/** What the credit (and then the debit) moves: the whole amount, or the commit amount. */
export function creditAmountMinor(state: TransferState): bigint | null {
  if (state.request === null) return null;
  if (state.request.mode === 'immediate') return state.request.amountMinor;
  return state.decision?.kind === 'commit' ? state.decision.amountMinor : null;
}

/** Pending, HELD, no decision yet, and its timeout has passed. */
export function isExpirable(state: TransferState, now: Date): boolean {
  const expiresAt = state.request?.expiresAt;
  return (
    state.status === 'HELD' &&
    state.decision === null &&
    expiresAt !== undefined &&
    now.getTime() >= expiresAt.getTime()
  );
}

function reached(state: TransferState, status: TransferStatus): boolean {
  return state.steps.some((s) => s.status === status);
}

function requireStatus(state: TransferState, status: TransferStatus, what: string): void {
  if (state.status !== status) throw invalidTransition(state, `${what} needs ${status}`);
}

function invalidTransition(state: TransferState, message: string): DomainError {
  const transferId = state.request?.transferId ?? '';
  return new DomainError('INVALID_TRANSITION', `transfer ${transferId} is ${state.status}: ${message}`, {
    transferId,
    status: state.status,
  });
}

/** Client commit/void: only a pending transfer in HELD, undecided, and not yet expired. */
function requireUndecidedPending(state: TransferState, now: Date): void {
  const request = state.request;
  const transferId = request?.transferId ?? '';
  const notPending = (why: string) =>
    new DomainError('TRANSFER_NOT_PENDING', `transfer ${transferId} ${why}`, { transferId, status: state.status });
  if (request === null || request.mode !== 'pending') throw notPending('is not a pending transfer');
  if (state.status !== 'HELD') throw notPending(`is ${state.status}`);
  if (state.decision !== null) throw notPending(`was already decided (${state.decision.kind})`);
  if (request.expiresAt !== undefined && now.getTime() >= request.expiresAt.getTime()) {
    throw notPending('has expired');
  }
}

export const transferDecider = {
  decide: decideTransfer,
  evolve: evolveTransfer,
  initialState: initialTransferState,
} as const;
