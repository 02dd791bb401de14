import type { Router } from 'express';
import { DomainError } from '../../domain/errors';
import { transfersProjection } from '../../projections/transfers';
import { jsonBody, maxBatchBodyBytes } from '../body';
import type { ApiContext } from '../context';
import { decodeTimeCursor, encodeTimeCursor } from '../cursor';
import { transferFromRow } from '../format';
import { listTransfers } from '../read-models';
import {
  awaitReadModels,
  idempotencyKeyOf,
  idempotencyScopeOf,
  preferredWaitSeconds,
  setLedgerPosition,
} from '../request';
import {
  batchBody,
  commitBody,
  defaultPageLimit,
  emptyBody,
  emptyQuery,
  toMinor,
  transferBody,
  transferListQuery,
  transferParams,
  validate,
} from '../schemas';
import { logTransferId } from '../request-context';
import { isSettledDecision } from '../settle';
import { requestBatch } from '../transfer-batch';
import { idempotentReplayedHeader, requestOneTransfer, sendTransfer } from '../transfer-intake';
import { transferView } from '../views';

const transfersRead = [transfersProjection];

export function transferRoutes(router: Router, ctx: ApiContext): void {
  router.post('/v1/transfers', jsonBody(), async (req, res) => {
    const key = idempotencyKeyOf(req);
    const waitSeconds = preferredWaitSeconds(req);
    const body = validate(transferBody, req.body, 'body');
    await requestOneTransfer(ctx, req, res, body, key, waitSeconds);
  });

  router.post('/v1/transfers/batch', jsonBody(maxBatchBodyBytes), async (req, res) => {
    const key = idempotencyKeyOf(req);
    const { transfers } = validate(batchBody, req.body, 'body');
    const batch = await requestBatch(ctx, transfers, idempotencyScopeOf(req), key);
    if (batch.position !== undefined) setLedgerPosition(res, batch.position);
    if (batch.allReplayed) res.set(idempotentReplayedHeader, 'true');
    res.status(202).json({ items: batch.items });
  });

  router.get('/v1/transfers', async (req, res) => {
    const query = validate(transferListQuery, req.query, 'query');
    const after = query.cursor === undefined ? undefined : decodeTimeCursor('transfers', query.cursor);
    await awaitReadModels(ctx, req, transfersRead);
    const filter = {
      ...(query.account !== undefined && { account: query.account }),
      ...(query.status !== undefined && { status: query.status }),
    };
    const page = await listTransfers(ctx.pool, filter, query.limit ?? defaultPageLimit, after);
    const last = page.rows[page.rows.length - 1];
    res.json({
      items: page.rows.map(transferFromRow),
      nextCursor: page.more ? encodeTimeCursor('transfers', last.cursor) : null,
    });
  });

  router.get('/v1/transfers/:id', async (req, res) => {
    const { id } = validate(transferParams, req.params, 'id');
    logTransferId(res, id);
    validate(emptyQuery, req.query, 'query');
    await awaitReadModels(ctx, req, transfersRead);
    res.json(await transferView(ctx, id));
  });

  router.post('/v1/transfers/:id/commit', jsonBody(), async (req, res) => {
    const { id } = validate(transferParams, req.params, 'id');
    logTransferId(res, id);
    const waitSeconds = preferredWaitSeconds(req);
    const { amount } = validate(commitBody, req.body, 'body') ?? {};
    let amountMinor: bigint | undefined;
    if (amount !== undefined) {
      const existing = await ctx.transfers.getTransfer(id);
      if (!existing) throw new DomainError('TRANSFER_NOT_FOUND', `transfer ${id} does not exist`, { transferId: id });
      amountMinor = toMinor(amount, existing.state.request!.currency, 'amount');
    }
    const decided = await ctx.transfers.commitTransfer(id, amountMinor);
    await sendTransfer(ctx, res, decided, { waitSeconds, settled: isSettledDecision, settledStatus: 200 });
  });

  router.post('/v1/transfers/:id/void', jsonBody(), async (req, res) => {
    const { id } = validate(transferParams, req.params, 'id');
    logTransferId(res, id);
    const waitSeconds = preferredWaitSeconds(req);
    validate(emptyBody, req.body, 'body');
    const decided = await ctx.transfers.voidTransfer(id);
    await sendTransfer(ctx, res, decided, { waitSeconds, settled: isSettledDecision, settledStatus: 200 });
  });
}
