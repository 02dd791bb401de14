/**
 * Every route the app serves, as the OpenAPI document describes it: one entry per route,
 * with the zod schemas the route validates its input with and the schemas of what it
 * answers. openapi.ts turns this table into the document; the e2e test checks that the
 * table and the app's router list exactly the same routes.
 *
 * Only what is particular to a route is written here. What follows from its features is
 * added by openapi.ts: the required scope (access.ts decides it), 400/413 for a JSON body,
 * 422 for validated input, 503 and Retry-After for Ledger-Min-Position, 401/403/429 behind
 * access control, 500 everywhere, and the headers every response carries.
 */
import { z } from 'zod';
import { maxBatchTransfers } from '../commands/transfer-commands';
import type { DomainErrorCode } from '../domain/errors';
import { maxBatchBodyBytes, maxBodyBytes } from './body';
import type { idempotencyKeyHeader, ledgerPositionHeader, minPositionHeaderName } from './request';
import * as responses from './responses';
import {
  accountParams,
  balanceQuery,
  batchBody,
  commitBody,
  emptyBody,
  emptyQuery,
  openAccountBody,
  pageQuery,
  reconcileJobParams,
  reconcileRunParams,
  reconcileRunsQuery,
  reconcileTriggerBody,
  seedTransferBody,
  transactionParams,
  transferBody,
  transferListQuery,
  transferParams,
} from './schemas';
import type { idempotentReplayedHeader } from './transfer-intake';

export type HttpMethod = 'get' | 'post';

export type Tag = 'Accounts' | 'Transfers' | 'Seed routes' | 'Operations' | 'Admin';

/** Request headers a route reads (components.parameters in the document). */
export type RequestHeader = typeof idempotencyKeyHeader | 'Prefer' | typeof minPositionHeaderName;

/** Response headers particular to a route (components.headers in the document). */
export type ResponseHeader =
  'Location' | typeof ledgerPositionHeader | typeof idempotentReplayedHeader | 'Preference-Applied';

export interface ResponseSpec {
  description: string;
  /** A JSON body; absent when `text` says what the body is. */
  body?: z.ZodType;
  /** The media type of a body that is not JSON (HTML, Prometheus text). */
  text?: string;
  headers?: readonly ResponseHeader[];
}

export interface Operation {
  method: HttpMethod;
  /** OpenAPI form: `{id}`, not express's `:id`. */
  path: string;
  operationId: string;
  summary: string;
  description?: string;
  tag: Tag;
  params?: z.ZodObject;
  /** Present also when the route takes no query parameters, if it refuses any (emptyQuery). */
  query?: z.ZodObject;
  headers?: readonly RequestHeader[];
  body?: { schema: z.ZodType; maxBytes: number; description?: string };
  responses: Readonly<Record<number, ResponseSpec>>;
  /** The business-rule problems this route answers with, by status (OVERLOADED: ingress cannot take more now). */
  problems?: Readonly<
    Partial<Record<number, readonly (DomainErrorCode | 'OVERLOADED' | 'RUN_NOT_FOUND' | 'RECONCILER_UNAVAILABLE')[]>>
  >;
}

const written: readonly ResponseHeader[] = ['Ledger-Position'];

const asyncApiDocument = z.record(z.string(), z.unknown()).meta({
  description: 'An AsyncAPI 3.0 document (https://www.asyncapi.com/docs/reference/specification/v3.0.0).',
});

const accountWritten = (description: string): ResponseSpec => ({
  description,
  body: responses.account,
  headers: written,
});

const transferAccepted = {
  202: {
    description:
      'Accepted: the Transfer, status REQUESTED or later. The outcome is decided by the transfer flow; follow ' +
      'Location (with Ledger-Min-Position) to see it.',
    body: responses.transfer,
    headers: ['Location', 'Ledger-Position', 'Idempotent-Replayed', 'Preference-Applied'],
  },
  201: {
    description:
      'With Prefer: wait=N, settled within N seconds: COMMITTED, REJECTED (with a reason), CANCELLED, or HELD in ' +
      'pending mode.',
    body: responses.transfer,
    headers: ['Location', 'Ledger-Position', 'Idempotent-Replayed', 'Preference-Applied'],
  },
} as const satisfies Record<number, ResponseSpec>;

