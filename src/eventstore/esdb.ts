import {
  type AllStreamResolvedEvent,
  type AllStreamSubscription,
  type AppendExpectedRevision,
  BACKWARDS,
  type CurrentRevision,
  END,
  EventStoreDBClient,
  FORWARDS,
  type Position as EsdbPosition,
  type ReadPosition,
  type RecordedEvent as EsdbRecordedEvent,
  START,
  StreamNotFoundError,
  WrongExpectedVersionError,
  jsonEvent,
  streamNameFilter,
} from '@eventstore/db-client';
import type { Logger } from '../logger';
import {
  ANY,
  type ActualRevision,
  type AppendResult,
  type EventStore,
  type EventToAppend,
  type ExpectedRevision,
  type JsonObject,
  MultiStreamAppendUnsupported,
  NO_STREAM,
  type ReadAllOptions,
  type ReadStreamOptions,
  type RecordedEvent,
  STREAM_EXISTS,
  type StreamAppend,
  type SubscribeOptions,
  type Subscription,
  WrongExpectedRevision,
  defaultSubscriptionBatchSize,
  maxAppendEvents,
  maxReadCount,
} from './port';

/** The ledger's stream categories: the only part of $all this adapter reads or subscribes to. */
export const defaultStreamPrefixes = ['account-', 'transfer-', 'idempotency-'];

export interface EventStoreDbOptions {
  streamPrefixes?: string[];
  logger?: Logger;
}

/** Events read from $all per round trip when the adapter filters $all itself. */
const allScanPageEvents = 1_000;
const initialResubscribeDelayMs = 100;
const maxResubscribeDelayMs = 5_000;
/** Above this a commit position is the server's "unknown" marker (u64 max), not a real one. */
const maxRealPosition = 2n ** 63n - 1n;

const uuidPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

// ---------------------------------------------------------------------------------------
// Pure mappings between the port and the client (exported for unit tests).

export function toEsdbExpectedRevision(expected: ExpectedRevision): AppendExpectedRevision {
  switch (expected) {
    case NO_STREAM:
      return 'no_stream';
    case STREAM_EXISTS:
      return 'stream_exists';
    case ANY:
      return 'any';
    default:
      if (expected < 0n) throw new RangeError(`expected revision must be >= 0, got ${expected}`);
      return expected;
  }
}

/**
 * The client reports the expected revision as a constant, except on its legacy error path,
 * which passes the server's raw number through: -1 no stream, -2 any, -4 stream exists.
 */
export function fromEsdbExpectedRevision(expected: AppendExpectedRevision): ExpectedRevision {
  switch (expected) {
    case 'no_stream':
      return NO_STREAM;
    case 'stream_exists':
      return STREAM_EXISTS;
    case 'any':
      return ANY;
    default:
      if (expected === -1n) return NO_STREAM;
      if (expected === -2n) return ANY;
      if (expected === -4n) return STREAM_EXISTS;
      if (expected < 0n) throw new RangeError(`unknown expected revision ${expected} from EventStoreDB`);
      return expected;
  }
}

/** 'no_stream', or (legacy error path) a negative number, both mean the stream does not exist. */
export function fromEsdbCurrentRevision(actual: CurrentRevision): ActualRevision {
  if (actual === 'no_stream') return NO_STREAM;
  return actual < 0n ? NO_STREAM : actual;
}

export function toWrongExpectedRevision(
  err: Pick<WrongExpectedVersionError, 'streamName' | 'expectedVersion' | 'actualVersion'>,
): WrongExpectedRevision {
  return new WrongExpectedRevision(
    err.streamName,
    fromEsdbExpectedRevision(err.expectedVersion),
    fromEsdbCurrentRevision(err.actualVersion),
  );
}

/**
 * The port's single bigint position is the EventStoreDB commit position. The ledger only
 * writes through gRPC appends, where every event is its own implicit transaction with
 * commit == prepare; so resuming from { commit: p, prepare: p } lands exactly on the event
 * (legacy explicit transactions, where events share a commit position, are not supported).
 */
