import { getEventListeners } from 'node:events';
import { runCatchUp } from '../../src/eventstore/catch-up';
import type { RecordedEvent } from '../../src/eventstore/port';

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
    maxBatchSize: options.maxBatchSize,
    minReadIntervalMs: options.minReadIntervalMs,
    read: async (after) => {
      readStarts.push(performance.now());
      const count = Math.min(options.perRead, options.total - Number(after));
      return Array.from({ length: count }, (_, i) => event(after + BigInt(i + 1)));
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
    maxBatchSize: 10,
    minReadIntervalMs: 1,
    read: async (after) => (++reads <= 30 ? [event(after + 1n)] : []),
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
