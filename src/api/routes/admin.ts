/**
 * Operators' views, for the `admin` scope (access.ts): the Kafka bridge's state, read from
 * PostgreSQL so any instance answers for the one that runs it.
 */
import type { Router } from 'express';
import { readBridgeStatus } from '../../integration/status';
import type { ApiContext } from '../context';
import { emptyQuery, validate } from '../schemas';

export function adminRoutes(router: Router, ctx: ApiContext): void {
  router.get('/v1/admin/bridge', async (req, res) => {
    validate(emptyQuery, req.query, 'query');
    res.json({ enabled: ctx.bridge !== undefined, ...(await readBridgeStatus(ctx.pool, ctx.store)) });
  });
}
