import { EventEmitter } from 'node:events';
import { BroadcastChannel } from 'node:worker_threads';
import type { Pool, PoolClient } from 'pg';
import {
  type AppendResult,
  type EventStore,
  type EventToAppend,
  type ExpectedRevision,
  type ReadAllOptions,
  type ReadStreamOptions,
  type RecordedEvent,
  type StreamAppend,
  type SubscribeOptions,
  type Subscription,
  defaultSubscriptionBatchSize,
  maxAppendEvents,
  maxReadCount,
  WrongExpectedRevision,
} from './port';
import { TailCache } from './tail-cache';
import { type CatchUpRead, runCatchUp } from './catch-up';

const uuidPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export interface PostgresEventStoreOptions {
  /** How long an idle subscription waits before looking again for events other processes wrote. */
  pollIntervalMs?: number;
}

interface EventRow {
  position: string;
  transaction_id: string;
  event_id: string;
  stream_name: string;
  revision: string;
  type: string;
  data: Record<string, unknown>;
  metadata: Record<string, unknown>;
  created_ms: number;
  safe_xmin: string;
}

/**
 * Appends are announced to the stores of the other threads of this process (the transfer
 * process and the projections run in worker threads), so their subscriptions read at once
 * instead of at their next poll. Other processes' appends are still found by polling.
 */
const appendedChannelName = 'ledger:postgres-appended';

/**
 * created_at comes as epoch milliseconds (a float8, which pg reads with parseFloat): its
 * timestamp text would go through pg's date parser, a regular expression per event, and
 * subscribers read every event.
 */
const eventColumns =
  'position, transaction_id, event_id, stream_name, revision, type, data, metadata, extract(epoch from created_at)::float8 * 1000 as created_ms';

function toRecorded(row: EventRow): RecordedEvent {
  return {
    id: row.event_id,
    type: row.type,
    data: row.data,
    metadata: row.metadata,
    streamName: row.stream_name,
    revision: BigInt(row.revision),
    position: BigInt(row.position),
    createdAt: new Date(row.created_ms),
  };
}

function encodeExpected(expected: ExpectedRevision): string {
  if (typeof expected === 'bigint') {
    if (expected < 0n) throw new RangeError(`expected revision must be >= 0, got ${expected}`);
    return expected.toString();
  }
  return expected;
}

function decodeExpected(text: string): ExpectedRevision {
  return text === 'no_stream' || text === 'any' || text === 'stream_exists' ? text : BigInt(text);
}

/** A row of a read of some event types: the span read, and an event (all null when none). */
type FilteredRow = { through: string | null; window_full: boolean } & EventRow;

interface AppendRow {
  next_revision: string;
  last_position: string;
}

const appendSql =
  'select next_revision, last_position from ledger_append($1, $2, $3, $4, $5, $6::jsonb, $7::jsonb, $8)';

/** The flat arrays `ledger_append` takes; the last one asks it to look for already stored ids. */
function appendParams(appends: StreamAppend[]): unknown[] {
  const events = appends.flatMap((a) => a.events);
  return [
    appends.map((a) => a.streamName),
    appends.map((a) => encodeExpected(a.expectedRevision)),
    appends.flatMap((a, i) => a.events.map(() => i + 1)),
    events.map((e) => e.id),
    events.map((e) => e.type),
    // One JSON array each: far cheaper to build and to parse than arrays of JSON texts.
    JSON.stringify(events.map((e) => e.data)),
    JSON.stringify(events.map((e) => e.metadata ?? {})),
    false,
  ];
}

function toAppendResult(row: AppendRow): AppendResult {
  return { nextRevision: BigInt(row.next_revision), position: BigInt(row.last_position) };
}

function validateAppend(a: StreamAppend): void {
  if (a.streamName.length === 0 || a.streamName.length > 200)
    throw new RangeError('stream name must be 1-200 characters');
  if (a.events.length === 0) throw new RangeError(`append to ${a.streamName} has no events`);
  for (const e of a.events) {
    if (!uuidPattern.test(e.id)) throw new RangeError(`event id ${JSON.stringify(e.id)} is not a UUID`);
    if (e.type.length === 0) throw new RangeError('event type must not be empty');
  }
}

/**
 * The event store on PostgreSQL. Every append is one call of the `ledger_append` function
 * (one round trip, one transaction); see the migration for how positions stay gap-safe.
 */
