/**
 * The zod schemas for every request body, query, path parameter and header, and the one
 * way to apply them (`validate`, which throws ValidationFailed with a problem per field).
 *
 * Amounts are checked for shape here (a string or a number); their value is read with
 * parseAmount once the currency is known (`toMinor`), because for a transfer that is the
 * accounts' currency, found only by looking the accounts up.
 */
import { z } from 'zod';
import { maxBatchTransfers, maxIdempotencyKeyLength } from '../commands/transfer-commands';
import { accountIdPattern, type Overdraft } from '../domain/account';
import type { JsonObject } from '../domain/events';
import { isCurrency, MoneyError, parseAmount } from '../domain/money';
import {
  maxDescriptionLength,
  maxPendingTimeoutSeconds,
  transferIdPattern,
  type TransferStatus,
} from '../domain/transfer';
import { type FieldProblem, ValidationFailed } from './problems';

export const maxMetadataBytes = 4_096;
export const maxMetadataDepth = 16;
export const defaultPageLimit = 50;
export const maxPageLimit = 500;
export const maxPreferWaitSeconds = 30;
export const maxCursorChars = 256;
const maxPosition = 2n ** 63n - 1n;

// ---- applying a schema ----------------------------------------------------------------

/** Parses `input` or throws ValidationFailed; `root` names the part when a problem has no path. */
export function validate<S extends z.ZodType>(schema: S, input: unknown, root: string): z.output<S> {
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  throw new ValidationFailed(fieldProblems(result.error, root));
}

export function fieldProblems(error: z.ZodError, root: string): FieldProblem[] {
  return error.issues.flatMap((issue): FieldProblem[] => {
    const base = issue.path.map(String).join('.');
    if (issue.code === 'unrecognized_keys') {
      return issue.keys.map((key) => ({ path: base ? `${base}.${key}` : key, message: 'is not a known field' }));
    }
    return [{ path: base || root, message: issue.message }];
  });
}

/** An amount in minor units of `currency`, or ValidationFailed naming `path`. */
export function toMinor(amount: string | number, currency: string, path: string): bigint {
  try {
    return parseAmount(amount, currency);
  } catch (err) {
    if (err instanceof MoneyError) throw new ValidationFailed([{ path, message: err.message }]);
    throw err;
  }
}

// ---- building blocks ------------------------------------------------------------------

const idRule = 'must be 1 to 64 characters: letters, digits, ".", "_", ":" or "-", starting with a letter or a digit';
export const accountId = z.string().regex(accountIdPattern, idRule);
export const transferId = z.string().regex(transferIdPattern, idRule);
export const currencyCode = z.string().refine(isCurrency, 'must be an active ISO 4217 currency code such as "USD"');
/** Only the shape: the value is read by `toMinor` with the right currency. */
export const amountInput = z.custom<string | number>(
  (v) => typeof v === 'string' || typeof v === 'number',
  'must be a decimal string such as "10.50" (or a JSON number that is exact)',
);

/** NUL and unpaired surrogates: PostgreSQL refuses them in text and jsonb, or changes them. */
const unpairedSurrogate = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
const storableRule = 'must not contain NUL characters or unpaired surrogates';
const isStorable = (s: string) => !s.includes('\u0000') && !unpairedSurrogate.test(s);

const description = z
  .string()
  .max(maxDescriptionLength, `must be at most ${maxDescriptionLength} characters`)
  .refine(isStorable, storableRule);

/** Why `value` is not acceptable metadata, or null. Iterative: a deep body cannot blow the stack. */
export function metadataProblem(value: unknown): string | null {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return 'must be a JSON object';
  const stack: { node: unknown; depth: number }[] = [{ node: value, depth: 1 }];
  while (stack.length > 0) {
    const { node, depth } = stack.pop()!;
    if (typeof node === 'string') {
      if (!isStorable(node)) return `strings ${storableRule}`;
    } else if (typeof node === 'number') {
      if (!Number.isFinite(node)) return 'numbers must be finite';
    } else if (typeof node === 'object' && node !== null) {
      if (depth > maxMetadataDepth) return `must not be nested deeper than ${maxMetadataDepth} levels`;
      const entries = Array.isArray(node) ? node.map((v): [string, unknown] => ['', v]) : Object.entries(node);
      for (const [key, child] of entries) {
        // JSON.parse makes "__proto__" an own key; zod and plain copies would silently drop it.
        if (key === '__proto__') return 'keys must not be "__proto__"';
        if (!isStorable(key)) return `keys ${storableRule}`;
        stack.push({ node: child, depth: depth + 1 });
      }
    }
  }
  if (Buffer.byteLength(JSON.stringify(value), 'utf8') > maxMetadataBytes) {
    return `must be at most ${maxMetadataBytes} bytes serialised`;
  }
  return null;
}

export const metadata = z
  .unknown()
  .superRefine((value, ctx) => {
    const problem = metadataProblem(value);
    if (problem !== null) ctx.addIssue({ code: 'custom', message: problem });
  })
  .transform((value) => value as JsonObject);

