import { randomUUID } from 'node:crypto';
import {
  ANY,
  type EventStore,
  type EventToAppend,
  MultiStreamAppendUnsupported,
  NO_STREAM,
  type RecordedEvent,
  STREAM_EXISTS,
  type Subscription,
  WrongExpectedRevision,
} from '../../src/eventstore/port';

/** An append that stays uncommitted until `commit` is called. */
export interface OpenAppend {
  position: bigint;
  commit(): Promise<void>;
}

export interface ContractHarness {
  store: EventStore;
  /** Starts an append in a transaction left open; absent where the store has no such thing. */
  beginOpenAppend?: (streamName: string, events: EventToAppend[]) => Promise<OpenAppend>;
  dispose(): Promise<void>;
}

export function events(count: number, type = 'Something'): EventToAppend[] {
  return Array.from({ length: count }, (_, i) => ({ id: randomUUID(), type, data: { i }, metadata: { test: true } }));
}

/** Collects what a subscription delivers, and waits until a predicate holds. */
export class Collector {
  readonly received: RecordedEvent[] = [];
  /** The `through` of every batch handed over, in order. */
  readonly throughs: bigint[] = [];
  private waiters: Array<() => void> = [];

  constructor(private readonly accept: (e: RecordedEvent) => boolean) {}

  handler = async (batch: RecordedEvent[], through: bigint): Promise<void> => {
    this.received.push(...batch.filter(this.accept));
    this.throughs.push(through);
    this.waiters.forEach((w) => w());
  };

  async waitFor(count: number, timeoutMs = 10_000): Promise<RecordedEvent[]> {
    await this.waitUntil(() => this.received.length >= count, `${count} events`, timeoutMs);
    return this.received;
  }

  async waitUntil(done: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!done()) {
      if (Date.now() > deadline)
        throw new Error(`waited ${timeoutMs} ms for ${what}; received ${this.received.length} events`);
      await new Promise<void>((resolve) => {
        this.waiters.push(resolve);
        setTimeout(resolve, 50);
      });
    }
  }
}

async function expectConflict(p: Promise<unknown>, expected: unknown, actual: unknown): Promise<void> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(WrongExpectedRevision);
  expect((err as WrongExpectedRevision).expected).toEqual(expected);
  expect((err as WrongExpectedRevision).actual).toEqual(actual);
}

/**
 * The one suite every EventStore adapter passes. Streams get unique names per test, so
 * the suite also runs against a store that already holds other data (EventStoreDB).
 */
