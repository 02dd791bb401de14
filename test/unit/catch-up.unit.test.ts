import { getEventListeners } from 'node:events';
import { runCatchUp } from '../../src/eventstore/catch-up';
import type { RecordedEvent } from '../../src/eventstore/port';

const readOf = (events: RecordedEvent[], after: bigint, full: boolean) => ({
  events,
  through: events.length > 0 ? events[events.length - 1].position : after,
  full,
});

const event = (p: bigint): RecordedEvent => ({
  id: `00000000-0000-4000-8000-${p.toString().padStart(12, '0')}`,
  streamName: `s-${p}`,
  revision: 0n,
  position: p,
  type: 'T',
  data: {},
  metadata: {},
  createdAt: new Date(0),
});

/**
 * A log of `total` events read in batches of `perRead` (at most `maxBatchSize`), recording
 * when each read started; resolves once every event was handled.
 */
async function follow(options: { total: number; perRead: number; maxBatchSize: number; minReadIntervalMs?: number }) {
  const readStarts: number[] = [];
  const handled: bigint[] = [];
  let finish!: () => void;
  const finished = new Promise<void>((resolve) => (finish = resolve));
  const subscription = runCatchUp({
    after: 0n,
    minReadIntervalMs: options.minReadIntervalMs,
    read: async (after) => {
      readStarts.push(performance.now());
      const count = Math.min(options.perRead, options.total - Number(after));
      const events = Array.from({ length: count }, (_, i) => event(after + BigInt(i + 1)));
      return readOf(events, after, count === options.maxBatchSize);
    },
    waitForEvents: () => new Promise((resolve) => setTimeout(resolve, 1)),
    handler: async (events) => {
      handled.push(...events.map((e) => e.position));
      if (handled.length === options.total) finish();
    },
  });
  await finished;
  await subscription.stop();
  const gaps = readStarts.slice(1).map((t, i) => t - readStarts[i]);
  return { handled, gaps };
}

const inOrder = (n: number) => Array.from({ length: n }, (_, i) => BigInt(i + 1));

test('reads that come back short start at least minReadIntervalMs apart', async () => {
  const { handled, gaps } = await follow({ total: 12, perRead: 3, maxBatchSize: 10, minReadIntervalMs: 40 });
  expect(handled).toEqual(inOrder(12));
  expect(gaps.length).toBeGreaterThanOrEqual(3);
  // Node timers count whole milliseconds and may fire up to one early; never more.
  for (const gap of gaps) expect(gap).toBeGreaterThanOrEqual(38);
});

test('a full read is followed at once: a subscriber that is behind is not held back', async () => {
  const { handled, gaps } = await follow({ total: 50, perRead: 10, maxBatchSize: 10, minReadIntervalMs: 1_000 });
  expect(handled).toEqual(inOrder(50));
  // Five full reads and the short (empty) one after them: all in far less than one interval.
  expect(gaps.slice(0, 5).reduce((a, b) => a + b, 0)).toBeLessThan(500);
});

test('without an interval, reads follow each other at once', async () => {
  const { handled, gaps } = await follow({ total: 12, perRead: 3, maxBatchSize: 10 });
  expect(handled).toEqual(inOrder(12));
  expect(gaps.slice(0, 3).reduce((a, b) => a + b, 0)).toBeLessThan(100);
});

test('waiting between reads leaves no listener behind (a subscription lives for days)', async () => {
  let reads = 0;
  const listen = jest.spyOn(EventTarget.prototype, 'addEventListener');
  const subscription = runCatchUp({
    after: 0n,
    minReadIntervalMs: 1,
    read: async (after) => readOf(++reads <= 30 ? [event(after + 1n)] : [], after, false),
    waitForEvents: () => new Promise((resolve) => setTimeout(resolve, 1)),
    handler: async () => undefined,
  });
  try {
    while (reads < 30) await new Promise((resolve) => setTimeout(resolve, 5));
    const signals = new Set(
      listen.mock.calls.flatMap(([type], i) => (type === 'abort' ? [listen.mock.contexts[i] as EventTarget] : [])),
    );
    // 30 paced waits on the subscription's one abort signal, all done but the one in flight.
    expect(signals.size).toBe(1);
    expect(getEventListeners([...signals][0], 'abort').length).toBeLessThanOrEqual(1);
  } finally {
    listen.mockRestore();
    await subscription.stop();
  }
});

test('a read that passes over events hands over where it got to, and the next read starts there', async () => {
  // Positions 1-9; a subscriber of some types is given 3 and 9, and two reads pass over the rest.
  const reads: { after: bigint; events: bigint[]; through: bigint }[] = [
    { after: 0n, events: [], through: 2n },
    { after: 2n, events: [3n], through: 5n },
    { after: 5n, events: [], through: 8n },
    { after: 8n, events: [9n], through: 9n },
  ];
  const asked: bigint[] = [];
  const handled: { events: bigint[]; through: bigint }[] = [];
  let finish!: () => void;
  const finished = new Promise<void>((resolve) => (finish = resolve));
  const subscription = runCatchUp({
    after: 0n,
    read: async (after) => {
      asked.push(after);
      const planned = reads.find((r) => r.after === after);
      if (!planned) return readOf([], after, false);
      return { events: planned.events.map(event), through: planned.through, full: false };
    },
    waitForEvents: () => new Promise((resolve) => setTimeout(resolve, 1)),
    handler: async (events, through) => {
      handled.push({ events: events.map((e) => e.position), through });
      if (through === 9n) finish();
    },
  });
  await finished;
  await subscription.stop();
  expect(handled).toEqual(reads.map(({ events, through }) => ({ events, through })));
  expect(asked.slice(0, 4)).toEqual([0n, 2n, 5n, 8n]);
});

test('a read that goes backwards stops the subscription instead of delivering twice', async () => {
  const subscription = runCatchUp({
    after: 5n,
    read: async () => ({ events: [event(4n)], through: 4n, full: false }),
    waitForEvents: () => new Promise((resolve) => setTimeout(resolve, 1)),
    handler: async () => undefined,
  });
  await expect(subscription.done).rejects.toThrow(/went backwards/);
});