export function toEsdbPosition(position: bigint): EsdbPosition {
  if (position < 0n) throw new RangeError(`position must be >= 0, got ${position}`);
  return { commit: position, prepare: position };
}

function isKnownPosition(position: EsdbPosition | undefined): position is EsdbPosition {
  return position !== undefined && position.commit >= 0n && position.commit <= maxRealPosition;
}

export function fromEsdbPosition(position: EsdbPosition | undefined, what: string): bigint {
  if (!isKnownPosition(position)) {
    throw new Error(`EventStoreDB did not report the $all position of ${what}; EventStoreDB 22.6 or later is required`);
  }
  return position.commit;
}

/** A stream of the ledger's, and not a system stream or system event. */
export function isLedgerEvent(streamName: string, type: string, streamPrefixes: readonly string[]): boolean {
  if (streamName.startsWith('$') || type.startsWith('$')) return false;
  return streamPrefixes.some((p) => streamName.startsWith(p));
}

function isJsonObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Uint8Array);
}

export function toRecordedEvent(event: EsdbRecordedEvent): RecordedEvent {
  const where = `event ${event.id} (${event.streamId}@${event.revision})`;
  if (!event.isJson || !isJsonObject(event.data)) throw new Error(`${where} does not hold a JSON object`);
  const metadata = event.metadata ?? {};
  if (!isJsonObject(metadata)) throw new Error(`${where} has metadata that is not a JSON object`);
  return {
    id: event.id,
    type: event.type,
    data: event.data,
    metadata,
    streamName: event.streamId,
    revision: event.revision,
    position: fromEsdbPosition(event.position, where),
    // Client v6 converts the server's .NET ticks into a Date.
    createdAt: event.created,
  };
}

// ---------------------------------------------------------------------------------------

function clampCount(count: number | undefined): number {
  if (count === undefined) return maxReadCount;
  if (!Number.isInteger(count) || count < 1) throw new RangeError(`maxCount must be a positive integer, got ${count}`);
  return Math.min(count, maxReadCount);
}

function validateAppend(streamName: string, events: EventToAppend[]): void {
  if (streamName.length === 0 || streamName.length > 200) throw new RangeError('stream name must be 1-200 characters');
  if (events.length === 0) throw new RangeError(`append to ${streamName} has no events`);
  if (events.length > maxAppendEvents) {
    throw new RangeError(`an append holds at most ${maxAppendEvents} events, got ${events.length}`);
  }
  for (const e of events) {
    if (!uuidPattern.test(e.id)) throw new RangeError(`event id ${JSON.stringify(e.id)} is not a UUID`);
    if (e.type.length === 0) throw new RangeError('event type must not be empty');
  }
}

async function collect<T>(read: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of read) out.push(item);
  return out;
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}

/**
 * The event store on EventStoreDB. Streams and revisions are EventStoreDB's own; the global
 * position is the $all commit position, and $all is narrowed to the ledger's streams.
 */
export class EventStoreDbEventStore implements EventStore {
  readonly capabilities = { multiStreamAppend: false };
  private readonly client: EventStoreDBClient;
  private readonly streamPrefixes: string[];
  private readonly logger: Logger | undefined;

  constructor(connectionString: string, options: EventStoreDbOptions = {}) {
    this.client = EventStoreDBClient.connectionString(connectionString);
    this.streamPrefixes = [...(options.streamPrefixes ?? defaultStreamPrefixes)];
    if (this.streamPrefixes.length === 0 || this.streamPrefixes.some((p) => p.length === 0)) {
      throw new RangeError('streamPrefixes must be non-empty strings');
    }
    this.logger = options.logger;
  }

