/**
 * The state the bridge needs to build its messages: each account's view and each open
 * transfer's state, kept in memory between batches (bounded) and folded from the stream
 * itself when missing (after a start or an eviction), up to the event being mapped.
 */
import type { TransferState } from '../domain/transfer';
import { isTerminalTransferStatus } from '../domain/transfer';
import { parseStream } from '../domain/streams';
import { type EventStore, maxReadCount, type RecordedEvent } from '../eventstore/port';
import { type AccountView, type IntegrationEvent, mapAccountEvent, mapTransferEvent } from './mapper';

/** Accounts and open transfers kept folded; past this the least recently used is dropped. */
export const maxCachedViews = 100_000;
/** Streams folded at once when a batch needs several that are not cached. */
const maxParallelLoads = 16;

interface Cached<S> {
  state: S;
  /** The revision of the last event folded in. */
  revision: bigint;
}

class LruCache<S> {
  private readonly entries = new Map<string, Cached<S>>();

  get(key: string): Cached<S> | undefined {
    const entry = this.entries.get(key);
    if (entry !== undefined) {
      this.entries.delete(key);
      this.entries.set(key, entry);
    }
    return entry;
  }

  has(key: string): boolean {
    return this.entries.has(key);
  }

  set(key: string, entry: Cached<S>): void {
    this.entries.delete(key);
    this.entries.set(key, entry);
    if (this.entries.size > maxCachedViews) this.entries.delete(this.entries.keys().next().value!);
  }

  delete(key: string): void {
    this.entries.delete(key);
  }
}

export class IntegrationViews {
  private readonly accounts = new LruCache<AccountView | undefined>();
  private readonly transfers = new LruCache<TransferState | undefined>();

  constructor(private readonly store: EventStore) {}

  /** The messages of a batch of events, in order. Events of other streams map to none. */
  async map(events: readonly RecordedEvent[]): Promise<IntegrationEvent[]> {
    await this.preload(events);
    const out: IntegrationEvent[] = [];
    for (const recorded of events) {
      const stream = parseStream(recorded.streamName);
      if (stream === null) continue;
      if (stream.category === 'account') {
        const before = await this.before(this.accounts, recorded, (e, s) => mapAccountEvent(e, s).view);
        const { view, messages } = mapAccountEvent(recorded, before);
        this.accounts.set(recorded.streamName, { state: view, revision: recorded.revision });
        out.push(...messages);
      } else {
        const before = await this.before(this.transfers, recorded, (e, s) => mapTransferEvent(e, s).state);
        const { state, messages } = mapTransferEvent(recorded, before);
        // A finished transfer has no more events: keep the room for open ones.
        if (isTerminalTransferStatus(state.status)) this.transfers.delete(recorded.streamName);
        else this.transfers.set(recorded.streamName, { state, revision: recorded.revision });
        out.push(...messages);
      }
    }
    return out;
  }

  /** Folds, in parallel, the streams a batch needs that are not cached, up to each one's first event in it. */
  private async preload(events: readonly RecordedEvent[]): Promise<void> {
    const first = new Map<string, RecordedEvent>();
    for (const e of events) {
      const category = parseStream(e.streamName)?.category;
      const cache = category === 'account' ? this.accounts : category === 'transfer' ? this.transfers : undefined;
      if (cache !== undefined && !cache.has(e.streamName) && !first.has(e.streamName)) first.set(e.streamName, e);
    }
    const missing = [...first.values()];
    for (let i = 0; i < missing.length; i += maxParallelLoads) {
      await Promise.all(
        missing.slice(i, i + maxParallelLoads).map(async (e) => {
          if (parseStream(e.streamName)?.category === 'account') {
            this.accounts.set(e.streamName, await this.fold(e, (r, s) => mapAccountEvent(r, s).view));
          } else {
            this.transfers.set(e.streamName, await this.fold(e, (r, s) => mapTransferEvent(r, s).state));
          }
        }),
      );
    }
  }

  /** The stream's state just before `recorded`: cached when it follows on, else folded again. */
  private async before<S>(
    cache: LruCache<S | undefined>,
    recorded: RecordedEvent,
    evolve: (e: RecordedEvent, s: S | undefined) => S,
  ): Promise<S | undefined> {
    const cached = cache.get(recorded.streamName);
    if (cached !== undefined && cached.revision === recorded.revision - 1n) return cached.state;
    return (await this.fold(recorded, evolve)).state;
  }

  /** Folds the stream's events before `recorded` (revisions 0 .. recorded.revision - 1). */
  private async fold<S>(
    recorded: RecordedEvent,
    evolve: (e: RecordedEvent, s: S | undefined) => S,
  ): Promise<Cached<S | undefined>> {
    let state: S | undefined;
    let revision = -1n;
    while (revision + 1n < recorded.revision) {
      const wanted = recorded.revision - (revision + 1n);
      const page = await this.store.readStream(recorded.streamName, {
        fromRevision: revision + 1n,
        maxCount: Number(wanted < BigInt(maxReadCount) ? wanted : BigInt(maxReadCount)),
      });
      if (page.length === 0) break;
      for (const e of page) state = evolve(e, state);
      revision = page[page.length - 1].revision;
    }
    return { state, revision };
  }
}