// ---- accounts -------------------------------------------------------------------------

export const openAccountBody = z
  .strictObject({
    id: accountId.optional(),
    currency: currencyCode,
    overdraft: z.union([z.literal('none'), z.literal('unlimited'), amountInput]).optional(),
    metadata: metadata.optional(),
  })
  .transform((body, ctx) => {
    let overdraft: Overdraft = { kind: 'none' };
    if (body.overdraft === 'unlimited') overdraft = { kind: 'unlimited' };
    else if (body.overdraft !== undefined && body.overdraft !== 'none') {
      try {
        overdraft = { kind: 'limit', limitMinor: parseAmount(body.overdraft, body.currency) };
      } catch (err) {
        if (!(err instanceof MoneyError)) throw err;
        ctx.issues.push({
          code: 'custom',
          message: `${err.message} (or "none" / "unlimited")`,
          input: body.overdraft,
          path: ['overdraft'],
        });
        return z.NEVER;
      }
    }
    return { id: body.id, currency: body.currency, overdraft, metadata: body.metadata };
  });

/** Routes that take no body accept none, or an empty object. */
export const emptyBody = z.strictObject({}).optional();

// ---- transfers ------------------------------------------------------------------------

export const transferBody = z.strictObject({
  id: transferId.optional(),
  sourceAccount: accountId,
  destinationAccount: accountId,
  amount: amountInput,
  currency: currencyCode.optional(),
  description: description.optional(),
  metadata: metadata.optional(),
  mode: z.enum(['immediate', 'pending']).optional(),
  timeoutSeconds: z
    .number()
    .int('must be a whole number of seconds')
    .min(1, 'must be at least 1')
    .max(maxPendingTimeoutSeconds, `must be at most ${maxPendingTimeoutSeconds}`)
    .optional(),
});
export type TransferBody = z.output<typeof transferBody>;

/** Items are validated one by one (`transferBody`), so one bad item does not fail the batch. */
export const batchBody = z.strictObject({
  transfers: z
    .array(z.unknown())
    .min(1, 'must hold at least one transfer')
    .max(maxBatchTransfers, `must hold at most ${maxBatchTransfers} transfers`),
});

export const commitBody = z.strictObject({ amount: amountInput.optional() }).optional();

export const transferStatuses = [
  'REQUESTED',
  'HELD',
  'CREDITED',
  'COMMITTED',
  'REJECTED',
  'CANCELLED',
] as const satisfies readonly TransferStatus[];

// ---- the seed system's routes ---------------------------------------------------------

export const idempotencyKey = z
  .string()
  .min(1, 'must not be empty')
  .max(maxIdempotencyKeyLength, `must be at most ${maxIdempotencyKeyLength} characters`)
  .regex(/^[\x20-\x7E]+$/, 'must be printable ASCII');

export const seedTransferBody = z.strictObject({
  sourceAccount: accountId,
  destinationAccount: accountId,
  amount: amountInput,
  description: description.optional(),
  idempotencyKey: idempotencyKey.optional(),
});

// ---- path parameters and queries ------------------------------------------------------

export const accountParams = z.object({ id: accountId });
export const transferParams = z.object({ id: transferId });
export const transactionParams = z.object({ txId: transferId });

const limit = z
  .string()
  .regex(/^[1-9][0-9]{0,3}$/, `must be a whole number from 1 to ${maxPageLimit}`)
  .transform(Number)
  .refine((n) => n <= maxPageLimit, `must be a whole number from 1 to ${maxPageLimit}`);
const cursor = z.string().min(1).max(maxCursorChars);

/** Routes that take no query parameters refuse any. */
export const emptyQuery = z.strictObject({});

export const pageQuery = z.strictObject({ limit: limit.optional(), cursor: cursor.optional() });

export const transferListQuery = z.strictObject({
  limit: limit.optional(),
  cursor: cursor.optional(),
  account: accountId.optional(),
  status: z.enum(transferStatuses).optional(),
});

export const balanceQuery = z.strictObject({
  asOf: z.iso
    .datetime({ offset: true, message: 'must be an RFC 3339 date-time such as "2024-05-01T12:00:00Z"' })
    .optional(),
});

// ---- headers --------------------------------------------------------------------------

export const minPositionHeader = z
  .string()
  .regex(/^(0|[1-9][0-9]{0,18})$/, 'must be an event-store position (a non-negative integer)')
  .transform((s) => BigInt(s))
  .refine((p) => p <= maxPosition, 'must be an event-store position (a non-negative integer)');

/** RFC 7240 `Prefer`; only `wait` is understood, other preferences are ignored. */
export const preferWait = z
  .string()
  .regex(/^(0|[1-9][0-9]?)$/, `wait must be a whole number of seconds from 0 to ${maxPreferWaitSeconds}`)
  .transform(Number)
  .refine((n) => n <= maxPreferWaitSeconds, `wait must be a whole number of seconds from 0 to ${maxPreferWaitSeconds}`);
