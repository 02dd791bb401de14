/**
 * The zod schemas for every request body, query, path parameter and header, and the one
 * way to apply them (`validate`, which throws ValidationFailed with a problem per field).
 *
 * Amounts are checked for shape here (a string or a number); their value is read with
 * parseAmount once the currency is known (`toMinor`), because for a transfer that is the
 * accounts' currency, found only by looking the accounts up.
 *
 * The same schemas generate the OpenAPI document (openapi.ts): each says what it accepts in
 * JSON Schema terms where zod can (no refinement hides a rule a client must know), and its
 * `.meta()` describes the rest.
 */
import { z } from 'zod';
import { maxListedRuns } from '../jobs/runs';
import { reconcileJobNames } from '../jobs/settings';
import { maxBatchTransfers, maxIdempotencyKeyLength } from '../commands/transfer-commands';
import { accountIdPattern, type Overdraft } from '../domain/account';
import type { JsonObject } from '../domain/events';
import { currencyExponents } from '../domain/currencies';
import { MoneyError, parseAmount } from '../domain/money';
import {
  defaultPendingTimeoutSeconds,
  maxDescriptionLength,
  maxPendingTimeoutSeconds,
  transferIdPattern,
  type TransferMode,
  type TransferStatus,
} from '../domain/transfer';
import { maxReadYourWritesWaitMs } from '../projections/consistency';
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
export const accountId = z
  .string()
  .regex(accountIdPattern, idRule)
  .meta({ description: `An account's id. It ${idRule}.`, examples: ['acc-alice'] });
export const transferId = z
  .string()
  .regex(transferIdPattern, idRule)
  .meta({
    description: `A transfer's id (a UUID when the ledger generates it). It ${idRule}.`,
    examples: ['7f0c2a4e-5b1d-4e8a-9c3f-2d6b8a1e4f90'],
  });
/** The enum is the active ISO 4217 list itself, so the document lists every accepted code. */
export const currencyCode = z
  .enum([...currencyExponents.keys()] as [string, ...string[]], {
    error: 'must be an active ISO 4217 currency code such as "USD"',
  })
  .meta({
    description:
      'An active ISO 4217 alphabetic currency code. Amounts in it have at most its ISO 4217 minor-unit exponent ' +
      'of decimals (USD 2, JPY 0, KWD 3).',
    examples: ['USD'],
  });
/** Only the shape: the value is read by `toMinor` with the right currency. */
export const amountInput = z
  .union([z.string(), z.number()], {
    error: 'must be a decimal string such as "10.50" (or a JSON number that is exact)',
  })
  .meta({
    description:
      'A positive amount in major units of the currency: a decimal string ("10.50"; JPY "1000"; KWD "1.500") with ' +
      "at most the currency's ISO 4217 exponent of decimals, no sign, exponent, spaces or leading zeros, and at most " +
      '2^63−1 minor units. A JSON number (10.5) is accepted only when it is exactly that decimal (at most 15 ' +
      'significant digits); send a string otherwise. Anything else is 422.',
    examples: ['10.50'],
  });

/** NUL and unpaired surrogates: PostgreSQL refuses them in text and jsonb, or changes them. */
const unpairedSurrogate = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
const storableRule = 'must not contain NUL characters or unpaired surrogates';
const isStorable = (s: string) => !s.includes('\u0000') && !unpairedSurrogate.test(s);

const description = z
  .string()
  .max(maxDescriptionLength, `must be at most ${maxDescriptionLength} characters`)
  .refine(isStorable, storableRule)
  .meta({
    description: `Free text shown with the transfer and on statements: at most ${maxDescriptionLength} characters; it ${storableRule}.`,
  });

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

/** z.unknown, not z.record: a record would copy the object and drop a "__proto__" key unseen. */
export const metadata = z
  .unknown()
  .superRefine((value, ctx) => {
    const problem = metadataProblem(value);
    if (problem !== null) ctx.addIssue({ code: 'custom', message: problem });
  })
  .transform((value) => value as JsonObject)
  .meta({
    type: 'object',
    description:
      `Your own data, kept with the account or transfer: a JSON object of at most ${maxMetadataBytes} bytes serialised, ` +
      `nested at most ${maxMetadataDepth} levels, with finite numbers, no NUL characters or unpaired surrogates in ` +
      'strings or keys, and no "__proto__" key.',
    examples: [{ orderId: 'ord-1001' }],
  });

