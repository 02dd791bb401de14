import type { Request, RequestHandler } from 'express';
import { Histogram } from 'prom-client';

/** The route label of requests no route matched, so unknown paths cannot grow the label set. */
export const unmatchedRoute = 'unmatched';

/** Up to 30 s: `Prefer: wait` holds a transfer request open that long. */
const durationBucketsSeconds = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

const requestDuration = new Histogram({
  name: 'http_request_duration_seconds',
  help: 'HTTP requests by method, route pattern and status, from arrival to the last byte of the response',
  labelNames: ['method', 'route', 'status'],
  buckets: durationBucketsSeconds,
});

/**
 * The pattern of the route that handled the request (`/v1/transfers/:id`), never the raw
 * path. Every router is mounted at the root, so a route's path is its whole pattern.
 */
export function routeLabel(req: Request): string {
  const path: unknown = req.route?.path;
  return typeof path === 'string' ? path : unmatchedRoute;
}

/**
 * Times every request that gets a response. One the client abandons before its response
 * is sent is not counted (its status would be meaningless).
 */
export function httpMetrics(): RequestHandler {
  return (req, res, next) => {
    const stop = requestDuration.startTimer();
    res.on('finish', () => {
      stop({ method: req.method, route: routeLabel(req), status: String(res.statusCode) });
    });
    next();
  };
}
