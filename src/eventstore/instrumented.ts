/**
 * The EventStore port with metrics around its appends: how long each takes and how it
 * ended, and what was stored (events by type, transfers by status). Reads and
 * subscriptions pass straight through.
 *
 * An idempotent re-append of event ids a stream already holds succeeds without writing,
 * and the port does not say so: such a retry is counted again. The counts are therefore
 * upper bounds that include retries, not exact numbers of stored events.
 */
import { type AppendOperation, countAppended, observeAppend } from '../metrics/ledger';
import {
  type AppendResult,
  type EventStore,
  type EventStoreCapabilities,
  type EventToAppend,
  type ExpectedRevision,
  type ReadAllOptions,
  type ReadStreamOptions,
  type RecordedEvent,
  type StreamAppend,
  type SubscribeOptions,
  type Subscription,
  WrongExpectedRevision,
} from './port';

export function instrumentEventStore(inner: EventStore): EventStore {
  return new InstrumentedEventStore(inner);
}

class InstrumentedEventStore implements EventStore {
  constructor(private readonly inner: EventStore) {}

  get capabilities(): EventStoreCapabilities {
    return this.inner.capabilities;
  }

  async append(streamName: string, events: EventToAppend[], expectedRevision: ExpectedRevision): Promise<AppendResult> {
    const result = await timed('append', () => this.inner.append(streamName, events, expectedRevision));
    countAppended(events);
    return result;
  }

  async appendMultiple(appends: StreamAppend[]): Promise<AppendResult[]> {
    const results = await timed('appendMultiple', () => this.inner.appendMultiple(appends));
    countAppended(appends.flatMap((a) => a.events));
    return results;
  }

  readStream(streamName: string, options?: ReadStreamOptions): Promise<RecordedEvent[]> {
    return this.inner.readStream(streamName, options);
  }

  readAll(options?: ReadAllOptions): Promise<RecordedEvent[]> {
    return this.inner.readAll(options);
  }

  headPosition(): Promise<bigint> {
    return this.inner.headPosition();
  }

  subscribe(options: SubscribeOptions): Subscription {
    return this.inner.subscribe(options);
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}

async function timed<T>(operation: AppendOperation, append: () => Promise<T>): Promise<T> {
  const started = process.hrtime.bigint();
  const seconds = () => Number(process.hrtime.bigint() - started) / 1e9;
  try {
    const result = await append();
    observeAppend(operation, 'ok', seconds());
    return result;
  } catch (err) {
    observeAppend(operation, err instanceof WrongExpectedRevision ? 'conflict' : 'error', seconds());
    throw err;
  }
}
