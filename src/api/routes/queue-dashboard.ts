/**
 * The BullMQ dashboard (bull-board) at /admin/queues, over the reconciler's queues: a page
 * and the JSON API it polls, for operators to see, retry and remove jobs. access.ts asks the
 * `admin` scope for everything under /admin, as for /v1/admin. With no API keys configured
 * the whole API is open (logAccessPolicy warns), and so is this dashboard, actions included.
 */
import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { ExpressAdapter } from '@bull-board/express';
import type { Express, IRouter } from 'express';
import type { JobQueues } from '../../jobs/queues';

export const queueDashboardPath = '/admin/queues';

/** Mounts the dashboard when the queues are there; without them there is nothing to show. */
export function queueDashboard(router: IRouter, jobs: JobQueues | undefined): void {
  if (jobs === undefined) return;
  const serverAdapter = new ExpressAdapter().setBasePath(queueDashboardPath);
  createBullBoard({ queues: jobs.all.map((queue) => new BullMQAdapter(queue)), serverAdapter });
  // bull-board serves from an express app of its own, which would announce itself like the main app does not.
  const dashboard = serverAdapter.getRouter() as Express;
  dashboard.disable('x-powered-by');
  router.use(queueDashboardPath, dashboard);
}
