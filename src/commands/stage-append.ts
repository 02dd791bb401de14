import { type AppendResult, type EventStore, maxAppendEvents, type StreamAppend } from '../eventstore/port';

/** Named points where tests inject a crash; production passes none. */
export interface FaultInjector {
  /** Throws to simulate a crash at `point`. */
  check(point: string): void;
}

export const noFaults: FaultInjector = { check: () => undefined };

/** Appends to different streams at once when the store cannot do them in one call. */
const maxParallelAppends = 16;

/**
 * Writes one step's appends: in as few multi-stream calls as the store allows (atomic per
 * call), or else stream by stream, several at a time. Every append carries its expected
 * revision, so a stale decision fails instead of writing; a partial write is harmless
 * because the retried decisions see what was written and produce nothing for it.
 */
export async function appendStep(
  store: EventStore,
  appends: StreamAppend[],
  faults: FaultInjector = noFaults,
): Promise<Map<string, AppendResult>> {
  const results = new Map<string, AppendResult>();
  if (store.capabilities.multiStreamAppend) {
    for (const chunk of chunkByEvents(appends, maxAppendEvents)) {
      const written = await store.appendMultiple(chunk);
      chunk.forEach((a, i) => results.set(a.streamName, written[i]));
      faults.check('append');
    }
    return results;
  }
  for (let i = 0; i < appends.length; i += maxParallelAppends) {
    await Promise.all(
      appends.slice(i, i + maxParallelAppends).map(async (a) => {
        results.set(a.streamName, await store.append(a.streamName, a.events, a.expectedRevision));
        faults.check('append');
      }),
    );
  }
  return results;
}

function chunkByEvents(appends: StreamAppend[], maxEvents: number): StreamAppend[][] {
  const chunks: StreamAppend[][] = [];
  let current: StreamAppend[] = [];
  let count = 0;
  for (const a of appends) {
    if (count + a.events.length > maxEvents && current.length > 0) {
      chunks.push(current);
      current = [];
      count = 0;
    }
    current.push(a);
    count += a.events.length;
  }
  if (current.length > 0) chunks.push(current);
  return chunks;
}
