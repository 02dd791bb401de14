/**
 * The response bodies as zod schemas: what format.ts, the routes and problems.ts produce,
 * for the OpenAPI document. Strict objects, so a field the code adds without documenting
 * it fails the test that parses real responses with these (test/api/openapi.e2e.test.ts).
 */
import { z } from 'zod';
import { transferCancelReasons, transferRejectReasons } from '../domain/errors';
import { maxBatchTransfers } from '../commands/transfer-commands';
import { accountId, currencyCode, transferId, transferMode, transferStatus } from './schemas';

// ---- building blocks ------------------------------------------------------------------

export const amountText = z
  .string()
  .regex(/^-?(0|[1-9][0-9]*)(\.[0-9]+)?$/)
  .meta({
    description:
      'An amount in major units, printed at the currency\'s full scale ("10.50", never "10.5"; JPY "1000"; ' +
      'KWD "1.500"). Negative only for a balance below zero.',
    examples: ['10.50'],
  });

export const ledgerPosition = z
  .string()
  .regex(/^(0|[1-9][0-9]*)$/)
  .meta({ description: 'An event-store position: a 64-bit integer, as a string.', examples: ['1024'] });

export const timestamp = z.iso.datetime().meta({ description: 'An RFC 3339 time in UTC.' });

const jsonObject = z.record(z.string(), z.unknown()).meta({ description: 'The metadata given when it was created.' });

export const transferReason = z.enum([...transferRejectReasons, ...transferCancelReasons]).meta({
  description:
    'Why a transfer ended REJECTED (INSUFFICIENT_FUNDS, ACCOUNT_FROZEN, ACCOUNT_CLOSED, ...) or CANCELLED ' +
    '(VOIDED, EXPIRED, CREDIT_FAILED).',
});

// ---- problems (RFC 9457) --------------------------------------------------------------

export const fieldProblem = z.strictObject({
  path: z.string().meta({ description: 'The field, dotted ("transfers.3.amount"), or the header or part named.' }),
  message: z.string(),
});

export const problem = z
  .strictObject({
    type: z.string().meta({ description: 'A URI for the problem type (urn:ledger:problem:<code>).' }),
    title: z.string().meta({ description: 'The HTTP status in words.' }),
    status: z.number().int().min(400).max(599),
    detail: z.string().meta({ description: 'What went wrong with this request, for a human.' }),
    code: z
      .string()
      .regex(/^[A-Z][A-Z0-9_]*$/)
      .meta({ description: 'A stable UPPER_SNAKE identifier to branch on.', examples: ['INSUFFICIENT_FUNDS'] }),
    errors: z.array(fieldProblem).optional().meta({ description: 'With VALIDATION_FAILED: each field that is wrong.' }),
  })
  .meta({
    description:
      'An RFC 9457 problem (application/problem+json). It never carries stack traces, SQL or driver messages.',
  });

// ---- accounts -------------------------------------------------------------------------

export const balance = z.strictObject({
  accountId,
  currency: currencyCode,
  posted: amountText.meta({ description: 'Money in minus money out, committed transfers only.' }),
  held: amountText.meta({ description: 'The sum of active holds on outgoing transfers.' }),
  available: amountText.meta({ description: 'posted − held; never below minus the overdraft.' }),
  asOf: timestamp.meta({
    description: 'When this balance held: its last change, the time of the read, or the asOf asked for.',
  }),
  position: ledgerPosition.meta({ description: 'The event-store position this balance reflects.' }),
});

export const account = z.strictObject({
  id: accountId,
  currency: currencyCode,
  status: z.enum(['open', 'frozen', 'closed']).meta({
    description: 'A frozen account neither sends nor receives; a closed one never again.',
  }),
  overdraft: z.union([z.enum(['none', 'unlimited']), amountText]).meta({
    description: 'How far available may go below zero: "none", "unlimited" or a limit.',
  }),
  balance,
  metadata: jsonObject,
  createdAt: timestamp,
  version: z.int().min(0).meta({ description: "The account stream's revision: it grows with every change." }),
});

export const entry = z.strictObject({
  transferId,
  direction: z.enum(['debit', 'credit']),
  amount: amountText,
  balanceAfter: amountText.meta({ description: 'The posted balance after this entry.' }),
  description: z.string().nullable().meta({ description: "The transfer's description." }),
  at: timestamp,
  position: ledgerPosition,
});

// ---- transfers ------------------------------------------------------------------------

export const transferStep = z.strictObject({ status: transferStatus, at: timestamp });

export const transfer = z.strictObject({
  id: transferId,
  sourceAccount: accountId,
  destinationAccount: accountId,
  amount: amountText,
  currency: currencyCode,
  mode: transferMode,
  status: transferStatus,
  reason: transferReason.optional(),
  description: z.string().optional(),
  metadata: jsonObject.optional(),
  createdAt: timestamp,
  updatedAt: timestamp,
  expiresAt: timestamp.optional().meta({ description: 'Pending mode: when an undecided hold expires.' }),
  steps: z.array(transferStep).meta({ description: 'Every status the transfer has been in, oldest first.' }),
});