export class PostgresEventStore implements EventStore {
  readonly capabilities = { multiStreamAppend: true };
  private readonly appended = new EventEmitter();
  private readonly otherThreads = new BroadcastChannel(appendedChannelName);
  /** The newest events read, shared by every subscriber of this store that follows the head. */
  private readonly tail = new TailCache();
  private readonly pollIntervalMs: number;

  constructor(
    private readonly pool: Pool,
    options: PostgresEventStoreOptions = {},
  ) {
    this.pollIntervalMs = options.pollIntervalMs ?? 25;
    this.appended.setMaxListeners(0);
    this.otherThreads.onmessage = () => this.appended.emit('appended');
    this.otherThreads.unref();
  }

  async append(streamName: string, events: EventToAppend[], expectedRevision: ExpectedRevision): Promise<AppendResult> {
    const [result] = await this.appendMultiple([{ streamName, events, expectedRevision }]);
    return result;
  }

  async appendMultiple(appends: StreamAppend[]): Promise<AppendResult[]> {
    if (appends.length === 0) return [];
    appends.forEach(validateAppend);
    const total = appends.reduce((n, a) => n + a.events.length, 0);
    if (total > maxAppendEvents)
      throw new RangeError(`an append holds at most ${maxAppendEvents} events, got ${total}`);
    const names = new Set(appends.map((a) => a.streamName));
    if (names.size !== appends.length) throw new RangeError('a stream may appear only once in one append');

    const rows = await this.runAppend(appendParams(appends));
    this.appended.emit('appended');
    this.otherThreads.postMessage(null);
    return rows;
  }

  /** `ledger_append` in the current transaction of `client`; used by tests to hold a transaction open. */
  static async appendWithin(client: PoolClient, append: StreamAppend): Promise<AppendResult> {
    validateAppend(append);
    const { rows } = await client.query<AppendRow>(appendSql, appendParams([append]));
    return toAppendResult(rows[0]);
  }

  private async runAppend(params: unknown[], attempt = 0): Promise<AppendResult[]> {
    try {
      const { rows } = await this.pool.query<AppendRow>(appendSql, params);
      return rows.map(toAppendResult);
    } catch (err) {
      const pgErr = err as { code?: string; detail?: string; constraint?: string };
      if (pgErr.code === 'LE001' && pgErr.detail) {
        const d = JSON.parse(pgErr.detail) as { stream: string; expected: string; actual: string };
        const actual = d.actual === 'no_stream' ? 'no_stream' : BigInt(d.actual);
        throw new WrongExpectedRevision(d.stream, decodeExpected(d.expected), actual);
      }
      // Ids already stored: retry once, asking the store to look for them first, so a
      // repeated append answers with the earlier result (or a clear conflict).
      if (pgErr.code === '23505' && pgErr.constraint === 'ledger_events_event_id_key' && attempt === 0) {
        return this.runAppend([...params.slice(0, -1), true], attempt + 1);
      }
      throw err;
    }
  }

  async readStream(streamName: string, options: ReadStreamOptions = {}): Promise<RecordedEvent[]> {
    const backwards = options.direction === 'backwards';
    const limit = clampCount(options.maxCount);
    const from = options.fromRevision;
    const condition = from === undefined ? '' : backwards ? 'and revision <= $2' : 'and revision >= $2';
    const params: unknown[] = [streamName];
    if (from !== undefined) params.push(from.toString());
    params.push(limit);
    const { rows } = await this.pool.query<EventRow>(
      `select ${eventColumns} from ledger_events where stream_name = $1 ${condition}
        order by revision ${backwards ? 'desc' : 'asc'} limit $${params.length}`,
      params,
    );
    return rows.map(toRecorded);
  }

  async readAll(options: ReadAllOptions = {}): Promise<RecordedEvent[]> {
    return this.readSafe(options.after ?? 0n, clampCount(options.maxCount));
  }

  /**
   * Events after `after` in position order, all final: from the tail cache as far as it
   * goes, then from the log.
   */
  private async readSafe(after: bigint, limit: number): Promise<RecordedEvent[]> {
    const cached = this.tail.read(after, limit);
    if (cached.events.length === limit) return cached.events;
    const fresh = await this.readLog(cached.continueAfter, limit - cached.events.length);
    this.tail.add(cached.continueAfter, fresh);
    return cached.events.length === 0 ? fresh : cached.events.concat(fresh);
  }

