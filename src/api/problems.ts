/**
 * Errors as RFC 9457 problem+json, mapped in one place. Routes throw; they never build an
 * error body. Anything not recognised here is a 500 that says nothing about its cause.
 */
import type { ErrorRequestHandler, RequestHandler, Response } from 'express';
import { type DomainErrorCode, DomainError, LedgerError } from '../domain/errors';
import { MoneyError } from '../domain/money';
import { Overloaded } from '../commands/group-commit';
import { ProjectionBehind } from '../projections/consistency';
import type { Logger } from '../logger';

export interface FieldProblem {
  path: string;
  message: string;
}

export interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  code: string;
  errors?: FieldProblem[];
}

/** The request's body, query, parameters or headers broke a rule; `errors` says which and how. */
export class ValidationFailed extends LedgerError {
  constructor(
    readonly errors: FieldProblem[],
    message = errors.length === 1 ? `${errors[0].path}: ${errors[0].message}` : 'the request is not valid',
  ) {
    super('VALIDATION_FAILED', message);
  }
}

/**
 * An HTTP-level refusal that is not a business rule (unknown route, media type, malformed
 * body, access, rate limit), with the headers that belong to it (WWW-Authenticate, Retry-After).
 */
export class HttpProblem extends LedgerError {
  constructor(
    readonly status: number,
    code: string,
    message: string,
    readonly headers: Readonly<Record<string, string>> = {},
  ) {
    super(code, message);
  }
}

/** Every domain code has a status: adding a code without one does not compile. */
const domainStatus: Record<DomainErrorCode, number> = {
  INVALID_COMMAND: 422,
  ACCOUNT_NOT_FOUND: 404,
  ACCOUNT_EXISTS: 409,
  ACCOUNT_FROZEN: 409,
  ACCOUNT_CLOSED: 409,
  ACCOUNT_NOT_EMPTY: 409,
  CURRENCY_MISMATCH: 422,
  INSUFFICIENT_FUNDS: 422,
  BALANCE_OVERFLOW: 422,
  HOLD_NOT_FOUND: 409,
  HOLD_ALREADY_RELEASED: 409,
  HOLD_ALREADY_DEBITED: 409,
  DEBIT_EXCEEDS_HOLD: 422,
  TRANSFER_NOT_FOUND: 404,
  TRANSFER_EXISTS: 409,
  TRANSFER_NOT_PENDING: 409,
  INVALID_TRANSITION: 409,
  SAME_ACCOUNT: 422,
  IDEMPOTENCY_KEY_REUSED: 422,
  IDEMPOTENCY_KEY_IN_USE: 409,
};

const titles: Record<number, string> = {
  400: 'Bad request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not found',
  409: 'Conflict',
  413: 'Request body too large',
  422: 'Unprocessable request',
  429: 'Too many requests',
  500: 'Internal server error',
  503: 'Service unavailable',
};

const internalDetail = 'The ledger could not complete the request. It has been logged; retry later.';

/** body-parser (http-errors) failures by their `type`. */
const bodyErrors: Record<string, { status: number; code: string; detail: string }> = {
  'entity.parse.failed': {
    status: 400,
    code: 'MALFORMED_JSON',
    detail: 'the body is not valid JSON (an object or an array)',
  },
  'entity.too.large': { status: 413, code: 'BODY_TOO_LARGE', detail: 'the body is larger than this route accepts' },
  'charset.unsupported': { status: 400, code: 'NOT_JSON', detail: 'the body must be UTF-8 JSON' },
  'encoding.unsupported': { status: 400, code: 'NOT_JSON', detail: 'the body must not be compressed' },
  'request.aborted': { status: 400, code: 'BAD_REQUEST', detail: 'the request body was not received completely' },
  'request.size.invalid': { status: 400, code: 'BAD_REQUEST', detail: 'the body does not match its Content-Length' },
};

function problem(status: number, code: string, detail: string, errors?: FieldProblem[]): Problem {
  return {
    type: `urn:ledger:problem:${code.toLowerCase().replaceAll('_', '-')}`,
    title: titles[status] ?? 'Error',
    status,
    detail,
    code,
    ...(errors !== undefined && { errors }),
  };
}

/** The problem an error becomes. Only errors raised on purpose say what went wrong. */
export function toProblem(err: unknown): Problem {
  if (err instanceof ValidationFailed) return problem(422, err.code, err.message, err.errors);
  if (err instanceof DomainError) return problem(domainStatus[err.code] ?? 422, err.code, err.message);
  if (err instanceof MoneyError) return problem(422, err.code, err.message);
  if (err instanceof ProjectionBehind || err instanceof Overloaded) return problem(503, err.code, err.message);
  if (err instanceof HttpProblem) return problem(err.status, err.code, err.message);
  const clientError = asClientError(err);
  if (clientError) {
    const known = clientError.type === undefined ? undefined : bodyErrors[clientError.type];
    if (known) return problem(known.status, known.code, known.detail);
    return problem(clientError.status, 'BAD_REQUEST', 'the request is malformed');
  }
  return problem(500, 'INTERNAL_ERROR', internalDetail);
}

/**
 * A 4xx raised by express or body-parser about the request itself: an http-errors error
 * meant for the client (`expose`), or the router's URIError for a path that is not valid
 * %-encoding. Any other error with a `status` is not trusted to be the client's fault.
 */
function asClientError(err: unknown): { status: number; type?: string } | null {
  if (typeof err !== 'object' || err === null) return null;
  const { status, type, expose } = err as { status?: unknown; type?: unknown; expose?: unknown };
  if (typeof status !== 'number' || status < 400 || status > 499) return null;
  if (expose !== true && !(err instanceof URIError)) return null;
  return { status, ...(typeof type === 'string' && { type }) };
}

export function sendProblem(res: Response, body: Problem): void {
  res.status(body.status).type('application/problem+json').send(JSON.stringify(body));
}

/** The one error middleware: every error of every route ends here. */
export function problemHandler(logger: Logger): ErrorRequestHandler {
  const log = logger.child({ component: 'http' });
  return (err, req, res, next) => {
    if (res.headersSent) {
      next(err);
      return;
    }
    const body = toProblem(err);
    const where = { method: req.method, url: req.originalUrl, requestId: res.locals.requestId };
    if (err instanceof ProjectionBehind) {
      log.warn(
        { ...where, minPosition: err.minPosition.toString(), reached: err.reached.toString() },
        'read model behind',
      );
      res.set('Retry-After', '1');
    } else if (err instanceof Overloaded) {
      log.warn({ ...where }, 'ingress overloaded');
      res.set('Retry-After', '1');
    } else if (body.status >= 500) {
      log.error({ ...where, err }, 'request failed');
    }
    if (err instanceof HttpProblem) res.set(err.headers);
    sendProblem(res, body);
  };
}

export const routeNotFound: RequestHandler = (req) => {
  throw new HttpProblem(404, 'ROUTE_NOT_FOUND', `no route ${req.method} ${req.path.slice(0, 200)}`);
};