  async append(streamName: string, events: EventToAppend[], expectedRevision: ExpectedRevision): Promise<AppendResult> {
    validateAppend(streamName, events);
    const eventData = events.map((e) => jsonEvent({ id: e.id, type: e.type, data: e.data, metadata: e.metadata }));
    let result;
    try {
      result = await this.client.appendToStream(streamName, eventData, {
        expectedRevision: toEsdbExpectedRevision(expectedRevision),
      });
    } catch (err) {
      if (err instanceof WrongExpectedVersionError) throw toWrongExpectedRevision(err);
      throw err;
    }
    if (!result.success) {
      throw new Error(`append to ${streamName} was refused; the client must run with throwOnAppendFailure=true`);
    }
    const nextRevision = result.nextExpectedRevision;
    if (isKnownPosition(result.position)) return { nextRevision, position: result.position.commit };
    // An idempotent retry reports no position: the events are already there, so look it up.
    const [last] = await this.readStream(streamName, {
      fromRevision: nextRevision,
      direction: 'backwards',
      maxCount: 1,
    });
    if (last === undefined || last.revision !== nextRevision) {
      throw new Error(`append to ${streamName} reported no position and revision ${nextRevision} cannot be read`);
    }
    return { nextRevision, position: last.position };
  }

  async appendMultiple(_appends: StreamAppend[]): Promise<AppendResult[]> {
    throw new MultiStreamAppendUnsupported('EventStoreDB');
  }

  async readStream(streamName: string, options: ReadStreamOptions = {}): Promise<RecordedEvent[]> {
    const backwards = options.direction === 'backwards';
    try {
      const resolved = await collect(
        this.client.readStream(streamName, {
          fromRevision: options.fromRevision ?? (backwards ? END : START),
          direction: backwards ? BACKWARDS : FORWARDS,
          maxCount: clampCount(options.maxCount),
        }),
      );
      return resolved.flatMap((r) => (r.event ? [toRecordedEvent(r.event)] : []));
    } catch (err) {
      if (err instanceof StreamNotFoundError) return [];
      throw err;
    }
  }

  /**
   * Client v6 cannot filter a read of $all on the server (only subscriptions take a
   * filter), so this pages through $all and keeps the ledger's events.
   */
  async readAll(options: ReadAllOptions = {}): Promise<RecordedEvent[]> {
    const limit = clampCount(options.maxCount);
    // Reads from a position include the event there, so each page re-reads one event.
    const pageEvents = Math.min(allScanPageEvents, limit + 1);
    let seen = options.after ?? -1n;
    let from: ReadPosition = options.after === undefined ? START : toEsdbPosition(options.after);
    const out: RecordedEvent[] = [];
    for (;;) {
      const page: AllStreamResolvedEvent[] = await collect(
        this.client.readAll({ fromPosition: from, direction: FORWARDS, maxCount: pageEvents }),
      );
      for (const { event } of page) {
        if (!event || event.position.commit <= seen) continue;
        seen = event.position.commit;
        from = event.position;
        if (isLedgerEvent(event.streamId, event.type, this.streamPrefixes)) out.push(toRecordedEvent(event));
        if (out.length === limit) return out;
      }
      if (page.length < pageEvents) return out;
    }
  }

  async headPosition(): Promise<bigint> {
    let from: ReadPosition = END;
    for (;;) {
      const page: AllStreamResolvedEvent[] = await collect(
        this.client.readAll({ fromPosition: from, direction: BACKWARDS, maxCount: allScanPageEvents }),
      );
      for (const { event } of page) {
        if (!event) continue;
        if (isLedgerEvent(event.streamId, event.type, this.streamPrefixes)) return event.position.commit;
        from = event.position;
      }
      if (page.length < allScanPageEvents) return 0n;
    }
  }

