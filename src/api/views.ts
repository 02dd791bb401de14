/**
 * One account or transfer as a client sees it: from the read model, or — when the read
 * model has not yet reached it — folded from its stream, so a client never gets a 404 for
 * something it has just created (a list or statement can still lag; Ledger-Min-Position
 * is the way to wait for those).
 */
import { loadAccount } from '../commands/aggregates';
import { DomainError } from '../domain/errors';
import type { ApiContext } from './context';
import {
  type AccountJson,
  accountFromRow,
  accountFromState,
  type TransferJson,
  transferFromRow,
  transferFromState,
} from './format';
import { findAccount, findTransfer } from './read-models';

export async function accountView(ctx: ApiContext, accountId: string): Promise<AccountJson> {
  const row = await findAccount(ctx.pool, accountId);
  if (row) return accountFromRow(row);
  const loaded = await loadAccount(ctx.store, accountId);
  if (loaded.state.status === 'none' || typeof loaded.revision !== 'bigint') throw accountNotFound(accountId);
  return accountFromState(loaded.state, { version: loaded.revision, position: loaded.position, asOf: ctx.now() });
}

export async function transferView(ctx: ApiContext, transferId: string): Promise<TransferJson> {
  const row = await findTransfer(ctx.pool, transferId);
  if (row) return transferFromRow(row);
  const accepted = await ctx.transfers.getTransfer(transferId);
  if (!accepted) throw new DomainError('TRANSFER_NOT_FOUND', `transfer ${transferId} does not exist`, { transferId });
  return transferFromState(accepted.state);
}

export function accountNotFound(accountId: string): DomainError {
  return new DomainError('ACCOUNT_NOT_FOUND', `account ${accountId} does not exist`, { accountId });
}
