/**
 * Request bodies: JSON only (400 NOT_JSON otherwise, as API.md says), parsed with a size limit (413 above it) and
 * strictly (400 when it is not a JSON object or array).
 */
import express, { type Request, type RequestHandler } from 'express';
import { HttpProblem } from './problems';

export const maxBodyBytes = 64 * 1024;
/**
 * The batch route's own limit: 1,000 transfers do not fit in 64 KiB (a typical item is
 * 100–300 bytes), and the batch is the high-throughput path.
 */
export const maxBatchBodyBytes = 512 * 1024;

const jsonTypes = ['application/json', 'application/*+json'];

function hasBody(req: Request): boolean {
  return req.headers['transfer-encoding'] !== undefined || Number(req.headers['content-length'] ?? 0) > 0;
}

/** Middleware for a route that takes a JSON body (or none: then `req.body` stays undefined). */
export function jsonBody(limitBytes = maxBodyBytes): RequestHandler {
  const parse = express.json({ limit: limitBytes, strict: true, type: jsonTypes });
  return (req, res, next) => {
    if (hasBody(req) && !req.is(jsonTypes)) {
      throw new HttpProblem(400, 'NOT_JSON', 'the body must be JSON, sent with Content-Type: application/json');
    }
    parse(req, res, next);
  };
}
