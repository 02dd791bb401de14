import { type AccountState, evolveAccount, initialAccountState } from '../domain/account';
import {
  parseAccountEvent,
  parseTransferEvent,
  schemaMetadata,
  serializeEvent,
  type LedgerEvent,
} from '../domain/events';
import { accountStream, transferStream } from '../domain/streams';
import { evolveTransfer, initialTransferState, type TransferState } from '../domain/transfer';
import {
  type EventStore,
  type EventToAppend,
  type ExpectedRevision,
  maxReadCount,
  NO_STREAM,
  type RecordedEvent,
} from '../eventstore/port';

/** A folded stream and the revision it was folded up to (NO_STREAM when empty). */
export interface Loaded<S> {
  state: S;
  revision: ExpectedRevision;
  /** Position of the last event folded (0n for an empty stream). */
  position: bigint;
}

/** Reads a whole stream, page by page, from `fromRevision`. */
export async function readWholeStream(
  store: EventStore,
  streamName: string,
  fromRevision = 0n,
): Promise<RecordedEvent[]> {
  const all: RecordedEvent[] = [];
  for (let from = fromRevision; ;) {
    const page = await store.readStream(streamName, { fromRevision: from, maxCount: maxReadCount });
    all.push(...page);
    if (page.length < maxReadCount) return all;
    from = page[page.length - 1].revision + 1n;
  }
}

function fold<S, E>(
  events: RecordedEvent[],
  initial: S,
  parse: (e: RecordedEvent) => E,
  evolve: (s: S, e: E) => S,
): Loaded<S> {
  let state = initial;
  for (const e of events) state = evolve(state, parse(e));
  const last = events[events.length - 1];
  return { state, revision: last ? last.revision : NO_STREAM, position: last ? last.position : 0n };
}

export async function loadAccount(store: EventStore, accountId: string): Promise<Loaded<AccountState>> {
  return fold(
    await readWholeStream(store, accountStream(accountId)),
    initialAccountState(),
    parseAccountEvent,
    evolveAccount,
  );
}

export async function loadTransfer(store: EventStore, transferId: string): Promise<Loaded<TransferState>> {
  return fold(
    await readWholeStream(store, transferStream(transferId)),
    initialTransferState(),
    parseTransferEvent,
    evolveTransfer,
  );
}

/** Folds more events of the same stream into an already loaded state. */
export function foldMore<S, E>(
  loaded: Loaded<S>,
  events: RecordedEvent[],
  parse: (e: RecordedEvent) => E,
  evolve: (s: S, e: E) => S,
): Loaded<S> {
  if (events.length === 0) return loaded;
  let state = loaded.state;
  for (const e of events) state = evolve(state, parse(e));
  const last = events[events.length - 1];
  return { state, revision: last.revision, position: last.position };
}

export interface EventEnvelope {
  /** Deterministic where a process writes it, so a retry writes the same id. */
  id: string;
  event: LedgerEvent;
  correlationId: string;
  causationId?: string;
  idempotencyKey?: string;
}

/** The stored form of a domain event with the ledger's metadata. */
export function toEventToAppend(e: EventEnvelope): EventToAppend {
  const { type, data } = serializeEvent(e.event);
  return {
    id: e.id,
    type,
    data,
    metadata: {
      ...schemaMetadata(),
      correlationId: e.correlationId,
      ...(e.causationId !== undefined && { causationId: e.causationId }),
      ...(e.idempotencyKey !== undefined && { idempotencyKey: e.idempotencyKey }),
    },
  };
}
