/**
 * The EventStore port. Streams are ordered by revision (0, 1, 2, ...); the whole store is
 * ordered by a global position. Both are bigint everywhere.
 */

export type JsonObject = { [key: string]: unknown };

/** What a caller hands to `append`. `id` is kept: re-appending an id a stream holds is a no-op. */
export interface EventToAppend {
  id: string;
  type: string;
  data: JsonObject;
  metadata?: JsonObject;
}

export interface RecordedEvent {
  id: string;
  type: string;
  data: JsonObject;
  metadata: JsonObject;
  streamName: string;
  revision: bigint;
  position: bigint;
  createdAt: Date;
}

/** The four expected-revision states; an exact revision is a bigint. */
export const NO_STREAM = 'no_stream' as const;
export const STREAM_EXISTS = 'stream_exists' as const;
export const ANY = 'any' as const;
export type ExpectedRevision = typeof NO_STREAM | typeof STREAM_EXISTS | typeof ANY | bigint;

/** The stream's actual state when a conflict is detected. */
export type ActualRevision = typeof NO_STREAM | bigint;

export class WrongExpectedRevision extends Error {
  override readonly name = 'WrongExpectedRevision';
  constructor(
    readonly streamName: string,
    readonly expected: ExpectedRevision,
    readonly actual: ActualRevision,
  ) {
    super(`stream ${streamName}: expected revision ${String(expected)}, actual ${String(actual)}`);
  }
}

export interface AppendResult {
  /** The stream's revision after the append (the revision of its last event). */
  nextRevision: bigint;
  /** The global position of the last event written (or already held, on an idempotent retry). */
  position: bigint;
}

export interface StreamAppend {
  streamName: string;
  events: EventToAppend[];
  expectedRevision: ExpectedRevision;
}

export type Direction = 'forwards' | 'backwards';

export interface ReadStreamOptions {
  /** Inclusive start revision; default: the first (forwards) or the last (backwards). */
  fromRevision?: bigint;
  direction?: Direction;
  maxCount?: number;
}

export interface ReadAllOptions {
  /** Exclusive: events strictly after this position; default: from the very start. */
  after?: bigint;
  maxCount?: number;
}

export interface SubscribeOptions {
  /** Exclusive: deliver events strictly after this position; default: from the very start. */
  after?: bigint;
  /** Largest batch handed to the handler at once. */
  maxBatchSize?: number;
  /**
   * Reads at most this often while not behind (default 0: at once): a subscriber whose
   * batches cost per batch more than per event trades this much latency for fewer, larger
   * batches. A hint: a store that pushes events as they are written (EventStoreDB) ignores it.
   */
  minReadIntervalMs?: number;
  /**
   * Only events of these types are delivered (default: every type). The store passes over
   * the others itself, so a subscriber that acts on few of the events does not read the rest.
   */
  eventTypes?: readonly string[];
  /**
   * Called with consecutive batches in global order, and `through`: the position the
   * subscription has read up to, at or past the batch's last event. Every event up to
   * `through` that the subscriber asked for is in this batch or an earlier one, so `through`
   * is the checkpoint to resume after. With `eventTypes`, a batch is empty when the store
   * passed over only events of other types. The subscription awaits the handler before
   * reading on; a thrown error stops the subscription (see `Subscription.done`).
   */
  handler: (events: RecordedEvent[], through: bigint) => Promise<void>;
}

export interface Subscription {
  /** Stops after the batch in flight; resolves once stopped. */
  stop(): Promise<void>;
  /** Settles when the subscription ends: resolves on stop(), rejects if the handler threw. */
  readonly done: Promise<void>;
}

export interface EventStoreCapabilities {
  /** Several streams, each with its own expected revision, in one atomic append. */
  multiStreamAppend: boolean;
}

export interface EventStore {
  readonly capabilities: EventStoreCapabilities;
  append(streamName: string, events: EventToAppend[], expectedRevision: ExpectedRevision): Promise<AppendResult>;
  /**
   * Appends to several streams atomically. Only when `capabilities.multiStreamAppend`;
   * otherwise it throws. Returns one result per stream, in order.
   */
  appendMultiple(appends: StreamAppend[]): Promise<AppendResult[]>;
  readStream(streamName: string, options?: ReadStreamOptions): Promise<RecordedEvent[]>;
  readAll(options?: ReadAllOptions): Promise<RecordedEvent[]>;
  /** The position of the last event a subscriber can be handed now (0n when empty). */
  headPosition(): Promise<bigint>;
  subscribe(options: SubscribeOptions): Subscription;
  close(): Promise<void>;
}

export class MultiStreamAppendUnsupported extends Error {
  override readonly name = 'MultiStreamAppendUnsupported';
  constructor(adapter: string) {
    super(`${adapter} cannot append to several streams atomically`);
  }
}

/** Limits shared by every adapter. */
export const maxReadCount = 10_000;
export const maxAppendEvents = 10_000;
export const defaultSubscriptionBatchSize = 1_000;
