import type { RecordedEvent, Subscription } from './port';

export interface CatchUpLoop {
  after: bigint;
  handler: (events: RecordedEvent[]) => Promise<void>;
  /** Reads the next batch strictly after a position; an empty batch means "nothing yet". */
  read: (after: bigint) => Promise<RecordedEvent[]>;
  /** Waits until new events may be there (a notification, a poll interval, or abort). */
  waitForEvents: (signal: AbortSignal) => Promise<void>;
  /** Called when a read fails; the loop retries with backoff. */
  onReadError?: (err: unknown, attempt: number) => void;
  /** Reads start at least this far apart, unless the last one was full (see SubscribeOptions). */
  minReadIntervalMs?: number;
  /** The batch size the reads ask for: a full batch means more is waiting. */
  maxBatchSize: number;
}

const maxReadBackoffMs = 5_000;

/**
 * A poll-based catch-up subscription: read a batch after the last delivered position,
 * hand it over, repeat. The next batch is read while the handler works on this one, so
 * catching up costs max(read, handle) per batch rather than their sum.
 */
export function runCatchUp(loop: CatchUpLoop): Subscription {
  const abort = new AbortController();
  let after = loop.after;

  const readWithRetry = async (from: bigint): Promise<RecordedEvent[]> => {
    for (let attempt = 1; ; attempt++) {
      try {
        return await loop.read(from);
      } catch (err) {
        if (abort.signal.aborted) return [];
        loop.onReadError?.(err, attempt);
        await sleep(Math.min(maxReadBackoffMs, 50 * 2 ** Math.min(attempt, 10)), abort.signal);
      }
    }
  };

  const interval = loop.minReadIntervalMs ?? 0;
  let lastReadAt = -Infinity;
  let lastWasFull = false;
  const paced = async (from: bigint): Promise<RecordedEvent[]> => {
    const wait = lastWasFull ? 0 : lastReadAt + interval - performance.now();
    if (wait > 0) await sleep(Math.ceil(wait), abort.signal);
    if (abort.signal.aborted) return [];
    lastReadAt = performance.now();
    const batch = await readWithRetry(from);
    lastWasFull = batch.length >= loop.maxBatchSize;
    return batch;
  };

  const run = async (): Promise<void> => {
    let next: Promise<RecordedEvent[]> | undefined;
    while (!abort.signal.aborted) {
      const batch = await (next ?? paced(after));
      next = undefined;
      if (abort.signal.aborted) return;
      if (batch.length === 0) {
        await loop.waitForEvents(abort.signal);
        continue;
      }
      const last = batch[batch.length - 1].position;
      if (last <= after) throw new Error(`subscription went backwards: ${last} after ${after}`);
      next = paced(last);
      await loop.handler(batch);
      after = last;
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

/** Resolves after `ms`, or at once when aborted; leaves no listener behind either way. */
function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}
