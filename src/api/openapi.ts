/**
 * The OpenAPI 3.1 document (GET /openapi.json), built in code from the operations table
 * (openapi-operations.ts) and the zod schemas that validate the requests (schemas.ts) and
 * describe the responses (responses.ts). zod's own JSON Schema output (draft 2020-12, the
 * dialect OpenAPI 3.1 uses) does the conversion; named schemas become components.schemas
 * and are referenced, the rest is inlined. Limits and names come from the code's constants.
 */
import { z } from 'zod';
import { maxBatchTransfers, maxIdempotencyKeyLength } from '../commands/transfer-commands';
import { defaultHttpPort } from '../config';
import { maxReadYourWritesWaitMs } from '../projections/consistency';
import { protectedMounts, requiredScope } from './access';
import { maxBatchBodyBytes, maxBodyBytes } from './body';
import {
  type Operation,
  operations,
  type RequestHeader,
  type ResponseHeader,
  type ResponseSpec,
  type Tag,
} from './openapi-operations';
import { idempotencyKeyHeader, ledgerPositionHeader, minPositionHeaderName } from './request';
import { clientRequestId, requestIdHeader } from './request-context';
import * as responses from './responses';
import * as schemas from './schemas';
import { idempotentReplayedHeader } from './transfer-intake';

export const openApiPath = '/openapi.json';

type Json = Record<string, unknown>;

const documentVersion = '1.0.0';
const ref = (kind: 'schemas' | 'parameters' | 'headers' | 'responses', name: string) => ({
  $ref: `#/components/${kind}/${name}`,
});

// ---- schemas --------------------------------------------------------------------------

/** The schemas the document names; every other schema is inlined where it is used. */
const namedSchemas: Readonly<Record<string, z.ZodType>> = {
  AccountId: schemas.accountId,
  TransferId: schemas.transferId,
  CurrencyCode: schemas.currencyCode,
  AmountInput: schemas.amountInput,
  Overdraft: schemas.overdraftInput,
  Metadata: schemas.metadata,
  TransferMode: schemas.transferMode,
  TransferStatus: schemas.transferStatus,
  IdempotencyKey: schemas.idempotencyKey,
  OpenAccountRequest: schemas.openAccountBody,
  TransferRequest: schemas.transferBody,
  TransferBatchRequest: schemas.batchBody,
  CommitTransferRequest: schemas.commitBody.unwrap(),
  SeedTransferRequest: schemas.seedTransferBody,
  Amount: responses.amountText,
  LedgerPosition: responses.ledgerPosition,
  Timestamp: responses.timestamp,
  TransferReason: responses.transferReason,
  Problem: responses.problem,
  FieldProblem: responses.fieldProblem,
  Balance: responses.balance,
  Account: responses.account,
  AccountPage: responses.accountPage,
  Entry: responses.entry,
  EntryPage: responses.entryPage,
  TransferStep: responses.transferStep,
  Transfer: responses.transfer,
  TransferPage: responses.transferPage,
  BatchItemResult: responses.batchItemResult,
  BatchResult: responses.batchResult,
  SeedTransactionStatus: responses.seedTransactionStatus,
  SeedHealth: responses.seedHealth,
  Liveness: responses.liveness,
  Readiness: responses.readiness,
};

const components = z.registry<{ id: string }>();
for (const [id, schema] of Object.entries(namedSchemas)) components.add(schema, { id });

const conversion = {
  target: 'draft-2020-12',
  // Requests are described as clients send them (before transforms); responses have none.
  io: 'input',
  // A schema JSON Schema cannot say (a bigint, a custom check) must fail loudly, not vanish.
  unrepresentable: 'throw',
  override: ({ zodSchema, jsonSchema }) => {
    // A batch item is validated on its own, after the batch (so one bad item fails only itself),
    // which is why its zod schema is z.unknown(); what a client must send is a TransferRequest.
    if (zodSchema === schemas.batchItem) {
      Object.assign(jsonSchema, {
        ...ref('schemas', 'TransferRequest'),
        description: 'A transfer request, as the body of POST /v1/transfers; refused on its own when invalid.',
      });
    }
  },
} as const satisfies z.core.ToJSONSchemaParams;

/** zod's per-schema `$schema` and `$id`: the document's dialect and component names say both. */
function bare(schema: Json): Json {
  const { $schema: _schema, $id: _id, ...rest } = schema;
  return rest;
}

