import type { RecordedEvent } from '../../src/eventstore/port';
import { TailCache } from '../../src/eventstore/tail-cache';

/** Events at the given positions (gaps are positions no committed event holds). */
const at = (...positions: number[]): RecordedEvent[] =>
  positions.map((p) => ({
    id: `00000000-0000-4000-8000-${p.toString().padStart(12, '0')}`,
    streamName: `s-${p}`,
    revision: 0n,
    position: BigInt(p),
    type: 'T',
    data: {},
    metadata: {},
    createdAt: new Date(0),
  }));
const positions = (r: { events: RecordedEvent[] }) => r.events.map((e) => Number(e.position));

test('an empty cache misses and tells the reader to read from where it asked', () => {
  expect(new TailCache().read(5n, 10)).toEqual({ events: [], continueAfter: 5n });
});

test('serves what a safe read put in, from the middle of the run, up to the limit', () => {
  const cache = new TailCache();
  cache.add(10n, at(11, 12, 14, 15));
  expect(positions(cache.read(10n, 10))).toEqual([11, 12, 14, 15]);
  expect(positions(cache.read(12n, 10))).toEqual([14, 15]);
  // 13 holds no event (an aborted transaction's position): the run still says what follows it.
  expect(positions(cache.read(13n, 1))).toEqual([14]);
  expect(cache.read(12n, 1)).toEqual({ events: at(14), continueAfter: 14n });
  // At the end of the run: nothing cached, continue from there.
  expect(cache.read(15n, 10)).toEqual({ events: [], continueAfter: 15n });
});

test('a read starting before the run misses: the cache knows nothing of what lies there', () => {
  const cache = new TailCache();
  cache.add(10n, at(11, 12));
  expect(cache.read(9n, 10)).toEqual({ events: [], continueAfter: 9n });
  expect(cache.read(3n, 10)).toEqual({ events: [], continueAfter: 3n });
});

test('a read that continues the run extends it; an older or overlapping one is ignored', () => {
  const cache = new TailCache();
  cache.add(10n, at(11, 12));
  cache.add(12n, at(13, 16));
  expect(positions(cache.read(10n, 10))).toEqual([11, 12, 13, 16]);
  cache.add(11n, at(12, 13, 16, 17)); // overlaps: not taken, even though it is newer at its end
  cache.add(2n, at(3, 4));
  expect(positions(cache.read(10n, 10))).toEqual([11, 12, 13, 16]);
});

test('a read past the run starts a new one (nothing between the two is known)', () => {
  const cache = new TailCache();
  cache.add(10n, at(11, 12));
  cache.add(20n, at(21));
  expect(cache.read(11n, 10)).toEqual({ events: [], continueAfter: 11n });
  expect(positions(cache.read(20n, 10))).toEqual([21]);
});

test('keeps at most its size (plus a quarter before it trims), dropping the oldest', () => {
  const cache = new TailCache(8);
  cache.add(0n, at(1, 2, 3, 4, 5, 6, 7, 8, 9, 10));
  expect(positions(cache.read(0n, 100))).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
  cache.add(10n, at(11));
  expect(cache.read(0n, 100).events).toEqual([]);
  expect(cache.read(2n, 100).events).toEqual([]);
  expect(positions(cache.read(3n, 100))).toEqual([4, 5, 6, 7, 8, 9, 10, 11]);
});
