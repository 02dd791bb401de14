import type { RecordedEvent, Subscription } from './port';

/** What one read of the log found after a position. */
export interface CatchUpRead {
  /** The events to deliver, in position order. */
  events: RecordedEvent[];
  /** Every event up to here was looked at: the last one delivered, or past events passed over. */
  through: bigint;
  /** The read stopped at a limit: more may be waiting now. */
  full: boolean;
}

export interface CatchUpLoop {
  after: bigint;
  handler: (events: RecordedEvent[], through: bigint) => Promise<void>;
  /** Reads strictly after a position; nothing delivered and `through` unmoved means "nothing yet". */
  read: (after: bigint) => Promise<CatchUpRead>;
  /** Waits until new events may be there (a notification, a poll interval, or abort). */
  waitForEvents: (signal: AbortSignal) => Promise<void>;
  /** Called when a read fails; the loop retries with backoff. */
  onReadError?: (err: unknown, attempt: number) => void;
  /** Reads start at least this far apart, unless the last one was full (see SubscribeOptions). */
  minReadIntervalMs?: number;
}

const maxReadBackoffMs = 5_000;

/**
 * A poll-based catch-up subscription: read a batch after the position read through so far,
 * hand it over with how far it reached, repeat. The next batch is read while the handler
 * works on this one, so catching up costs max(read, handle) per batch rather than their sum.
 */
export function runCatchUp(loop: CatchUpLoop): Subscription {
  const abort = new AbortController();
  let after = loop.after;

  const readWithRetry = async (from: bigint): Promise<CatchUpRead> => {
    for (let attempt = 1; ; attempt++) {
      try {
        return await loop.read(from);
      } catch (err) {
        if (abort.signal.aborted) return nothingAfter(from);
        loop.onReadError?.(err, attempt);
        await sleep(Math.min(maxReadBackoffMs, 50 * 2 ** Math.min(attempt, 10)), abort.signal);
      }
    }
  };

  const interval = loop.minReadIntervalMs ?? 0;
  let lastReadAt = -Infinity;
  let lastWasFull = false;
  const paced = async (from: bigint): Promise<CatchUpRead> => {
    const wait = lastWasFull ? 0 : lastReadAt + interval - performance.now();
    if (wait > 0) await sleep(Math.ceil(wait), abort.signal);
    if (abort.signal.aborted) return nothingAfter(from);
    lastReadAt = performance.now();
    const read = await readWithRetry(from);
    lastWasFull = read.full;
    return read;
  };

  const run = async (): Promise<void> => {
    let next: Promise<CatchUpRead> | undefined;
    while (!abort.signal.aborted) {
      const { events, through } = await (next ?? paced(after));
      next = undefined;
      if (abort.signal.aborted) return;
      if (through === after && events.length === 0) {
        await loop.waitForEvents(abort.signal);
        continue;
      }
      const last = events.length > 0 ? events[events.length - 1].position : through;
      if (last <= after || through < last) throw new Error(`subscription went backwards: ${through} after ${after}`);
      next = paced(through);
      await loop.handler(events, through);
      after = through;
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

function nothingAfter(after: bigint): CatchUpRead {
  return { events: [], through: after, full: false };
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