  subscribe(options: SubscribeOptions): Subscription {
    const maxBatchSize = clampCount(options.maxBatchSize ?? defaultSubscriptionBatchSize);
    const abort = new AbortController();
    const types = options.eventTypes === undefined ? undefined : new Set(options.eventTypes);
    let delivered = options.after;

    const run = async (): Promise<void> => {
      for (let attempt = 0; !abort.signal.aborted; attempt++) {
        const subscription = this.client.subscribeToAll(
          {
            fromPosition: delivered === undefined ? START : toEsdbPosition(delivered),
            filter: streamNameFilter({ prefixes: this.streamPrefixes }),
          },
          { highWaterMark: maxBatchSize },
        );
        const state = watch(subscription);
        try {
          for (;;) {
            if (abort.signal.aborted) return;
            const batch = this.takeBatch(subscription, maxBatchSize, delivered, types);
            if (batch === undefined) {
              // Events that arrived before a failure are still delivered; then resubscribe.
              if (state.failure !== undefined) throw state.failure;
              await waitForActivity(subscription, abort.signal);
              continue;
            }
            if (batch.through === undefined || batch.through === delivered) continue;
            await options.handler(batch.events, batch.through);
            delivered = batch.through;
            attempt = 0;
          }
        } catch (err) {
          if (!(err instanceof SubscriptionDropped)) throw err;
          const delayMs = Math.min(maxResubscribeDelayMs, initialResubscribeDelayMs * 2 ** Math.min(attempt, 10));
          this.logger?.warn(
            { err: err.cause, delayMs, after: delivered?.toString() },
            'EventStoreDB subscription dropped; resubscribing',
          );
          await sleep(delayMs, abort.signal);
        } finally {
          await subscription.unsubscribe().catch(() => undefined);
        }
      }
    };

    const done = run();
    // Keep an unobserved rejection from crashing the process; callers observe `done`.
    done.catch(() => undefined);
    return {
      done,
      async stop() {
        abort.abort();
        await done.catch(() => undefined);
      },
    };
  }

  /**
   * What has arrived, up to `maxBatchSize` events, as ledger events strictly after
   * `delivered` (of `types`, when given), and the last ledger event looked at; undefined
   * when nothing has arrived.
   */
  private takeBatch(
    subscription: AllStreamSubscription,
    maxBatchSize: number,
    delivered: bigint | undefined,
    types: ReadonlySet<string> | undefined,
  ): { events: RecordedEvent[]; through: bigint | undefined } | undefined {
    const events: RecordedEvent[] = [];
    let arrived = false;
    let last = delivered ?? -1n;
    let through = delivered;
    while (events.length < maxBatchSize) {
      const resolved = subscription.read() as AllStreamResolvedEvent | null;
      if (resolved === null) break;
      arrived = true;
      const event = resolved.event;
      // A resubscription may hand back what was already delivered; skip it.
      if (!event || event.position.commit <= last) continue;
      last = event.position.commit;
      if (!isLedgerEvent(event.streamId, event.type, this.streamPrefixes)) continue;
      through = last;
      if (types === undefined || types.has(event.type)) events.push(toRecordedEvent(event));
    }
    return arrived ? { events, through } : undefined;
  }

  async close(): Promise<void> {
    await this.client.dispose();
  }
}

/** The subscription failed or ended without being asked to: resubscribe. */
class SubscriptionDropped extends Error {
  override readonly name = 'SubscriptionDropped';
}

interface SubscriptionState {
  failure: SubscriptionDropped | undefined;
}

/** Records the first failure or end of a subscription; also keeps an 'error' from going unhandled. */
function watch(subscription: AllStreamSubscription): SubscriptionState {
  const state: SubscriptionState = { failure: undefined };
  const fail = (cause: unknown) => {
    state.failure ??= new SubscriptionDropped('EventStoreDB subscription dropped', { cause });
  };
  subscription.on('error', fail);
  subscription.once('end', () => fail(new Error('the subscription ended')));
  subscription.once('close', () => fail(new Error('the subscription closed')));
  return state;
}

/** Resolves once the subscription has something to read, has failed or ended, or on abort. */
function waitForActivity(subscription: AllStreamSubscription, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      subscription.off('readable', done).off('error', done).off('end', done).off('close', done);
      signal.removeEventListener('abort', done);
      resolve();
    };
    subscription.once('readable', done).once('error', done).once('end', done).once('close', done);
    signal.addEventListener('abort', done, { once: true });
  });
}
