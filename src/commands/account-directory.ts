import { parseAccountEvent } from '../domain/events';
import { accountStream } from '../domain/streams';
import type { EventStore } from '../eventstore/port';

export const maxDirectoryEntries = 200_000;
const maxParallelLookups = 32;

/**
 * What ingress checks synchronously: that an account exists and its currency. Both are
 * fixed when the account is opened (its first event), so they can be cached forever;
 * everything that changes (status, balances) is the transfer process's to decide.
 */
export class AccountDirectory {
  private readonly currencies = new Map<string, string>();

  constructor(private readonly store: EventStore) {}

  /** The currency of each account that exists; absent ids do not exist. */
  async currenciesOf(accountIds: Iterable<string>): Promise<Map<string, string>> {
    const ids = [...new Set(accountIds)];
    const missing = ids.filter((id) => !this.currencies.has(id));
    for (let i = 0; i < missing.length; i += maxParallelLookups) {
      await Promise.all(missing.slice(i, i + maxParallelLookups).map((id) => this.lookUp(id)));
    }
    const found = new Map<string, string>();
    for (const id of ids) {
      const currency = this.currencies.get(id);
      if (currency !== undefined) found.set(id, currency);
    }
    return found;
  }

  private async lookUp(accountId: string): Promise<void> {
    const [first] = await this.store.readStream(accountStream(accountId), { maxCount: 1 });
    if (!first) return;
    const opened = parseAccountEvent(first);
    if (opened.type !== 'AccountOpened') throw new Error(`account ${accountId} does not start with AccountOpened`);
    if (this.currencies.size >= maxDirectoryEntries) this.currencies.clear();
    this.currencies.set(accountId, opened.data.currency);
  }
}
