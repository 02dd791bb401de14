import { randomUUID } from 'node:crypto';
import type { RequestHandler, Response } from 'express';
import type { Logger } from '../logger';
import { routeLabel } from '../metrics/http';
import { apiKeyOf } from './access';

export const requestIdHeader = 'X-Request-Id';
export const clientRequestId = /^[A-Za-z0-9._:-]{1,128}$/;

/** Puts the transfer a request is about on its access log line. */
export function logTransferId(res: Response, transferId: string): void {
  res.locals.transferId = transferId;
}

/**
 * Per request: an id (the client's X-Request-Id when it is a safe token, else a new one),
 * echoed back and put on the access log line, with the transfer the request is about and
 * the API key's name (never the key) if any; and no caching of ledger data anywhere.
 */
export function requestContext(logger: Logger): RequestHandler {
  const log = logger.child({ component: 'http' });
  return (req, res, next) => {
    const given = req.get(requestIdHeader);
    const requestId = given !== undefined && clientRequestId.test(given) ? given : randomUUID();
    const started = process.hrtime.bigint();
    res.locals.requestId = requestId;
    res.set(requestIdHeader, requestId);
    res.set('Cache-Control', 'no-store');
    res.on('finish', () => {
      const durationMs = Number(process.hrtime.bigint() - started) / 1e6;
      log.info(
        {
          requestId,
          method: req.method,
          route: routeLabel(req),
          status: res.statusCode,
          durationMs,
          transferId: res.locals.transferId,
          apiKeyName: apiKeyOf(req)?.name,
        },
        'request',
      );
    });
    next();
  };
}