function componentSchemas(): Json {
  const { schemas: converted } = z.toJSONSchema(components, {
    ...conversion,
    uri: (id) => ref('schemas', id).$ref,
  });
  // zod extracts what it cannot inline (a recursive schema) into a "__shared" pseudo-schema.
  if ('__shared' in converted) throw new Error('a schema zod had to extract: name it in namedSchemas');
  return Object.fromEntries(Object.entries(converted).map(([id, schema]) => [id, bare(schema as Json)]));
}

const unwrapOptional = (schema: z.ZodType): { inner: z.ZodType; optional: boolean } =>
  schema instanceof z.ZodOptional
    ? { inner: schema.unwrap() as z.ZodType, optional: true }
    : { inner: schema, optional: false };

/** A reference to a named schema, or the schema inlined. */
function schemaOf(schema: z.ZodType): Json {
  const id = components.get(schema)?.id;
  if (id !== undefined) return ref('schemas', id);
  const inlined = bare(z.toJSONSchema(schema, conversion) as Json);
  // "#/$defs/..." would point into the document, not into this schema.
  if ('$defs' in inlined) throw new Error('an inlined schema with definitions of its own: name it in namedSchemas');
  return inlined;
}

// ---- parameters and headers -----------------------------------------------------------

function parameters(location: 'path' | 'query', object: z.ZodObject | undefined): Json[] {
  return Object.entries(object?.shape ?? {}).map(([name, field]) => {
    const { inner, optional } = unwrapOptional(field as z.ZodType);
    const description = (field as z.ZodType).description ?? inner.description;
    return {
      name,
      in: location,
      required: location === 'path' || !optional,
      ...(description !== undefined && { description }),
      schema: schemaOf(inner),
    };
  });
}

const requestHeaders: Readonly<Record<RequestHeader | typeof requestIdHeader, Json>> = {
  [idempotencyKeyHeader]: {
    name: idempotencyKeyHeader,
    in: 'header',
    description: schemas.idempotencyKey.description,
    schema: schemaOf(schemas.idempotencyKey),
  },
  Prefer: {
    name: 'Prefer',
    in: 'header',
    description:
      `RFC 7240. With \`wait=N\` (N whole seconds, 0 to ${schemas.maxPreferWaitSeconds}) the response waits until ` +
      'the transfer is settled and answers with the settled status; after N seconds it answers 202 as usual. ' +
      'Other preferences are ignored.',
    schema: { type: 'string', examples: ['wait=10'] },
  },
  [minPositionHeaderName]: {
    name: minPositionHeaderName,
    in: 'header',
    description: schemas.minPositionHeader.description,
    schema: schemaOf(schemas.minPositionHeader),
  },
  [requestIdHeader]: {
    name: requestIdHeader,
    in: 'header',
    description:
      'Your id for this request, echoed in the response and logged with it when it is a safe token; ' +
      'otherwise the ledger makes one.',
    schema: { type: 'string', pattern: clientRequestId.source },
  },
};

type CommonHeader =
  | typeof requestIdHeader
  | 'Cache-Control'
  | 'Retry-After'
  | 'WWW-Authenticate'
  | 'RateLimit-Limit'
  | 'RateLimit-Remaining'
  | 'RateLimit-Reset'
  | 'RateLimit-Policy';

const wholeSeconds = { type: 'string', pattern: '^[0-9]+$' };

