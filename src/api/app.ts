/**
 * The HTTP API (API.md): express with JSON bodies, zod-validated input, problem+json
 * errors from one middleware, and routes split by resource.
 */
import express, { type Express, Router } from 'express';
import { httpMetrics } from '../metrics/http';
import { accessControl, protectedMounts } from './access';
import { type ApiDeps, apiContext } from './context';
import { problemHandler, routeNotFound } from './problems';
import { requestContext } from './request-context';
import { accountRoutes } from './routes/accounts';
import { adminRoutes } from './routes/admin';
import { docsRoutes } from './routes/docs';
import { operationsRoutes } from './routes/operations';
import { reconcileRoutes } from './routes/reconcile';
import { queueDashboard } from './routes/queue-dashboard';
import { seedRoutes } from './routes/seed';
import { transferRoutes } from './routes/transfers';

export type { ApiDeps } from './context';

export function createApp(deps: ApiDeps): Express {
  const ctx = apiContext(deps);
  const app = express();
  app.disable('x-powered-by');
  // Ledger data is never cached (Cache-Control: no-store), so ETags would only cost a hash.
  app.set('etag', false);
  app.use(requestContext(deps.logger));
  app.use(httpMetrics());
  const access = accessControl(deps.access ?? { keys: [] }, deps.redis, deps.logger);
  if (access.length > 0) app.use(protectedMounts, ...access);
  // One router for every route: leaving a router that did not match costs a request a turn
  // of the event loop, so the routes are not split into a router per module. Hot routes first.
  const routes = Router();
  transferRoutes(routes, ctx);
  accountRoutes(routes, ctx);
  seedRoutes(routes, ctx);
  operationsRoutes(routes, ctx);
  adminRoutes(routes, ctx);
  reconcileRoutes(routes, ctx);
  docsRoutes(routes);
  app.use(routes);
  queueDashboard(app, ctx.jobs);
  app.use(routeNotFound);
  app.use(problemHandler(deps.logger));
  return app;
}