const transferRequestProblems = {
  404: ['ACCOUNT_NOT_FOUND'],
  409: ['IDEMPOTENCY_KEY_IN_USE'],
  422: ['SAME_ACCOUNT', 'CURRENCY_MISMATCH', 'IDEMPOTENCY_KEY_REUSED'],
  503: ['OVERLOADED'],
} as const satisfies Operation['problems'];

const transferDecided = (what: string): Operation['responses'] => ({
  202: {
    description: `Accepted: the Transfer, its ${what} under way.`,
    body: responses.transfer,
    headers: ['Ledger-Position', 'Preference-Applied'],
  },
  200: {
    description: 'With Prefer: wait=N, ended within N seconds: the Transfer, COMMITTED or CANCELLED.',
    body: responses.transfer,
    headers: ['Ledger-Position', 'Preference-Applied'],
  },
});

export const operations: readonly Operation[] = [
  // ---- accounts -----------------------------------------------------------------------
  {
    method: 'post',
    path: '/v1/accounts',
    operationId: 'openAccount',
    summary: 'Open an account',
    description:
      'Opening the same id again with identical attributes changes nothing and answers 200 with the existing ' +
      'account; with different attributes it is 409 ACCOUNT_EXISTS.',
    tag: 'Accounts',
    body: { schema: openAccountBody, maxBytes: maxBodyBytes },
    responses: {
      201: {
        description: 'Opened: the Account.',
        body: responses.account,
        headers: ['Location', 'Ledger-Position'],
      },
      200: accountWritten('It already existed with these attributes: the Account, unchanged.'),
    },
    problems: { 409: ['ACCOUNT_EXISTS'] },
  },
  {
    method: 'get',
    path: '/v1/accounts',
    operationId: 'listAccounts',
    summary: 'List accounts',
    description: 'Newest first, page by page.',
    tag: 'Accounts',
    query: pageQuery,
    headers: ['Ledger-Min-Position'],
    responses: { 200: { description: 'A page of Accounts.', body: responses.accountPage } },
  },
  {
    method: 'get',
    path: '/v1/accounts/{id}',
    operationId: 'getAccount',
    summary: 'Get an account',
    tag: 'Accounts',
    params: accountParams,
    query: emptyQuery,
    headers: ['Ledger-Min-Position'],
    responses: { 200: { description: 'The Account.', body: responses.account } },
    problems: { 404: ['ACCOUNT_NOT_FOUND'] },
  },
  {
    method: 'get',
    path: '/v1/accounts/{id}/balance',
    operationId: 'getBalance',
    summary: "Get an account's balance",
    description: 'Now (from the read model), or with asOf as it stood at that instant (from the event history).',
    tag: 'Accounts',
    params: accountParams,
    query: balanceQuery,
    headers: ['Ledger-Min-Position'],
    responses: { 200: { description: 'The Balance.', body: responses.balance } },
    problems: { 404: ['ACCOUNT_NOT_FOUND'] },
  },
  {
    method: 'get',
    path: '/v1/accounts/{id}/entries',
    operationId: 'listEntries',
    summary: "An account's statement",
    description: 'Its entries, newest first, page by page.',
    tag: 'Accounts',
    params: accountParams,
    query: pageQuery,
    headers: ['Ledger-Min-Position'],
    responses: { 200: { description: 'A page of entries.', body: responses.entryPage } },
    problems: { 404: ['ACCOUNT_NOT_FOUND'] },
  },
  {
    method: 'post',
    path: '/v1/accounts/{id}/freeze',
    operationId: 'freezeAccount',
    summary: 'Freeze an account',
    description: 'A frozen account neither sends nor receives. Freezing a frozen account changes nothing.',
    tag: 'Accounts',
    params: accountParams,
    body: { schema: emptyBody, maxBytes: maxBodyBytes, description: 'None, or an empty object.' },
    responses: { 200: accountWritten('The Account, frozen.') },
    problems: { 404: ['ACCOUNT_NOT_FOUND'], 409: ['ACCOUNT_CLOSED'] },
  },
  {
    method: 'post',
    path: '/v1/accounts/{id}/unfreeze',
    operationId: 'unfreezeAccount',
    summary: 'Unfreeze an account',
    description: 'Unfreezing an open account changes nothing.',
    tag: 'Accounts',
    params: accountParams,
    body: { schema: emptyBody, maxBytes: maxBodyBytes, description: 'None, or an empty object.' },
    responses: { 200: accountWritten('The Account, open.') },
    problems: { 404: ['ACCOUNT_NOT_FOUND'], 409: ['ACCOUNT_CLOSED'] },
  },
  {
    method: 'post',
    path: '/v1/accounts/{id}/close',
    operationId: 'closeAccount',
    summary: 'Close an account',
    description:
      'Needs a zero posted balance and no holds (409 ACCOUNT_NOT_EMPTY otherwise). Closing a closed account ' +
      'changes nothing.',
    tag: 'Accounts',
    params: accountParams,
    body: { schema: emptyBody, maxBytes: maxBodyBytes, description: 'None, or an empty object.' },
    responses: { 200: accountWritten('The Account, closed.') },
    problems: { 404: ['ACCOUNT_NOT_FOUND'], 409: ['ACCOUNT_NOT_EMPTY'] },
  },

  // ---- transfers ----------------------------------------------------------------------
  {
    method: 'post',
    path: '/v1/transfers',
    operationId: 'requestTransfer',
    summary: 'Request a transfer',
    description:
      'Validated at once (shape, money rules, accounts, currency). Outcomes that depend on balances and account ' +
      'state (insufficient funds, a frozen or closed account) are decided by the transfer flow and end as ' +
      'REJECTED with a reason, on the balance when the hold is placed: funds another transfer brings count once ' +
      'that transfer is COMMITTED, so request a transfer that needs them after that (Prefer: wait answers then); ' +
      'sent earlier, it may be REJECTED. Re-submitting an id returns that transfer (Idempotent-Replayed: true).',
    tag: 'Transfers',
    headers: ['Idempotency-Key', 'Prefer'],
    body: { schema: transferBody, maxBytes: maxBodyBytes },
    responses: transferAccepted,
    problems: transferRequestProblems,
  },
  {
    method: 'post',
    path: '/v1/transfers/batch',
    operationId: 'requestTransferBatch',
    summary: 'Request many transfers in one round trip',
    description:
      `1 to ${maxBatchTransfers} transfers. Each item is accepted or refused on its own, exactly as if posted ` +
      'alone: a refused item gets its problem (VALIDATION_FAILED, ACCOUNT_NOT_FOUND, SAME_ACCOUNT, ' +
      'CURRENCY_MISMATCH, IDEMPOTENCY_KEY_REUSED, IDEMPOTENCY_KEY_IN_USE) and the others go on. With an ' +
      'Idempotency-Key K, item i is idempotent under "K#i": repeating the batch finds the same transfers. ' +
      'Ledger-Position is set when at least one item was accepted; Idempotent-Replayed when every accepted item ' +
      'was made by an earlier request. Items are decided as separate transfers: one does not wait for the funds ' +
      'another item brings.',
    tag: 'Transfers',
    headers: ['Idempotency-Key'],
    body: { schema: batchBody, maxBytes: maxBatchBodyBytes },
    responses: {
      202: {
        description: 'One result per item, in request order.',
        body: responses.batchResult,
        headers: ['Ledger-Position', 'Idempotent-Replayed'],
      },
    },
  },
  {
    method: 'get',
    path: '/v1/transfers',
    operationId: 'listTransfers',
    summary: 'List transfers',
    description: 'Newest first, page by page; by account and status.',
    tag: 'Transfers',
    query: transferListQuery,
    headers: ['Ledger-Min-Position'],
    responses: { 200: { description: 'A page of Transfers.', body: responses.transferPage } },
  },
  {
    method: 'get',
    path: '/v1/transfers/{id}',
    operationId: 'getTransfer',
    summary: 'Get a transfer',
    tag: 'Transfers',
    params: transferParams,
    query: emptyQuery,
    headers: ['Ledger-Min-Position'],
    responses: { 200: { description: 'The Transfer.', body: responses.transfer } },
    problems: { 404: ['TRANSFER_NOT_FOUND'] },
  },
  {
    method: 'post',
    path: '/v1/transfers/{id}/commit',
    operationId: 'commitTransfer',
    summary: 'Commit a pending transfer',
    description:
      'Pending mode, status HELD, not yet decided or expired (409 TRANSFER_NOT_PENDING otherwise). An amount ' +
      'below the held amount commits that much and releases the rest; above it is 422 INVALID_COMMAND.',
    tag: 'Transfers',
    params: transferParams,
    headers: ['Prefer'],
    body: { schema: commitBody, maxBytes: maxBodyBytes },
    responses: transferDecided('commit'),
    problems: { 404: ['TRANSFER_NOT_FOUND'], 409: ['TRANSFER_NOT_PENDING'], 422: ['INVALID_COMMAND'] },
  },
  {
    method: 'post',
    path: '/v1/transfers/{id}/void',
    operationId: 'voidTransfer',
    summary: 'Void a pending transfer',
    description:
      'Releases the hold: the transfer ends CANCELLED, reason VOIDED. Pending mode, status HELD, not yet decided ' +
      'or expired (409 TRANSFER_NOT_PENDING otherwise).',
    tag: 'Transfers',
    params: transferParams,
    headers: ['Prefer'],
    body: { schema: emptyBody, maxBytes: maxBodyBytes, description: 'None, or an empty object.' },
    responses: transferDecided('release'),
    problems: { 404: ['TRANSFER_NOT_FOUND'], 409: ['TRANSFER_NOT_PENDING'] },
  },

  // ---- the seed system's routes -------------------------------------------------------
  {
    method: 'post',
    path: '/api/v1/payments/transfer',
    operationId: 'seedTransfer',
    summary: 'Request a transfer (seed shape)',
    description:
      'As POST /v1/transfers, with the seed body: the idempotency key may come in the body instead of the header.',
    tag: 'Seed routes',
    headers: ['Idempotency-Key', 'Prefer'],
    body: { schema: seedTransferBody, maxBytes: maxBodyBytes },
    responses: transferAccepted,
    problems: transferRequestProblems,
  },
  {
    method: 'get',
    path: '/api/v1/payments/accounts/{id}/balance',
    operationId: 'seedBalance',
    summary: "Get an account's balance (seed route)",
    tag: 'Seed routes',
    params: accountParams,
    query: emptyQuery,
    headers: ['Ledger-Min-Position'],
    responses: { 200: { description: 'The Balance.', body: responses.balance } },
    problems: { 404: ['ACCOUNT_NOT_FOUND'] },
  },
  {
    method: 'get',
    path: '/api/v1/payments/transactions/{txId}/status',
    operationId: 'seedTransactionStatus',
    summary: "Get a transfer's status (seed shape)",
    tag: 'Seed routes',
    params: transactionParams,
    query: emptyQuery,
    headers: ['Ledger-Min-Position'],
    responses: { 200: { description: 'The status, and why when it failed.', body: responses.seedTransactionStatus } },
    problems: { 404: ['TRANSFER_NOT_FOUND'] },
  },
  {
    method: 'get',
    path: '/api/v1/actuator/health',
    operationId: 'seedHealth',
    summary: 'Health (Spring actuator shape)',
    description: 'The readiness probes, each component with its status only.',
    tag: 'Seed routes',
    responses: {
      200: { description: 'Every component is UP.', body: responses.seedHealth },
      503: { description: 'A component is DOWN.', body: responses.seedHealth },
    },
  },

  // ---- admin --------------------------------------------------------------------------
  {
    method: 'get',
    path: '/v1/admin/bridge',
    operationId: 'bridgeStatus',
    summary: 'The Kafka bridge',
    description:
      'Who runs the bridge (one instance at a time), its checkpoint against the head, and what it last saw of the ' +
      'broker: the same from every instance.',
    tag: 'Admin',
    query: emptyQuery,
    responses: { 200: { description: "The bridge's state.", body: responses.bridgeStatus } },
  },
  {
    method: 'get',
    path: '/v1/admin/reconcile/runs',
    operationId: 'listReconcileRuns',
    summary: 'Reconciliation runs',
    description:
      'The most recent runs of the reconciliation jobs (scheduled, asked for here, or run with ledger reconcile), ' +
      'newest first, each with its counts and the problems it found.',
    tag: 'Admin',
    query: reconcileRunsQuery,
    responses: { 200: { description: 'The runs.', body: responses.reconcileRuns } },
  },
  {
    method: 'get',
    path: '/v1/admin/reconcile/runs/{id}',
    operationId: 'getReconcileRun',
    summary: 'A reconciliation run',
    tag: 'Admin',
    params: reconcileRunParams,
    query: emptyQuery,
    responses: { 200: { description: 'The run.', body: responses.reconcileRun } },
    problems: { 404: ['RUN_NOT_FOUND'] },
  },
  {
    method: 'post',
    path: '/v1/admin/reconcile/{job}',
    operationId: 'triggerReconcileRun',
    summary: 'Run a reconciliation job now',
    description:
      'Queues one run of the job; a reconciler worker of any instance takes it, and the run is listed once it starts. ' +
      'expire-holds, resume-stuck and verify-balances with repair change the ledger (each change is one a scheduled ' +
      'run would make); the others only read.',
    tag: 'Admin',
    params: reconcileJobParams,
    query: emptyQuery,
    body: { schema: reconcileTriggerBody, maxBytes: maxBodyBytes },
    responses: { 202: { description: 'Queued.', body: responses.reconcileTriggered } },
    problems: { 503: ['RECONCILER_UNAVAILABLE'] },
  },

  // ---- operations ---------------------------------------------------------------------
  {
    method: 'get',
    path: '/health/live',
    operationId: 'liveness',
    summary: 'Liveness',
    description: 'The process answers. No dependency is checked, so a slow one never gets the process restarted.',
    tag: 'Operations',
    responses: { 200: { description: 'Alive.', body: responses.liveness } },
  },
  {
    method: 'get',
    path: '/health/ready',
    operationId: 'readiness',
    summary: 'Readiness',
    description: 'Each dependency, probed with a time limit; a down one says only TIMEOUT or UNAVAILABLE.',
    tag: 'Operations',
    responses: {
      200: { description: 'Every dependency is UP.', body: responses.readiness },
      503: { description: 'A dependency is DOWN.', body: responses.readiness },
    },
  },
  {
    method: 'get',
    path: '/metrics',
    operationId: 'metrics',
    summary: 'Prometheus metrics',
    tag: 'Operations',
    responses: { 200: { description: 'The Prometheus text exposition format.', text: 'text/plain' } },
  },
  {
    method: 'get',
    path: '/openapi.json',
    operationId: 'openApiDocument',
    summary: 'This OpenAPI document',
    tag: 'Operations',
    responses: {
      200: {
        description: 'OpenAPI 3.1, generated from the schemas that validate the requests.',
        body: responses.openApiDocument,
      },
    },
  },
  {
    method: 'get',
    path: '/asyncapi.json',
    operationId: 'asyncApiDocument',
    summary: 'The AsyncAPI document of the Kafka messages',
    description:
      'What the Kafka bridge publishes: topics, keys, headers, the data of each integration event type, ordering ' +
      'and delivery. It describes the configured bridge, or, when the bridge is off, what it publishes by default.',
    tag: 'Operations',
    responses: {
      200: {
        description: 'AsyncAPI 3.0, generated from the schemas the bridge validates its messages with.',
        body: asyncApiDocument,
      },
    },
  },
  {
    method: 'get',
    path: '/docs',
    operationId: 'apiDocs',
    summary: 'Swagger UI over this document',
    description: 'An HTML page; its scripts and styles are served from /docs/ by this service, never from a CDN.',
    tag: 'Operations',
    responses: { 200: { description: 'The Swagger UI page.', text: 'text/html' } },
  },
];
