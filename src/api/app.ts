/**
 * The HTTP API (API.md): express with JSON bodies, zod-validated input, problem+json
 * errors from one middleware, and routes split by resource.
 */
import express, { type Express } from 'express';
import { httpMetrics } from '../metrics/http';
import { accessControl, protectedMounts } from './access';
import { type ApiDeps, apiContext } from './context';
import { problemHandler, routeNotFound } from './problems';
import { requestContext } from './request-context';
import { accountRoutes } from './routes/accounts';
import { docsRoutes } from './routes/docs';
import { operationsRoutes } from './routes/operations';
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
  app.use(protectedMounts, accessControl(deps.access ?? { keys: [] }, deps.redis, deps.logger));
  app.use(operationsRoutes(ctx));
  app.use(accountRoutes(ctx));
  app.use(transferRoutes(ctx));
  app.use(seedRoutes(ctx));
  app.use(docsRoutes());
  app.use(routeNotFound);
  app.use(problemHandler(deps.logger));
  return app;
}
