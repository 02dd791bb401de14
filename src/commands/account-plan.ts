import {
  type AccountCommand,
  type AccountEvent,
  type AccountState,
  decideAccount,
  evolveAccount,
} from '../domain/account';
import { DomainError } from '../domain/errors';
import { accountStream } from '../domain/streams';
import type { AppendResult, StreamAppend } from '../eventstore/port';
import type { AccountCache } from './account-cache';
import { type Loaded, toEventToAppend } from './aggregates';

/** What an account decided, and its state after it (in the plan's working copy). */
export interface Decided {
  events: AccountEvent[];
  state: AccountState;
}

/** The ids an event written by the transfer process carries. */
export type Causation = (accountId: string, event: AccountEvent) => { id: string; correlationId: string };

interface Entry {
  loaded: Loaded<AccountState>;
  state: AccountState;
  events: AccountEvent[];
  causation: Causation[];
}

/**
 * Decisions on accounts not yet written: each account's state is folded forward in a
 * working copy as commands are decided, and `appends()` turns the new events into one
 * append per account, expecting the revision the first decision was made at. The cache
 * is updated only by `written`, once the appends are stored; a failed append `drop`s
 * every account the plan touched, since its working states share structure with the cache.
 */
export class AccountPlan {
  private readonly entries = new Map<string, Entry>();

  constructor(private readonly accounts: AccountCache) {}

  /** Loads into the cache every account the plan is about to decide on. */
  ensure(accountIds: Iterable<string>): Promise<void> {
    return this.accounts.ensure(accountIds);
  }

  /** The account as the plan's decisions so far leave it. */
  state(accountId: string): AccountState {
    return this.entries.get(accountId)?.state ?? this.accounts.get(accountId).state;
  }

  /** Decides `command` on the working state; a refusal is returned, not thrown, and changes nothing. */
  decide(accountId: string, command: AccountCommand, causation: Causation): Decided | DomainError {
    let entry = this.entries.get(accountId);
    if (!entry) {
      const loaded = this.accounts.get(accountId);
      entry = { loaded, state: loaded.state, events: [], causation: [] };
      this.entries.set(accountId, entry);
    }
    try {
      const decided = decideAccount(command, entry.state);
      for (const e of decided) {
        entry.state = evolveAccount(entry.state, e);
        entry.events.push(e);
        entry.causation.push(causation);
      }
      return { events: decided, state: entry.state };
    } catch (err) {
      if (err instanceof DomainError) return err;
      throw err;
    }
  }

  appends(): StreamAppend[] {
    const appends: StreamAppend[] = [];
    for (const [accountId, entry] of this.entries) {
      if (entry.events.length === 0) continue;
      appends.push({
        streamName: accountStream(accountId),
        expectedRevision: entry.loaded.revision,
        events: entry.events.map((event, i) => toEventToAppend({ ...entry.causation[i](accountId, event), event })),
      });
    }
    return appends;
  }

  /**
   * True when every account decided on without writing (a refusal) is still as the plan
   * saw it. No expected revision guards a decision that wrote nothing, so it is checked
   * against the stream itself; a stale one is folded forward and the plan must be redone.
   */
  async unwrittenAreCurrent(): Promise<boolean> {
    const unwritten = [...this.entries].filter(([, e]) => e.events.length === 0).map(([id]) => id);
    const current = await Promise.all(unwritten.map((id) => this.accounts.isCurrent(id)));
    return current.every(Boolean);
  }

  /** Takes the appended states into the cache. */
  written(results: Map<string, AppendResult>): void {
    for (const [accountId, entry] of this.entries) {
      const result = results.get(accountStream(accountId));
      if (result)
        this.accounts.set(accountId, { state: entry.state, revision: result.nextRevision, position: result.position });
    }
  }

  drop(): void {
    this.accounts.drop(this.entries.keys());
  }
}
