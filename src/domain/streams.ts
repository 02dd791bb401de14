/**
 * Stream names. One stream per account (`account-{id}`) and per transfer (`transfer-{id}`).
 * The category is the fixed prefix; ids themselves may contain '-' (`account-acc-1` → `acc-1`).
 */

export const accountStreamPrefix = 'account-';
export const transferStreamPrefix = 'transfer-';

export type StreamCategory = 'account' | 'transfer';

export function accountStream(accountId: string): string {
  return accountStreamPrefix + accountId;
}

export function transferStream(transferId: string): string {
  return transferStreamPrefix + transferId;
}

/** The account id of an `account-{id}` stream, or null for any other stream. */
export function parseAccountStream(streamName: string): string | null {
  return idAfter(accountStreamPrefix, streamName);
}

/** The transfer id of a `transfer-{id}` stream, or null for any other stream. */
export function parseTransferStream(streamName: string): string | null {
  return idAfter(transferStreamPrefix, streamName);
}

/** Which kind of ledger stream this is, with its id; null for streams that are not ours. */
export function parseStream(streamName: string): { category: StreamCategory; id: string } | null {
  const accountId = parseAccountStream(streamName);
  if (accountId !== null) return { category: 'account', id: accountId };
  const transferId = parseTransferStream(streamName);
  if (transferId !== null) return { category: 'transfer', id: transferId };
  return null;
}

function idAfter(prefix: string, streamName: string): string | null {
  if (!streamName.startsWith(prefix) || streamName.length === prefix.length) return null;
  return streamName.slice(prefix.length);
}