export const batchItemResult = z
  .strictObject({
    index: z.int().min(0).meta({ description: 'The item\'s position in "transfers".' }),
    id: z.string().max(64).optional().meta({
      description: "The transfer's id; for a refused item, the id it gave (if any).",
    }),
    status: transferStatus.optional().meta({ description: "The accepted transfer's status." }),
    error: problem.optional().meta({ description: 'Why this item was refused, as if it had been posted alone.' }),
  })
  .meta({ description: 'Either `status` (accepted) or `error` (refused).' });

export const batchResult = z.strictObject({
  items: z.array(batchItemResult).max(maxBatchTransfers).meta({ description: 'One per item, in request order.' }),
});

// ---- pages ----------------------------------------------------------------------------

function page<T extends z.ZodType>(item: T) {
  return z.strictObject({
    items: z.array(item),
    nextCursor: z.string().nullable().meta({ description: 'Pass as `cursor` for the next page; null on the last.' }),
  });
}

export const accountPage = page(account);
export const transferPage = page(transfer);
export const entryPage = page(entry);

// ---- the seed system's shapes ---------------------------------------------------------

export const seedTransactionStatus = z.strictObject({
  transactionId: transferId,
  status: transferStatus,
  reason: transferReason.optional(),
});

const health = z.enum(['UP', 'DOWN']);

export const seedHealth = z.strictObject({
  status: health.meta({ description: 'UP when every component is UP.' }),
  components: z.record(z.string(), z.strictObject({ status: health })).meta({
    description: 'Each dependency (db, eventStore, and redis when the service uses one) with its status only.',
  }),
});

// ---- operations -----------------------------------------------------------------------

export const liveness = z.strictObject({ status: z.literal('UP') });

export const readiness = z.strictObject({
  status: health.meta({
    description: 'UP when every dependency is UP; the Kafka bridge is reported but does not count (see bridge).',
  }),
  components: z
    .record(
      z.string(),
      z.strictObject({
        status: health,
        durationMs: z.int().min(0).meta({ description: 'How long the probe took.' }),
        error: z.enum(['TIMEOUT', 'UNAVAILABLE']).optional().meta({
          description: 'Why it is DOWN: the probe ran out of time, or failed. The cause is logged, never sent.',
        }),
      }),
    )
    .meta({
      description:
        'Each dependency: database, eventStore, redis when the service uses one, and bridge when the Kafka bridge is ' +
        'on. bridge is DOWN while no instance holds it or its broker is unreachable; it never makes the service ' +
        'unready: transfers are still taken, and published once the broker is back.',
    }),
});

export const bridgeStatus = z.strictObject({
  enabled: z.boolean().meta({ description: 'Whether this instance is configured with KAFKA_BROKERS.' }),
  running: z.boolean().meta({ description: 'Whether some instance holds the bridge now (its lease).' }),
  owner: z.string().nullable().meta({ description: "The lease holder's id; null when nobody holds it." }),
  leaseExpiresAt: timestamp.nullable(),
  checkpoint: ledgerPosition.meta({ description: 'Every event up to here is acknowledged by the broker.' }),
  head: ledgerPosition.meta({ description: 'The last event-store position subscribers can read now.' }),
  lagPositions: ledgerPosition.meta({ description: 'head − checkpoint.' }),
  lagSeconds: z.number().min(0).meta({ description: 'Age of the oldest event not yet published; 0 when caught up.' }),
  brokerUp: z.boolean().nullable().meta({
    description: 'Whether the last produce (or topic check) reached the broker; null before the first.',
  }),
  lastError: z.string().nullable().meta({ description: 'The last produce error (a driver message, no payload).' }),
  lastErrorAt: timestamp.nullable(),
});

const problemFound = z.strictObject({
  kind: z.string().meta({
    description:
      'What is wrong: balance-mismatch, statement-mismatch, orphaned-hold, stuck-transfer, conservation, lag, ...',
  }),
  subject: z.string().meta({ description: 'What it is about: an account, a transfer, a currency, a subscriber.' }),
  message: z.string(),
  details: z.record(z.string(), z.union([z.string(), z.number(), z.boolean(), z.null()])).optional(),
  repaired: z.boolean().optional().meta({ description: 'The run put it right.' }),
});

export const reconcileRun = z.strictObject({
  id: z.string().meta({ description: 'The run id.' }),
  job: z.string(),
  trigger: z.enum(['schedule', 'admin', 'cli']),
  queueJobId: z.string().nullable().meta({ description: 'The BullMQ job that ran it; null for ledger reconcile.' }),
  startedAt: timestamp,
  finishedAt: timestamp.nullable(),
  outcome: z.enum(['running', 'ok', 'problems', 'failed', 'abandoned']).meta({
    description:
      'ok: nothing found; problems: it found some (see problems); failed: it could not finish (see error, it is ' +
      'retried); abandoned: its worker died and the job was run again.',
  }),
  counts: z.record(z.string(), z.union([z.number(), z.string()])),
  problems: z.array(problemFound).meta({ description: 'The first 100 problems found.' }),
  problemsTotal: z.number().int().min(0),
  error: z.string().nullable(),
});

export const reconcileRuns = z.strictObject({ runs: z.array(reconcileRun) });

export const reconcileTriggered = z.strictObject({
  job: z.string(),
  queueJobId: z.string().meta({ description: 'The BullMQ job; its run appears in the list once a worker takes it.' }),
});

export const openApiDocument = z
  .record(z.string(), z.unknown())
  .meta({ description: 'An OpenAPI 3.1 document (https://spec.openapis.org/oas/v3.1.0).' });
