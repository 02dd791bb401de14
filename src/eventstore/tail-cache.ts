import type { RecordedEvent } from './port';

/** How many of the newest events the cache keeps (it trims to this once it is a quarter over). */
export const maxTailEvents = 20_000;

/**
 * The newest events read from the global log, kept so that the subscribers of one store
 * that follow the head (both projections, in their worker thread) share one read of each
 * event instead of each reading and decoding it again.
 *
 * It holds one run: every event with a position in (from, last], complete and final. Only
 * reads that are themselves complete and final go in (a safe read of the log after some
 * position), and only one that continues the run (starts at `last`) or starts past it; an
 * older read leaves the run alone. Events are shared between readers, so they must not be
 * changed by anyone.
 */
export class TailCache {
  private events: RecordedEvent[] = [];
  private from = -1n;

  constructor(private readonly maxEvents = maxTailEvents) {}

  private get last(): bigint {
    return this.events.length > 0 ? this.events[this.events.length - 1].position : this.from;
  }

  /**
   * Up to `limit` events after `after` from the run, and the position a read of the log
   * must continue from for the rest: the last event returned, `after` itself on a miss.
   */
  read(after: bigint, limit: number): { events: RecordedEvent[]; continueAfter: bigint } {
    if (this.from < 0n || after < this.from || after >= this.last) return { events: [], continueAfter: after };
    const start = this.firstAfter(after);
    const events = this.events.slice(start, start + limit);
    return { events, continueAfter: events.length > 0 ? events[events.length - 1].position : after };
  }

  /** Takes in what a safe read of the log after `after` returned (complete and final). */
  add(after: bigint, events: readonly RecordedEvent[]): void {
    if (this.from >= 0n && after === this.last) {
      this.events.push(...events);
    } else if (after > this.last) {
      this.from = after;
      this.events = [...events];
    } else {
      return;
    }
    if (this.events.length > this.maxEvents + this.maxEvents / 4) {
      const drop = this.events.length - this.maxEvents;
      this.from = this.events[drop - 1].position;
      this.events = this.events.slice(drop);
    }
  }

  /** Index of the first event whose position is above `after` (binary search). */
  private firstAfter(after: bigint): number {
    let lo = 0;
    let hi = this.events.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.events[mid].position <= after) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}
