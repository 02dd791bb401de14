/**
 * The routes the seed system's clients call, in the seed's shapes, so its documented curl
 * calls keep working. Each is a thin veneer over the /v1 behaviour.
 */
import type { Router } from 'express';
import { accountsProjection } from '../../projections/accounts';
import { transfersProjection } from '../../projections/transfers';
import { jsonBody } from '../body';
import type { ApiContext } from '../context';
import { ValidationFailed } from '../problems';
import { awaitReadModels, idempotencyKeyHeader, idempotencyKeyOf, preferredWaitSeconds } from '../request';
import { accountParams, emptyQuery, seedTransferBody, transactionParams, validate } from '../schemas';
import { logTransferId } from '../request-context';
import { requestOneTransfer } from '../transfer-intake';
import { accountView, transferView } from '../views';

export function seedRoutes(router: Router, ctx: ApiContext): void {
  router.post('/api/v1/payments/transfer', jsonBody(), async (req, res) => {
    const headerKey = idempotencyKeyOf(req);
    const waitSeconds = preferredWaitSeconds(req);
    const { idempotencyKey: bodyKey, ...body } = validate(seedTransferBody, req.body, 'body');
    if (headerKey !== undefined && bodyKey !== undefined && headerKey !== bodyKey) {
      throw new ValidationFailed([
        { path: 'idempotencyKey', message: `differs from the ${idempotencyKeyHeader} header` },
      ]);
    }
    await requestOneTransfer(ctx, req, res, body, headerKey ?? bodyKey, waitSeconds);
  });

  router.get('/api/v1/payments/accounts/:id/balance', async (req, res) => {
    const { id } = validate(accountParams, req.params, 'id');
    validate(emptyQuery, req.query, 'query');
    await awaitReadModels(ctx, req, [accountsProjection]);
    res.json((await accountView(ctx, id)).balance);
  });

  router.get('/api/v1/payments/transactions/:txId/status', async (req, res) => {
    const { txId } = validate(transactionParams, req.params, 'txId');
    logTransferId(res, txId);
    validate(emptyQuery, req.query, 'query');
    await awaitReadModels(ctx, req, [transfersProjection]);
    const transfer = await transferView(ctx, txId);
    res.json({
      transactionId: transfer.id,
      status: transfer.status,
      ...(transfer.reason !== undefined && { reason: transfer.reason }),
    });
  });
}
