/**
 * The reconciler for operators (`admin` scope): its recorded runs with their findings, and
 * a run asked for now (queued; any instance's reconciler worker takes it).
 */
import type { Response, Router } from 'express';
import { DeadlineExceeded, withDeadline } from '../../deadline';
import { findRun, listRuns, type RunRecord } from '../../jobs/runs';
import { jsonBody } from '../body';
import type { ApiContext } from '../context';
import { HttpProblem } from '../problems';
import { reconcileJobParams, reconcileRunParams, reconcileRunsQuery, reconcileTriggerBody, validate } from '../schemas';

const defaultListedRuns = 20;
/** How long a request waits for Redis to take a run. */
export const triggerTimeoutMs = 5_000;

function runJson(run: RunRecord) {
  return {
    ...run,
    startedAt: run.startedAt.toISOString(),
    finishedAt: run.finishedAt?.toISOString() ?? null,
  };
}

export function reconcileRoutes(router: Router, ctx: ApiContext): void {
  router.get('/v1/admin/reconcile/runs', async (req, res) => {
    const { job, limit } = validate(reconcileRunsQuery, req.query, 'query');
    const runs = await listRuns(ctx.pool, { job, limit: limit ?? defaultListedRuns });
    res.json({ runs: runs.map(runJson) });
  });

  router.get('/v1/admin/reconcile/runs/:id', async (req, res: Response) => {
    const { id } = validate(reconcileRunParams, req.params, 'id');
    const run = await findRun(ctx.pool, id);
    if (run === undefined) throw new HttpProblem(404, 'RUN_NOT_FOUND', `no reconciliation run ${id}`);
    res.json(runJson(run));
  });

  router.post('/v1/admin/reconcile/:job', jsonBody(), async (req, res) => {
    const { job } = validate(reconcileJobParams, req.params, 'job');
    const options = validate(reconcileTriggerBody, req.body, 'body') ?? {};
    if (ctx.jobs === undefined) throw new HttpProblem(503, 'RECONCILER_UNAVAILABLE', 'this instance has no job queues');
    let queueJobId: string;
    try {
      queueJobId = await withDeadline(ctx.jobs.trigger(job, options), triggerTimeoutMs, 'queueing the run');
    } catch (err) {
      if (!(err instanceof DeadlineExceeded)) throw err;
      throw new HttpProblem(
        503,
        'RECONCILER_UNAVAILABLE',
        `Redis did not take the run within ${triggerTimeoutMs / 1000} s (it may still be queued once Redis is back)`,
        { 'Retry-After': String(triggerTimeoutMs / 1000) },
      );
    }
    res.status(202).json({ job, queueJobId });
  });
}
