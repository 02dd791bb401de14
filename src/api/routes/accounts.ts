import { randomUUID } from 'node:crypto';
import type { Request, Response, Router } from 'express';
import {
  type AccountResult,
  closeAccount,
  freezeAccount,
  openAccount,
  unfreezeAccount,
} from '../../commands/account-commands';
import { balanceAsOf } from '../../projections/balance-as-of';
import { accountsProjection } from '../../projections/accounts';
import { transfersProjection } from '../../projections/transfers';
import { jsonBody } from '../body';
import type { ApiContext } from '../context';
import { decodePositionCursor, decodeTimeCursor, encodePositionCursor, encodeTimeCursor } from '../cursor';
import { accountFromRow, accountFromState, balanceAsOfJson, entryFromRow } from '../format';
import { listAccounts, listEntries } from '../read-models';
import { awaitReadModels, setLedgerPosition } from '../request';
import {
  accountParams,
  balanceQuery,
  defaultPageLimit,
  emptyBody,
  emptyQuery,
  openAccountBody,
  pageQuery,
  validate,
} from '../schemas';
import { ValidationFailed } from '../problems';
import { accountNotFound, accountView } from '../views';

const accountsRead = [accountsProjection];
/** The statement joins each entry's transfer description. */
const statementRead = [accountsProjection, transfersProjection];

export function accountRoutes(router: Router, ctx: ApiContext): void {
  const sendWritten = (res: Response, result: AccountResult, status: number) => {
    setLedgerPosition(res, result.position);
    res
      .status(status)
      .json(accountFromState(result.state, { version: result.revision, position: result.position, asOf: ctx.now() }));
  };

  router.post('/v1/accounts', jsonBody(), async (req, res) => {
    const body = validate(openAccountBody, req.body, 'body');
    const accountId = body.id ?? randomUUID();
    const result = await openAccount(ctx.store, {
      accountId,
      currency: body.currency,
      overdraft: body.overdraft,
      ...(body.metadata !== undefined && { metadata: body.metadata }),
      now: ctx.now(),
    });
    // Opening the same account again with the same attributes changes nothing: 200, not 201.
    if (result.changed) res.location(`/v1/accounts/${encodeURIComponent(accountId)}`);
    sendWritten(res, result, result.changed ? 201 : 200);
  });

  router.get('/v1/accounts', async (req, res) => {
    const query = validate(pageQuery, req.query, 'query');
    await awaitReadModels(ctx, req, accountsRead);
    const limit = query.limit ?? defaultPageLimit;
    const page = await listAccounts(
      ctx.pool,
      limit,
      query.cursor === undefined ? undefined : decodeTimeCursor('accounts', query.cursor),
    );
    const last = page.rows[page.rows.length - 1];
    res.json({
      items: page.rows.map(accountFromRow),
      nextCursor: page.more ? encodeTimeCursor('accounts', last.cursor) : null,
    });
  });

  router.get('/v1/accounts/:id', async (req, res) => {
    const { id } = validate(accountParams, req.params, 'id');
    validate(emptyQuery, req.query, 'query');
    await awaitReadModels(ctx, req, accountsRead);
    res.json(await accountView(ctx, id));
  });

  router.get('/v1/accounts/:id/balance', async (req, res) => {
    const { id } = validate(accountParams, req.params, 'id');
    const { asOf } = validate(balanceQuery, req.query, 'query');
    if (asOf === undefined) {
      await awaitReadModels(ctx, req, accountsRead);
      res.json((await accountView(ctx, id)).balance);
      return;
    }
    const at = new Date(asOf);
    if (at.getTime() > ctx.now().getTime())
      throw new ValidationFailed([{ path: 'asOf', message: 'must not be in the future' }]);
    // Folded from the account's events, not from the read model: no need to wait for it.
    const balance = await balanceAsOf(ctx.store, id, at);
    if (!balance) throw accountNotFound(id);
    res.json(balanceAsOfJson(balance));
  });

  router.get('/v1/accounts/:id/entries', async (req, res) => {
    const { id } = validate(accountParams, req.params, 'id');
    const query = validate(pageQuery, req.query, 'query');
    const before = query.cursor === undefined ? undefined : decodePositionCursor(query.cursor);
    await awaitReadModels(ctx, req, statementRead);
    const { currency } = await accountView(ctx, id);
    const page = await listEntries(ctx.pool, id, query.limit ?? defaultPageLimit, before);
    const last = page.rows[page.rows.length - 1];
    res.json({
      items: page.rows.map((row) => entryFromRow(row, currency)),
      nextCursor: page.more ? encodePositionCursor(last.position) : null,
    });
  });

  const accountCommand = (run: typeof freezeAccount) => async (req: Request, res: Response) => {
    const { id } = validate(accountParams, req.params, 'id');
    validate(emptyBody, req.body, 'body');
    sendWritten(res, await run(ctx.store, id, ctx.now()), 200);
  };
  router.post('/v1/accounts/:id/freeze', jsonBody(), accountCommand(freezeAccount));
  router.post('/v1/accounts/:id/unfreeze', jsonBody(), accountCommand(unfreezeAccount));
  router.post('/v1/accounts/:id/close', jsonBody(), accountCommand(closeAccount));
}
