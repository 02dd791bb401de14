/**
 * From a validated transfer body to a TransferRequestInput, and from an accepted transfer
 * to the response — shared by POST /v1/transfers, its batch and the seed route.
 */
import type { Request, Response } from 'express';
import type { AcceptedTransfer, TransferRequestInput } from '../commands/transfer-commands';
import type { TransferState } from '../domain/transfer';
import type { ApiContext } from './context';
import { transferFromState } from './format';
import { idempotencyScopeOf, setLedgerPosition } from './request';
import { logTransferId } from './request-context';
import type { TransferBody } from './schemas';
import { toMinor } from './schemas';
import { awaitSettled, isSettledRequest } from './settle';
import { accountNotFound } from './views';

export const idempotentReplayedHeader = 'Idempotent-Replayed';

/** The currency of every account these bodies name that exists (absent: it does not). */
export function currenciesFor(ctx: ApiContext, bodies: readonly TransferBody[]): Promise<Map<string, string>> {
  return ctx.directory.currenciesOf(bodies.flatMap((b) => [b.sourceAccount, b.destinationAccount]));
}

/**
 * The amount is read in the currency the client named, else the accounts' currency; the
 * transfer commands then check that all of them agree (CURRENCY_MISMATCH) and that both
 * accounts exist. With neither known there is no currency to read the amount in: 404.
 */
export function toTransferInput(
  body: TransferBody,
  currencies: Map<string, string>,
  idempotencyKey?: string,
): TransferRequestInput {
  const currency = body.currency ?? currencies.get(body.sourceAccount) ?? currencies.get(body.destinationAccount);
  if (currency === undefined) throw accountNotFound(body.sourceAccount);
  return {
    sourceAccount: body.sourceAccount,
    destinationAccount: body.destinationAccount,
    amountMinor: toMinor(body.amount, currency, 'amount'),
    ...(body.id !== undefined && { transferId: body.id }),
    ...(body.currency !== undefined && { currency: body.currency }),
    ...(body.description !== undefined && { description: body.description }),
    ...(body.metadata !== undefined && { metadata: body.metadata }),
    ...(body.mode !== undefined && { mode: body.mode }),
    ...(body.timeoutSeconds !== undefined && { timeoutSeconds: body.timeoutSeconds }),
    ...(idempotencyKey !== undefined && { idempotencyKey }),
  };
}

/**
 * Answers with the transfer: `pending` (202) at once, or with `Prefer: wait=N` once it is
 * settled (`settledStatus`) or N seconds have passed (then still 202).
 */
export async function sendTransfer(
  ctx: ApiContext,
  res: Response,
  accepted: AcceptedTransfer,
  options: {
    /** From preferredWaitSeconds(req), read before the write so a bad header changes nothing. */
    waitSeconds: number | undefined;
    settled: (state: TransferState) => boolean;
    settledStatus: number;
    location?: boolean;
  },
): Promise<void> {
  const { waitSeconds } = options;
  logTransferId(res, accepted.transferId);
  let transfer = accepted;
  let status = 202;
  if (waitSeconds !== undefined) {
    const clientGone = new AbortController();
    const onClose = () => clientGone.abort();
    res.on('close', onClose);
    try {
      const outcome = await awaitSettled(ctx.transfers, accepted, waitSeconds, options.settled, clientGone.signal);
      transfer = outcome.transfer;
      if (outcome.settled) status = options.settledStatus;
    } finally {
      res.off('close', onClose);
    }
    res.set('Preference-Applied', `wait=${waitSeconds}`);
  }
  if (options.location) res.location(`/v1/transfers/${encodeURIComponent(transfer.transferId)}`);
  if (transfer.replayed) res.set(idempotentReplayedHeader, 'true');
  setLedgerPosition(res, transfer.position);
  res.status(status).json(transferFromState(transfer.state));
}

/**
 * Requests one transfer and answers as POST /v1/transfers does: 202 with the transfer, or
 * 201 once it is settled within a `Prefer: wait`; `Location` names it either way.
 */
export async function requestOneTransfer(
  ctx: ApiContext,
  req: Request,
  res: Response,
  body: TransferBody,
  idempotencyKey: string | undefined,
  waitSeconds: number | undefined,
): Promise<void> {
  const input = toTransferInput(body, await currenciesFor(ctx, [body]), idempotencyKey);
  const accepted = await ctx.transfers.requestTransfer(input, idempotencyScopeOf(req));
  await sendTransfer(ctx, res, accepted, {
    waitSeconds,
    settled: isSettledRequest,
    settledStatus: 201,
    location: true,
  });
}