export function describeEventStoreContract(adapter: string, makeHarness: () => Promise<ContractHarness>): void {
  describe(`EventStore contract: ${adapter}`, () => {
    let h: ContractHarness;
    let store: EventStore;
    let prefix: string;
    const stream = (name: string) => `${prefix}${name}`;

    beforeAll(async () => {
      h = await makeHarness();
      store = h.store;
    });
    afterAll(async () => {
      await h?.dispose();
    });
    beforeEach(() => {
      prefix = `contract_${randomUUID().slice(0, 8)}-`;
    });

    describe('expected revision', () => {
      it('no stream: creates a stream, and conflicts once it exists', async () => {
        const first = await store.append(stream('a'), events(2), NO_STREAM);
        expect(first.nextRevision).toBe(1n);
        await expectConflict(store.append(stream('a'), events(1), NO_STREAM), NO_STREAM, 1n);
      });

      it('stream exists: conflicts on a missing stream, appends to an existing one', async () => {
        await expectConflict(store.append(stream('a'), events(1), STREAM_EXISTS), STREAM_EXISTS, NO_STREAM);
        await store.append(stream('a'), events(1), NO_STREAM);
        const r = await store.append(stream('a'), events(1), STREAM_EXISTS);
        expect(r.nextRevision).toBe(1n);
      });

      it('any: appends whether or not the stream exists', async () => {
        expect((await store.append(stream('a'), events(1), ANY)).nextRevision).toBe(0n);
        expect((await store.append(stream('a'), events(3), ANY)).nextRevision).toBe(3n);
      });

      it('exact revision: appends when it matches, conflicts with expected and actual when not', async () => {
        await store.append(stream('a'), events(2), NO_STREAM);
        expect((await store.append(stream('a'), events(1), 1n)).nextRevision).toBe(2n);
        await expectConflict(store.append(stream('a'), events(1), 1n), 1n, 2n);
        await expectConflict(store.append(stream('a'), events(1), 5n), 5n, 2n);
        await expectConflict(store.append(stream('missing'), events(1), 0n), 0n, NO_STREAM);
      });

      it('a conflicting append writes nothing', async () => {
        await store.append(stream('a'), events(1), NO_STREAM);
        await expect(store.append(stream('a'), events(3), 7n)).rejects.toBeInstanceOf(WrongExpectedRevision);
        expect(await store.readStream(stream('a'))).toHaveLength(1);
      });
    });

    it('returns the new revision and a global position, both bigint, increasing', async () => {
      const a = await store.append(stream('a'), events(3), NO_STREAM);
      const b = await store.append(stream('b'), events(1), NO_STREAM);
      expect(typeof a.nextRevision).toBe('bigint');
      expect(typeof a.position).toBe('bigint');
      expect(b.position).toBeGreaterThan(a.position);
      const [read] = await store.readStream(stream('b'));
      expect(read.position).toBe(b.position);
      expect(typeof read.revision).toBe('bigint');
    });

    it('concurrent appends to one stream: exactly one wins each revision', async () => {
      await store.append(stream('hot'), events(1), NO_STREAM);
      for (let revision = 0n; revision < 5n; revision++) {
        const results = await Promise.allSettled(
          Array.from({ length: 8 }, () => store.append(stream('hot'), events(1), revision)),
        );
        const won = results.filter((r) => r.status === 'fulfilled');
        const lost = results.filter((r) => r.status === 'rejected');
        expect(won).toHaveLength(1);
        lost.forEach((r) => expect((r as PromiseRejectedResult).reason).toBeInstanceOf(WrongExpectedRevision));
      }
      const all = await store.readStream(stream('hot'));
      expect(all.map((e) => e.revision)).toEqual([0n, 1n, 2n, 3n, 4n, 5n]);
    });

    it('concurrent creation of one stream: exactly one wins', async () => {
      const results = await Promise.allSettled(
        Array.from({ length: 8 }, () => store.append(stream('new'), events(1), NO_STREAM)),
      );
      expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
      expect(await store.readStream(stream('new'))).toHaveLength(1);
    });

    describe('caller-supplied event ids', () => {
      it('are kept', async () => {
        const batch = events(2);
        await store.append(stream('a'), batch, NO_STREAM);
        expect((await store.readStream(stream('a'))).map((e) => e.id)).toEqual(batch.map((e) => e.id));
      });

      it('re-appending ids the stream holds does not create second events', async () => {
        const batch = events(3);
        const first = await store.append(stream('a'), batch, NO_STREAM);
        const again = await store.append(stream('a'), batch, NO_STREAM);
        expect(again.nextRevision).toBe(first.nextRevision);
        const withAny = await store.append(stream('a'), batch, ANY);
        expect(withAny.nextRevision).toBe(first.nextRevision);
        expect(await store.readStream(stream('a'))).toHaveLength(3);
      });

      it('re-appending concurrently stores the events once', async () => {
        const batch = events(2);
        await Promise.allSettled(Array.from({ length: 6 }, () => store.append(stream('a'), batch, ANY)));
        expect(await store.readStream(stream('a'))).toHaveLength(2);
      });
    });

    describe('reads', () => {
      beforeEach(async () => {
        await store.append(stream('r'), events(10), NO_STREAM);
      });

      it('forwards from the start, from the middle, with a max count', async () => {
        expect((await store.readStream(stream('r'))).map((e) => e.revision)).toEqual(
          Array.from({ length: 10 }, (_, i) => BigInt(i)),
        );
        const mid = await store.readStream(stream('r'), { fromRevision: 4n, maxCount: 3 });
        expect(mid.map((e) => e.revision)).toEqual([4n, 5n, 6n]);
        expect(mid.map((e) => e.data)).toEqual([{ i: 4 }, { i: 5 }, { i: 6 }]);
      });

      it('backwards from the end and from the middle', async () => {
        const back = await store.readStream(stream('r'), { direction: 'backwards', maxCount: 3 });
        expect(back.map((e) => e.revision)).toEqual([9n, 8n, 7n]);
        const fromMid = await store.readStream(stream('r'), { direction: 'backwards', fromRevision: 2n });
        expect(fromMid.map((e) => e.revision)).toEqual([2n, 1n, 0n]);
      });

      it('a missing stream reads as empty', async () => {
        expect(await store.readStream(stream('nothing'))).toEqual([]);
      });

      it('readAll returns every stream in global order', async () => {
        const start = await store.headPosition();
        const written: string[] = [];
        for (let i = 0; i < 6; i++) {
          const batch = events(2);
          written.push(...batch.map((e) => e.id));
          await store.append(stream(`s${i % 3}`), batch, ANY);
        }
        // readAll returns only what is final: a transaction open elsewhere on the server
        // can hold it back for a moment, never reorder it. Wait (bounded) for our events.
        const readOurs = async () =>
          (await store.readAll({ after: start })).filter((e) => e.streamName.startsWith(stream('s')));
        let all = await readOurs();
        for (const deadline = Date.now() + 10_000; all.length < written.length && Date.now() < deadline;) {
          await new Promise((r) => setTimeout(r, 20));
          all = await readOurs();
        }
        expect(all.map((e) => e.id)).toEqual(written);
        const positions = all.map((e) => e.position);
        expect([...positions].sort((a, b) => (a < b ? -1 : 1))).toEqual(positions);
        const page = await store.readAll({ after: all[2].position, maxCount: 2 });
        expect(page[0].position).toBeGreaterThan(all[2].position);
        expect(page.length).toBeLessThanOrEqual(2);
      });
    });

    describe('catch-up subscription', () => {
      let sub: Subscription | undefined;
      afterEach(async () => {
        await sub?.stop();
        sub = undefined;
      });

      it('delivers past events, then events appended after it started, in order', async () => {
        const start = await store.headPosition();
        const before = events(3);
        await store.append(stream('a'), before, NO_STREAM);
        const collector = new Collector((e) => e.streamName.startsWith(prefix));
        sub = store.subscribe({ after: start, handler: collector.handler, maxBatchSize: 2 });
        await collector.waitFor(3);
        const after = events(4);
        await store.append(stream('b'), after.slice(0, 2), NO_STREAM);
        await store.append(stream('a'), after.slice(2), 2n);
        const got = await collector.waitFor(7);
        expect(got.map((e) => e.id)).toEqual([...before, ...after].map((e) => e.id));
      });

      it('hands over each event with the time it was written, as every read gives it', async () => {
        const start = await store.headPosition();
        const writtenFrom = Date.now();
        await store.append(stream('timed'), [...events(1, 'Other'), ...events(1, 'Picked')], NO_STREAM);
        const writtenTo = Date.now();
        const stored = await store.readStream(stream('timed'));
        const all = new Collector((e) => e.streamName === stream('timed'));
        const typed = new Collector((e) => e.streamName === stream('timed'));
        const subs = [
          store.subscribe({ after: start, handler: all.handler }),
          store.subscribe({ after: start, eventTypes: ['Picked'], handler: typed.handler }),
        ];
        try {
          await all.waitFor(2);
          await typed.waitFor(1);
        } finally {
          await Promise.all(subs.map((s) => s.stop()));
        }
        const times = (list: RecordedEvent[]) => list.map((e) => e.createdAt.getTime());
        expect(times(all.received)).toEqual(times(stored));
        expect(times(typed.received)).toEqual(times(stored).slice(1));
        // The server's clock, read to the millisecond (a second of leeway for a remote server).
        for (const at of times(stored)) {
          expect(at).toBeGreaterThanOrEqual(writtenFrom - 1_000);
          expect(at).toBeLessThanOrEqual(writtenTo + 1_000);
        }
      });

      it('resumes after a stored position without repeating or skipping', async () => {
        const start = await store.headPosition();
        const batch = events(6);
        for (const e of batch) await store.append(stream('a'), [e], ANY);
        const first = new Collector((e) => e.streamName.startsWith(prefix));
        sub = store.subscribe({ after: start, handler: first.handler });
        await first.waitFor(6);
        await sub.stop();
        const checkpoint = first.received[2].position;
        const resumed = new Collector((e) => e.streamName.startsWith(prefix));
        sub = store.subscribe({ after: checkpoint, handler: resumed.handler });
        const got = await resumed.waitFor(3);
        expect(got.map((e) => e.id)).toEqual(batch.slice(3).map((e) => e.id));
      });

      it('ends with the handler error in done', async () => {
        const start = await store.headPosition();
        await store.append(stream('a'), events(1), NO_STREAM);
        sub = store.subscribe({
          after: start,
          handler: async () => {
            throw new Error('handler failed');
          },
        });
        await expect(sub.done).rejects.toThrow('handler failed');
      });

      it('waits for a transaction that took an earlier position, then delivers in position order', async () => {
        if (!h.beginOpenAppend) {
          // The adapter has no client-visible transactions, so the situation cannot arise.
          expect(store.capabilities.multiStreamAppend).toBe(false);
          return;
        }
        const start = await store.headPosition();
        const slow = events(2);
        const open = await h.beginOpenAppend(stream('slow'), slow);
        const fast = events(3);
        const committed = await store.append(stream('fast'), fast, NO_STREAM);
        expect(committed.position).toBeGreaterThan(open.position);

        const collector = new Collector((e) => e.streamName.startsWith(prefix));
        sub = store.subscribe({ after: start, handler: collector.handler });
        await new Promise((r) => setTimeout(r, 500));
        // B is committed, but A holds lower positions: nothing may pass A yet.
        expect(collector.received).toEqual([]);
        expect(await store.headPosition()).toBeLessThan(open.position);

        await open.commit();
        const got = await collector.waitFor(5);
        expect(got.map((e) => e.id)).toEqual([...slow, ...fast].map((e) => e.id));
      });

      it('to some event types: delivers only those, in order, and hands over how far it read past the others', async () => {
        const start = await store.headPosition();
        const wanted: EventToAppend[] = [];
        let last = 0n;
        for (let i = 0; i < 5; i++) {
          const picked = events(1, 'Picked');
          wanted.push(...picked);
          await store.append(stream(`t${i}`), [...events(2, 'Other'), ...picked, ...events(1, 'Other')], NO_STREAM);
          last = (await store.append(stream(`u${i}`), events(3, 'Other'), NO_STREAM)).position;
        }
        const collector = new Collector((e) => e.streamName.startsWith(prefix));
        sub = store.subscribe({ after: start, eventTypes: ['Picked'], handler: collector.handler, maxBatchSize: 2 });
        // The last events are of another type: only `through` says they were passed over.
        await collector.waitUntil(() => collector.throughs.some((t) => t >= last), `through to reach ${last}`);
        expect(collector.received.map((e) => e.id)).toEqual(wanted.map((e) => e.id));
        expect(collector.received.every((e) => e.type === 'Picked')).toBe(true);
        const throughs = collector.throughs;
        expect([...throughs].sort((a, b) => (a < b ? -1 : 1))).toEqual(throughs);
        expect(new Set(throughs).size).toBe(throughs.length);
      });

      it('to some event types: never passes a position a transaction still open may fill in', async () => {
        if (!h.beginOpenAppend) {
          // The adapter has no client-visible transactions, so the situation cannot arise.
          expect(store.capabilities.multiStreamAppend).toBe(false);
          return;
        }
        const start = await store.headPosition();
        const slow = events(1, 'Picked');
        const open = await h.beginOpenAppend(stream('slow-typed'), [...events(1, 'Other'), ...slow]);
        // Committed after the open one took its positions: one of another type, then one picked.
        await store.append(stream('fast-other'), events(2, 'Other'), NO_STREAM);
        const fast = events(1, 'Picked');
        await store.append(stream('fast-typed'), fast, NO_STREAM);

        const collector = new Collector((e) => e.streamName.startsWith(prefix));
        sub = store.subscribe({ after: start, eventTypes: ['Picked'], handler: collector.handler });
        await new Promise((r) => setTimeout(r, 500));
        expect(collector.received).toEqual([]);
        for (const through of collector.throughs) expect(through).toBeLessThan(open.position);

        await open.commit();
        const got = await collector.waitFor(2);
        expect(got.map((e) => e.id)).toEqual([...slow, ...fast].map((e) => e.id));
      });
    });

    describe('multi-stream append', () => {
      it('is atomic where declared, and refused where not', async () => {
        const appends = [
          { streamName: stream('m1'), events: events(1), expectedRevision: NO_STREAM },
          { streamName: stream('m2'), events: events(2), expectedRevision: NO_STREAM },
        ];
        if (!store.capabilities.multiStreamAppend) {
          await expect(store.appendMultiple(appends)).rejects.toBeInstanceOf(MultiStreamAppendUnsupported);
          return;
        }
        const results = await store.appendMultiple(appends);
        expect(results.map((r) => r.nextRevision)).toEqual([0n, 1n]);
        // One conflicting stream: nothing of the batch is written.
        await expect(
          store.appendMultiple([
            { streamName: stream('m3'), events: events(1), expectedRevision: NO_STREAM },
            { streamName: stream('m1'), events: events(1), expectedRevision: NO_STREAM },
          ]),
        ).rejects.toBeInstanceOf(WrongExpectedRevision);
        expect(await store.readStream(stream('m3'))).toEqual([]);
      });
    });

    it('rejects an event id that is not a UUID, writing nothing', async () => {
      await expect(store.append(stream('a'), [{ id: 'nope', type: 'X', data: {} }], ANY)).rejects.toThrow(/UUID/);
      expect(await store.readStream(stream('a'))).toEqual([]);
    });
  });
}