// ---- accounts -------------------------------------------------------------------------

export const overdraftInput = z.union([z.literal('none'), z.literal('unlimited'), amountInput]).meta({
  description:
    'How far `available` may go below zero: "none" (the default), "unlimited" (a funding or settlement account ' +
    "that brings outside money in), or a limit as an amount in the account's currency.",
  examples: ['none'],
});

export const openAccountBody = z
  .strictObject({
    id: accountId.optional().meta({ description: 'Generated (a UUID) when absent.' }),
    currency: currencyCode,
    overdraft: overdraftInput.optional(),
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

const transferModes = ['immediate', 'pending'] as const satisfies readonly TransferMode[];
export const transferMode = z.enum(transferModes).meta({
  description:
    '"immediate" moves the money as soon as it can; "pending" holds it (status HELD) until commit, void or the ' +
    'timeout.',
});

export const transferBody = z.strictObject({
  id: transferId.optional().meta({
    description: 'Generated (a UUID) when absent. Re-submitting an id returns that transfer; it is unique forever.',
  }),
  sourceAccount: accountId,
  destinationAccount: accountId,
  amount: amountInput,
  currency: currencyCode.optional().meta({
    description: "When given, it must be the accounts' currency (422 CURRENCY_MISMATCH otherwise).",
  }),
  description: description.optional(),
  metadata: metadata.optional(),
  mode: transferMode.optional().meta({ description: 'Default "immediate".' }),
  timeoutSeconds: z
    .number()
    .int('must be a whole number of seconds')
    .min(1, 'must be at least 1')
    .max(maxPendingTimeoutSeconds, `must be at most ${maxPendingTimeoutSeconds}`)
    .optional()
    .meta({
      description:
        `Pending mode: seconds until an undecided hold expires (CANCELLED, reason EXPIRED). ` +
        `Default ${defaultPendingTimeoutSeconds}.`,
    }),
});
export type TransferBody = z.output<typeof transferBody>;

/** Validated one by one (`transferBody`), so one bad item does not fail the batch. */
export const batchItem = z.unknown();

export const batchBody = z.strictObject({
  transfers: z
    .array(batchItem)
    .min(1, 'must hold at least one transfer')
    .max(maxBatchTransfers, `must hold at most ${maxBatchTransfers} transfers`),
});

export const commitBody = z
  .strictObject({
    amount: amountInput.optional().meta({
      description: 'At most the held amount; the rest is released. Default: the whole held amount.',
    }),
  })
  .optional();

export const transferStatuses = [
  'REQUESTED',
  'HELD',
  'CREDITED',
  'COMMITTED',
  'REJECTED',
  'CANCELLED',
] as const satisfies readonly TransferStatus[];
export const transferStatus = z.enum(transferStatuses).meta({
  description:
    'REQUESTED → HELD → CREDITED → COMMITTED; or REJECTED (from REQUESTED) or CANCELLED (from HELD). ' +
    'COMMITTED, REJECTED and CANCELLED are terminal.',
});

// ---- the seed system's routes ---------------------------------------------------------

export const idempotencyKey = z
  .string()
  .min(1, 'must not be empty')
  .max(maxIdempotencyKeyLength, `must be at most ${maxIdempotencyKeyLength} characters`)
  .regex(/^[\x20-\x7E]+$/, 'must be printable ASCII')
  .meta({
    description:
      `1 to ${maxIdempotencyKeyLength} printable ASCII characters. The same key with the same body returns the ` +
      'same transfer (Idempotent-Replayed: true), never a second one; with a different body → 422 ' +
      'IDEMPOTENCY_KEY_REUSED; while the first request with it is still being accepted → 409 ' +
      'IDEMPOTENCY_KEY_IN_USE (retry). Keys are remembered at least 24 hours, per API key when access control is on.',
    examples: ['order-1001-payment'],
  });

export const seedTransferBody = z.strictObject({
  sourceAccount: accountId,
  destinationAccount: accountId,
  amount: amountInput,
  description: description.optional(),
  idempotencyKey: idempotencyKey.optional().meta({
    description: 'As the Idempotency-Key header; when both are sent they must be equal.',
  }),
});

// ---- path parameters and queries ------------------------------------------------------

export const accountParams = z.object({ id: accountId });
export const transferParams = z.object({ id: transferId });
export const transactionParams = z.object({ txId: transferId });

const limit = z
  .string()
  .regex(/^[1-9][0-9]{0,3}$/, `must be a whole number from 1 to ${maxPageLimit}`)
  .transform(Number)
  .refine((n) => n <= maxPageLimit, `must be a whole number from 1 to ${maxPageLimit}`)
  .meta({
    description: `Page size: a whole number from 1 to ${maxPageLimit}. Default ${defaultPageLimit}.`,
    examples: [String(defaultPageLimit)],
  });
const cursor = z
  .string()
  .min(1)
  .max(maxCursorChars)
  .meta({ description: "The previous page's nextCursor, as given (opaque)." });

/** Routes that take no query parameters refuse any. */
export const emptyQuery = z.strictObject({});

// ---- reconciliation (admin) -----------------------------------------------------------

const reconcileJob = z.enum(reconcileJobNames).meta({ description: 'A reconciliation job.' });

export const reconcileJobParams = z.strictObject({ job: reconcileJob });

export const reconcileRunParams = z.strictObject({
  id: z.string().regex(/^[1-9][0-9]{0,17}$/, 'must be a run id (a positive whole number)'),
});

export const reconcileRunsQuery = z.strictObject({
  job: reconcileJob.optional().meta({ description: 'Only runs of this job.' }),
  limit: z
    .string()
    .regex(/^[1-9][0-9]{0,2}$/, `must be a whole number from 1 to ${maxListedRuns}`)
    .transform(Number)
    .refine((n) => n <= maxListedRuns, `must be a whole number from 1 to ${maxListedRuns}`)
    .optional()
    .meta({ description: `Runs to list, newest first (default 20, at most ${maxListedRuns}).` }),
});

export const reconcileTriggerBody = z
  .strictObject({
    repair: z.boolean().optional().meta({ description: 'verify-balances: re-project every account found wrong.' }),
    fromEvents: z
      .boolean()
      .optional()
      .meta({ description: 'conservation: fold the event store instead of reading the read models.' }),
  })
  .optional();

export const pageQuery = z.strictObject({ limit: limit.optional(), cursor: cursor.optional() });

export const transferListQuery = z.strictObject({
  limit: limit.optional(),
  cursor: cursor.optional(),
  account: accountId.optional().meta({ description: 'Only transfers from or to this account.' }),
  status: transferStatus.optional().meta({ description: 'Only transfers in this status.' }),
});

export const balanceQuery = z.strictObject({
  asOf: z.iso
    .datetime({ offset: true, message: 'must be an RFC 3339 date-time such as "2024-05-01T12:00:00Z"' })
    .optional()
    .meta({
      description:
        'The balance as it stood at this instant (RFC 3339, not in the future), computed from the event history ' +
        'rather than the read model.',
      examples: ['2024-05-01T12:00:00Z'],
    }),
});

// ---- headers --------------------------------------------------------------------------

export const minPositionHeader = z
  .string()
  .regex(/^(0|[1-9][0-9]{0,18})$/, 'must be an event-store position (a non-negative integer)')
  .transform((s) => BigInt(s))
  .refine((p) => p <= maxPosition, 'must be an event-store position (a non-negative integer)')
  .meta({
    description:
      'Read your writes: the Ledger-Position a write returned. The read waits until the read model has reached ' +
      `it, at most ${maxReadYourWritesWaitMs / 1000} s, else 503 PROJECTION_BEHIND.`,
    examples: ['1024'],
  });

/** RFC 7240 `Prefer`; only `wait` is understood, other preferences are ignored. */
export const preferWait = z
  .string()
  .regex(/^(0|[1-9][0-9]?)$/, `wait must be a whole number of seconds from 0 to ${maxPreferWaitSeconds}`)
  .transform(Number)
  .refine((n) => n <= maxPreferWaitSeconds, `wait must be a whole number of seconds from 0 to ${maxPreferWaitSeconds}`);