  /**
   * Events after `after` in position order, cut before the first one whose transaction
   * id is not below the snapshot's xmin: a transaction still running may hold positions
   * below it. Everything returned is final; nothing can appear before it later.
   */
  private async readLog(after: bigint, limit: number): Promise<RecordedEvent[]> {
    const { rows } = await this.pool.query<EventRow>(
      `select ${eventColumns}, pg_snapshot_xmin(pg_current_snapshot())::text as safe_xmin
         from ledger_events where position > $1 order by position limit $2`,
      [after.toString(), limit],
    );
    const out: RecordedEvent[] = [];
    for (const row of rows) {
      if (BigInt(row.transaction_id) >= BigInt(row.safe_xmin)) break;
      out.push(toRecorded(row));
    }
    return out;
  }

  async headPosition(): Promise<bigint> {
    // Rows a running transaction may still precede form a suffix (positions follow
    // transaction ids), so walk back from the newest row to the first final one.
    let before = '9223372036854775807';
    for (;;) {
      const { rows } = await this.pool.query<{ position: string; final: boolean }>(
        `select e.position, e.transaction_id < pg_snapshot_xmin(pg_current_snapshot()) as final
           from ledger_events e where e.position < $1 order by e.position desc limit 1000`,
        [before],
      );
      if (rows.length === 0) return 0n;
      const final = rows.find((r) => r.final);
      if (final) return BigInt(final.position);
      before = rows[rows.length - 1].position;
    }
  }

  /**
   * Like `readLog`, but only events of `types` are returned, from a window of at most
   * `maxReadCount` positions after `after`. `through` is the last final event of the window
   * (of any type), or the last one returned when `limit` cut the read short: never past a
   * position a transaction still in flight could fill in.
   */
  private async readLogOfTypes(after: bigint, limit: number, types: readonly string[]): Promise<CatchUpRead> {
    const { rows } = await this.pool.query<FilteredRow>(
      `with win as (
         select position, transaction_id, type from ledger_events where position > $1 order by position limit $2
       ), cut as (
         select min(position) filter (where transaction_id >= pg_snapshot_xmin(pg_current_snapshot())) as unsafe,
                count(*) = $2 as scanned_all
           from win
       ), final as (
         select w.position, w.type from win w, cut where cut.unsafe is null or w.position < cut.unsafe
       )
       select (select max(position)::text from final) as through, cut.unsafe is null and cut.scanned_all as window_full,
              e.*
         from cut left join lateral (
           select ${eventColumns} from ledger_events
            where position in (select position from final where type = any($3::text[]))
            order by position limit $4
         ) e on true`,
      [after.toString(), maxReadCount, types, limit],
    );
    const events = rows.filter((r) => r.position !== null).map(toRecorded);
    if (events.length === limit) return { events, through: events[events.length - 1].position, full: true };
    const span = rows[0];
    return {
      events,
      through: span.through === null ? after : BigInt(span.through),
      full: span.window_full,
    };
  }

  subscribe(options: SubscribeOptions): Subscription {
    const maxBatchSize = clampCount(options.maxBatchSize ?? defaultSubscriptionBatchSize);
    const types = options.eventTypes;
    return runCatchUp({
      after: options.after ?? 0n,
      handler: options.handler,
      read: async (after) => {
        if (types !== undefined) return this.readLogOfTypes(after, maxBatchSize, types);
        const events = await this.readSafe(after, maxBatchSize);
        const through = events.length > 0 ? events[events.length - 1].position : after;
        return { events, through, full: events.length === maxBatchSize };
      },
      minReadIntervalMs: options.minReadIntervalMs,
      waitForEvents: (signal) => waitFor(this.appended, 'appended', this.pollIntervalMs, signal),
    });
  }

  async close(): Promise<void> {
    this.otherThreads.close();
    this.appended.removeAllListeners();
  }
}

function clampCount(count: number | undefined): number {
  if (count === undefined) return maxReadCount;
  if (!Number.isInteger(count) || count < 1) throw new RangeError(`maxCount must be a positive integer, got ${count}`);
  return Math.min(count, maxReadCount);
}

/** Resolves on the next local append, after `timeoutMs`, or when aborted, whichever is first. */
function waitFor(emitter: EventEmitter, name: string, timeoutMs: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      emitter.off(name, done);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, timeoutMs);
    emitter.once(name, done);
    signal.addEventListener('abort', done, { once: true });
  });
}
