/**
 * The ledger's one error hierarchy. Every error the ledger raises on purpose is a
 * `LedgerError` with a stable UPPER_SNAKE `code`; the HTTP layer maps codes once.
 *
 * - `DomainError`: a command was rejected by a business rule. An expected outcome
 *   (4xx, or a transfer's REJECTED/CANCELLED reason), never a bug.
 * - `InvariantViolation`: the ledger's own state broke a rule that must always hold.
 *   A bug: fail loudly (5xx, alert). Deliberately not a DomainError, so no handler that
 *   turns rejections into business outcomes can swallow it.
 * - `EventDecodeError`: a stored event does not match its schema (corrupt data or a
 *   missing upcaster). Also a bug, never a rejection.
 */

export const domainErrorCodes = [
  'INVALID_COMMAND',
  'ACCOUNT_NOT_FOUND',
  'ACCOUNT_EXISTS',
  'ACCOUNT_FROZEN',
  'ACCOUNT_CLOSED',
  'ACCOUNT_NOT_EMPTY',
  'CURRENCY_MISMATCH',
  'INSUFFICIENT_FUNDS',
  'BALANCE_OVERFLOW',
  'HOLD_NOT_FOUND',
  'HOLD_ALREADY_RELEASED',
  'HOLD_ALREADY_DEBITED',
  'DEBIT_EXCEEDS_HOLD',
  'TRANSFER_NOT_FOUND',
  'TRANSFER_EXISTS',
  'TRANSFER_NOT_PENDING',
  'INVALID_TRANSITION',
  'SAME_ACCOUNT',
  'IDEMPOTENCY_KEY_REUSED',
  'IDEMPOTENCY_KEY_IN_USE',
] as const;

export type DomainErrorCode = (typeof domainErrorCodes)[number];

/** Root of the hierarchy: anything the ledger throws on purpose. */
export class LedgerError extends Error {
  readonly code: string;

  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}

/** A command rejected by a business rule. */
export class DomainError extends LedgerError {
  declare readonly code: DomainErrorCode;
  /** Machine-readable facts for logs and problem+json `detail`; never secrets. */
  readonly details: Readonly<Record<string, string>>;

  constructor(code: DomainErrorCode, message?: string, details: Record<string, string> = {}) {
    super(code, message ?? code);
    this.details = details;
  }
}

/** A broken invariant: the ledger computed something impossible. Never catch and continue. */
export class InvariantViolation extends LedgerError {
  constructor(message: string) {
    super('INVARIANT_VIOLATED', message);
  }
}

/** A stored event that does not decode (`issues` are zod's messages, `path: message`). */
export class EventDecodeError extends LedgerError {
  readonly eventType: string;
  readonly issues: readonly string[];

  constructor(eventType: string, issues: readonly string[]) {
    super('EVENT_DECODE_FAILED', `cannot decode event ${eventType}: ${issues.join('; ')}`);
    this.eventType = eventType;
    this.issues = issues;
  }
}

export function isDomainError(error: unknown, code?: DomainErrorCode): error is DomainError {
  return error instanceof DomainError && (code === undefined || error.code === code);
}

/**
 * Rejections of a hold that end a transfer as REJECTED with the code as its `reason`.
 * Any other error from the hold step is not a business outcome and must not be recorded.
 */
export const transferRejectReasons = [
  'INSUFFICIENT_FUNDS',
  'ACCOUNT_FROZEN',
  'ACCOUNT_CLOSED',
  'ACCOUNT_NOT_FOUND',
  'CURRENCY_MISMATCH',
  'BALANCE_OVERFLOW',
] as const satisfies readonly DomainErrorCode[];

export type TransferRejectReason = (typeof transferRejectReasons)[number];

export function isTransferRejection(error: unknown): error is DomainError & { readonly code: TransferRejectReason } {
  return error instanceof DomainError && (transferRejectReasons as readonly string[]).includes(error.code);
}

/** Why a held transfer was cancelled; also the `reason` of the hold release it causes. */
export const transferCancelReasons = ['VOIDED', 'EXPIRED', 'CREDIT_FAILED'] as const;

export type TransferCancelReason = (typeof transferCancelReasons)[number];

/** Throws `InvariantViolation` when `condition` is false (TigerBeetle habit: assert in code). */
export function invariant(condition: boolean, message: string): asserts condition {
  if (!condition) throw new InvariantViolation(message);
}