const responseHeaders: Readonly<Record<ResponseHeader | CommonHeader, Json>> = {
  [requestIdHeader]: {
    description: "The request's id: the client's X-Request-Id when it is a safe token, else one the ledger made.",
    schema: { type: 'string' },
  },
  'Cache-Control': {
    description: 'Ledger data is never cached.',
    schema: { type: 'string', const: 'no-store' },
  },
  Location: {
    description: 'Where the account or transfer can be read: /v1/accounts/{id} or /v1/transfers/{id}.',
    schema: { type: 'string' },
  },
  [ledgerPositionHeader]: {
    description: `The event-store position of the write. Send it as ${minPositionHeaderName} to read your write.`,
    schema: ref('schemas', 'LedgerPosition'),
  },
  [idempotentReplayedHeader]: {
    description:
      'Present when the response answers an earlier request (the same Idempotency-Key, or transfer id): ' +
      'nothing new was made.',
    schema: { type: 'string', const: 'true' },
  },
  'Preference-Applied': {
    description: 'With Prefer: wait=N, the preference applied (`wait=N`).',
    schema: { type: 'string', examples: ['wait=10'] },
  },
  'Retry-After': { description: 'Seconds to wait before retrying.', schema: wholeSeconds },
  'WWW-Authenticate': {
    description: 'The Bearer challenge (RFC 6750), with error="invalid_token" or error="insufficient_scope".',
    schema: { type: 'string' },
  },
  'RateLimit-Limit': { description: 'Requests allowed per window to this caller.', schema: wholeSeconds },
  'RateLimit-Remaining': { description: 'Requests left in the current window.', schema: wholeSeconds },
  'RateLimit-Reset': { description: 'Seconds until the current window ends.', schema: wholeSeconds },
  'RateLimit-Policy': {
    description: 'The limit and its window: `<requests>;w=<seconds>`.',
    schema: { type: 'string', examples: ['1000;w=1'] },
  },
};

const rateLimitHeaders: readonly CommonHeader[] = [
  'RateLimit-Limit',
  'RateLimit-Remaining',
  'RateLimit-Reset',
  'RateLimit-Policy',
];

// ---- access ---------------------------------------------------------------------------

const isProtected = (path: string) => protectedMounts.some((mount) => path === mount || path.startsWith(`${mount}/`));

/** The security requirement access.ts enforces on this operation; [] when it is public. */
function securityOf(op: Operation): Json[] {
  return isProtected(op.path) ? [{ bearer: [requiredScope(op.method, op.path)] }] : [];
}

// ---- responses ------------------------------------------------------------------------

const problemSummaries: Readonly<Record<number, string>> = {
  400: 'The request is malformed',
  401: 'No valid API key (when API keys are configured)',
  403: 'The API key lacks the scope this operation needs',
  404: 'Not found',
  409: 'Conflict with the current state',
  413: 'The body is too large',
  422: 'The request breaks a rule',
  429: 'Rate limited: retry after Retry-After seconds',
  500: 'The ledger failed; nothing about the cause is returned',
  503: 'Retry after Retry-After seconds: the read model has not reached Ledger-Min-Position in time (PROJECTION_BEHIND), or the ledger cannot take more transfers now: too many are waiting to be stored, or the transfer process is INGRESS_MAX_BACKLOG transfers behind and made no room within 5 s (OVERLOADED)',
};

/**
 * Problems every protected operation answers alike, defined once in components.responses:
 * by status, the response's name and its codes.
 */
const sharedProblems: Readonly<Record<number, { name: string; codes: readonly string[] }>> = {
  401: { name: 'Unauthorized', codes: ['UNAUTHORIZED'] },
  403: { name: 'Forbidden', codes: ['FORBIDDEN'] },
  413: { name: 'BodyTooLarge', codes: ['BODY_TOO_LARGE'] },
  429: { name: 'RateLimited', codes: ['RATE_LIMITED'] },
  503: { name: 'ProjectionBehind', codes: ['PROJECTION_BEHIND'] },
};

/** The problems an operation can answer with: its own, and those that follow from its features. */
export function problemCodes(op: Operation): Map<number, string[]> {
  const codes = new Map<number, string[]>();
  const add = (status: number, ...more: string[]) => {
    const list = codes.get(status) ?? [];
    codes.set(status, [...list, ...more.filter((code) => !list.includes(code))]);
  };
  if (op.params) add(400, 'BAD_REQUEST');
  if (op.body) {
    add(400, 'MALFORMED_JSON', 'NOT_JSON', 'BAD_REQUEST');
    add(413, 'BODY_TOO_LARGE');
  }
  if (isProtected(op.path)) {
    add(401, 'UNAUTHORIZED');
    add(403, 'FORBIDDEN');
    add(429, 'RATE_LIMITED');
  }
  if (op.params || op.query || op.headers?.length || op.body) add(422, 'VALIDATION_FAILED');
  for (const [status, domain] of Object.entries(op.problems ?? {})) add(Number(status), ...(domain ?? []));
  if (op.headers?.includes(minPositionHeaderName)) add(503, 'PROJECTION_BEHIND');
  add(500, 'INTERNAL_ERROR');
  return new Map([...codes].sort(([a], [b]) => a - b));
}

