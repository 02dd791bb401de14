import { type AccountState, evolveAccount } from '../domain/account';
import { parseAccountEvent } from '../domain/events';
import { accountStream } from '../domain/streams';
import type { EventStore } from '../eventstore/port';
import { foldMore, loadAccount, type Loaded, readWholeStream } from './aggregates';

/** Accounts kept folded in memory by the transfer process. */
export const maxCachedAccounts = 100_000;
const maxParallelLoads = 32;

/**
 * Folded account states, kept between batches so the hot path reads nothing: every append
 * carries the revision the decision was made at, so a stale entry makes the append fail
 * (and is then dropped and reloaded) instead of deciding wrongly.
 */
export class AccountCache {
  private readonly entries = new Map<string, Loaded<AccountState>>();

  constructor(private readonly store: EventStore) {}

  /** Loads every id not in the cache, several at a time. */
  async ensure(accountIds: Iterable<string>): Promise<void> {
    const missing = [...new Set(accountIds)].filter((id) => !this.entries.has(id));
    for (let i = 0; i < missing.length; i += maxParallelLoads) {
      await Promise.all(
        missing.slice(i, i + maxParallelLoads).map(async (id) => this.set(id, await loadAccount(this.store, id))),
      );
    }
  }

  get(accountId: string): Loaded<AccountState> {
    const entry = this.entries.get(accountId);
    if (!entry) throw new Error(`account ${accountId} was not loaded`);
    return entry;
  }

  set(accountId: string, loaded: Loaded<AccountState>): void {
    this.entries.delete(accountId);
    this.entries.set(accountId, loaded);
    if (this.entries.size > maxCachedAccounts) {
      const oldest = this.entries.keys().next().value;
      if (oldest !== undefined) this.entries.delete(oldest);
    }
  }

  /** Forget entries whose folded state may be wrong (a failed append, a conflict). */
  drop(accountIds: Iterable<string>): void {
    for (const id of accountIds) this.entries.delete(id);
  }

  /**
   * True when the stream has nothing past the cached revision. Used before recording a
   * decision that wrote nothing to the account (a rejection), which no expected revision
   * would otherwise check. Folds in whatever it finds.
   */
  async isCurrent(accountId: string): Promise<boolean> {
    const entry = this.get(accountId);
    const from = typeof entry.revision === 'bigint' ? entry.revision + 1n : 0n;
    const newer = await readWholeStream(this.store, accountStream(accountId), from);
    if (newer.length === 0) return true;
    this.drop([accountId]);
    this.set(accountId, foldMore(entry, newer, parseAccountEvent, evolveAccount));
    return false;
  }
}