/** A response's headers: those of every response, `particular`, and the rate limit's behind access control. */
function headersOf(secured: boolean, particular: readonly (ResponseHeader | CommonHeader)[]): Json {
  const names: (ResponseHeader | CommonHeader)[] = [requestIdHeader, 'Cache-Control', ...particular];
  if (secured) names.push(...rateLimitHeaders);
  return Object.fromEntries(names.map((name) => [name, ref('headers', name)]));
}

function successResponse(secured: boolean, spec: ResponseSpec): Json {
  const content = spec.body
    ? { 'application/json': { schema: schemaOf(spec.body) } }
    : { [spec.text ?? 'text/plain']: { schema: { type: 'string' } } };
  return { description: spec.description, headers: headersOf(secured, spec.headers ?? []), content };
}

function problemResponse(secured: boolean, status: number, codes: readonly string[]): Json {
  const particular: CommonHeader[] = [];
  if (status === 401 || status === 403) particular.push('WWW-Authenticate');
  if (status === 429 || status === 503) particular.push('Retry-After');
  return {
    description: `${problemSummaries[status] ?? 'Refused'}: ${codes.join(', ')}.`,
    headers: headersOf(secured, particular),
    content: {
      'application/problem+json': {
        schema: {
          allOf: [ref('schemas', 'Problem'), { properties: { status: { const: status }, code: { enum: codes } } }],
        },
      },
    },
  };
}

// ---- operations -----------------------------------------------------------------------

function requestBody(body: NonNullable<Operation['body']>): Json {
  const { inner, optional } = unwrapOptional(body.schema);
  const limit = `At most ${body.maxBytes / 1024} KiB, sent as Content-Type: application/json (UTF-8).`;
  return {
    required: !optional,
    description: body.description ? `${body.description} ${limit}` : limit,
    content: { 'application/json': { schema: schemaOf(inner) } },
  };
}

function operationObject(op: Operation): Json {
  const secured = isProtected(op.path);
  const responsesByStatus: [number, Json][] = [
    ...Object.entries(op.responses).map(([status, spec]): [number, Json] => [
      Number(status),
      successResponse(secured, spec),
    ]),
    ...[...problemCodes(op)].map(([status, codes]): [number, Json] => {
      const shared = sharedProblems[status];
      const same = shared && secured && codes.join() === shared.codes.join();
      return [status, same ? ref('responses', shared.name) : problemResponse(secured, status, codes)];
    }),
  ];
  const statuses = responsesByStatus.map(([status]) => status);
  if (new Set(statuses).size !== statuses.length) {
    throw new Error(`${op.operationId}: a status is both a success and a problem`);
  }
  const parameterList = [
    ...parameters('path', op.params),
    ...parameters('query', op.query),
    ...(op.headers ?? []).map((name) => ref('parameters', name)),
    ref('parameters', requestIdHeader),
  ];
  return {
    operationId: op.operationId,
    summary: op.summary,
    ...(op.description !== undefined && { description: op.description }),
    tags: [op.tag],
    security: securityOf(op),
    parameters: parameterList,
    ...(op.body && { requestBody: requestBody(op.body) }),
    responses: Object.fromEntries(
      responsesByStatus.sort(([a], [b]) => a - b).map(([status, response]) => [String(status), response]),
    ),
  };
}

function paths(): Json {
  const byPath: Record<string, Json> = {};
  for (const op of operations) {
    const item = (byPath[op.path] ??= {});
    if (op.method in item) throw new Error(`${op.method.toUpperCase()} ${op.path} is in the table twice`);
    item[op.method] = operationObject(op);
  }
  return byPath;
}

// ---- the document ---------------------------------------------------------------------

const tags: readonly { name: Tag; description: string }[] = [
  { name: 'Accounts', description: 'Accounts, their balances and statements.' },
  { name: 'Transfers', description: 'Moving money between accounts of one currency, one by one or in batches.' },
  { name: 'Seed routes', description: "The seed system's routes, in its shapes, so its clients work unchanged." },
  { name: 'Operations', description: 'Health, metrics and this documentation. Public.' },
  { name: 'Admin', description: "Operators' views; the admin scope." },
];

const kib = (bytes: number) => `${bytes / 1024} KiB`;

const overview = `The ledger's HTTP API: an event-sourced payment ledger.

**JSON in and out** (UTF-8). A body must be sent as \`Content-Type: application/json\`: otherwise 400 NOT_JSON;
malformed JSON is 400 MALFORMED_JSON. Unknown fields and query parameters are refused (422 VALIDATION_FAILED).
Every error is \`application/problem+json\` (RFC 9457) with a stable \`code\` to branch on and, for
VALIDATION_FAILED, \`errors\`: one \`{ path, message }\` per field. No stack trace, SQL or driver message ever
reaches a client. An unknown route is 404 ROUTE_NOT_FOUND; every response carries \`X-Request-Id\` and
\`Cache-Control: no-store\`.

**Money.** Amounts are decimal strings in major units (\`"10.50"\`); on input a JSON number is accepted when it is
exact. The currency's ISO 4217 exponent bounds the decimals (USD 2, JPY 0, KWD 3); zero, negative, or above
2^63−1 minor units is 422. Responses print the currency's full scale. Inside the ledger, amounts are integer minor
units; there is no floating point on the money path.

**Limits.** Bodies: ${kib(maxBodyBytes)} (${kib(maxBatchBodyBytes)} for a batch of at most ${maxBatchTransfers}
transfers), else 413 BODY_TOO_LARGE. Pages: \`limit\` 1 to ${schemas.maxPageLimit}, default
${schemas.defaultPageLimit}. Metadata: ${schemas.maxMetadataBytes} bytes serialised. \`Prefer: wait\`: at most
${schemas.maxPreferWaitSeconds} s. \`Idempotency-Key\`: 1 to ${maxIdempotencyKeyLength} printable ASCII characters.

**Consistency.** A write answers with \`Ledger-Position\`. A read sent with \`Ledger-Min-Position\` waits (at most
${maxReadYourWritesWaitMs / 1000} s, else 503 PROJECTION_BEHIND with Retry-After) until the read model has reached
it, so a client reads its own writes. A single account or transfer just written is found even without it; lists
and statements can lag.

**Access.** When API keys are configured (API_KEYS), every /v1 and /api/v1 operation needs
\`Authorization: Bearer <key>\`, and the key needs the scope the operation lists: \`read\` for GET and HEAD,
\`admin\` to freeze, unfreeze or close an account and for everything under /v1/admin, \`write\` for every other
POST. \`admin\` grants every scope;
\`write\` does not imply \`read\`. Without a valid key: 401 UNAUTHORIZED; without the scope: 403 FORBIDDEN. With no
API keys configured the API is open to anyone who can reach it. Requests to /v1 and /api/v1 are rate limited per
API key (per client address when open; RATE_LIMIT_REQUESTS per RATE_LIMIT_WINDOW_SECONDS, 0 turns it off):
429 RATE_LIMITED with Retry-After, and RateLimit-* headers on every response. /health, /metrics,
/openapi.json, /asyncapi.json (the Kafka messages) and /docs are public.`;

function buildDocument(): Json {
  return {
    openapi: '3.1.0',
    info: {
      title: 'Ledger API',
      version: documentVersion,
      description: overview,
    },
    servers: [
      { url: '/', description: 'The server this document was fetched from.' },
      {
        url: 'http://localhost:{port}',
        description: `A local ledger. It listens on HTTP_PORT, default ${defaultHttpPort} (HTTP_HOST, default loopback).`,
        variables: { port: { default: String(defaultHttpPort) } },
      },
    ],
    tags,
    paths: paths(),
    components: {
      schemas: componentSchemas(),
      responses: Object.fromEntries(
        Object.entries(sharedProblems).map(([status, { name, codes }]) => [
          name,
          problemResponse(true, Number(status), codes),
        ]),
      ),
      parameters: requestHeaders,
      headers: responseHeaders,
      securitySchemes: {
        bearer: {
          type: 'http',
          scheme: 'bearer',
          description:
            'An API key (`ledger api-key` makes one), with the scopes read, write and/or admin. Needed only when ' +
            'API keys are configured.',
        },
      },
    },
  };
}

let built: Json | undefined;

/** The document, built on first use: it depends only on the code. */
export function openApiDocument(): Json {
  built ??= buildDocument();
  return built;
}
