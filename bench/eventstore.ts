/**
 * npm run bench:eventstore — throughput of the PostgreSQL event store on this machine.
 * A benchmark, not a test: it prints figures and checks them against the targets.
 * BENCH_EVENTS (default 1,000,000) sets the size of the catch-up run.
 */
import { randomUUID } from 'node:crypto';
import { envNumber, report as printFigure, type Target } from './common';
import { withScratchDatabase } from './scratch-database';
import { PostgresEventStore } from '../src/eventstore/postgres';
import { ANY, type EventToAppend } from '../src/eventstore/port';

const phaseSeconds = 5;
const catchUpEvents = envNumber('BENCH_EVENTS', 1_000_000, 1, 100_000_000);

function makeEvents(count: number): EventToAppend[] {
  return Array.from({ length: count }, () => ({
    id: randomUUID(),
    type: 'FundsCredited',
    data: { accountId: 'acc-123456', transferId: randomUUID(), amountMinor: '12345', at: new Date().toISOString() },
    metadata: { correlationId: randomUUID(), schemaVersion: 1 },
  }));
}

/** Runs `writers` loops of `once` for `seconds`; returns operations per second. */
async function timed(writers: number, seconds: number, once: (writer: number) => Promise<number>): Promise<number> {
  const until = Date.now() + seconds * 1000;
  const started = process.hrtime.bigint();
  let done = 0;
  await Promise.all(
    Array.from({ length: writers }, async (_, w) => {
      while (Date.now() < until) {
        // Not `done += await once(w)`: that reads `done` before the await, and concurrent
        // writers would overwrite each other's counts.
        const n = await once(w);
        done += n;
      }
    }),
  );
  const elapsed = Number(process.hrtime.bigint() - started) / 1e9;
  return done / elapsed;
}

const report = (name: string, value: number, unit: string, target?: Target) =>
  printFigure(name, value, unit, target, 48);

async function main(): Promise<void> {
  await withScratchDatabase(async (db) => {
    const pool = db.pool(40);
    const store = new PostgresEventStore(pool);
    console.log(`PostgreSQL: ${db.source}; ${phaseSeconds} s per append phase\n`);

    report(
      'single-event appends, 1 writer',
      await timed(1, phaseSeconds, async (w) => (await store.append(`bench1-${w}`, makeEvents(1), ANY), 1)),
      'appends/s',
    );
    report(
      'single-event appends, 32 concurrent writers',
      await timed(32, phaseSeconds, async (w) => (await store.append(`bench32-${w}`, makeEvents(1), ANY), 1)),
      'appends/s',
    );
    report(
      '100-event batch appends, 1 writer',
      await timed(1, phaseSeconds, async (w) => (await store.append(`batch1-${w}`, makeEvents(100), ANY), 100)),
      'events/s',
      { atLeast: 50_000 },
    );
    report(
      '100-event batch appends, 4 writers',
      await timed(4, phaseSeconds, async (w) => (await store.append(`batch4-${w}`, makeEvents(100), ANY), 100)),
      'events/s',
      { atLeast: 50_000 },
    );

    let total = Number((await pool.query<{ n: string }>('select count(*) as n from ledger_events')).rows[0].n);
    process.stdout.write(`\nfilling to ${catchUpEvents.toLocaleString('en-US')} events ...`);
    const fillers = 4;
    await Promise.all(
      Array.from({ length: fillers }, async (_, w) => {
        for (let i = 0; ; i++) {
          const n = Math.min(1000, catchUpEvents - total);
          if (n <= 0) return;
          total += n;
          await store.append(`fill-${w}-${i % 1000}`, makeEvents(n), ANY);
        }
      }),
    );
    const head = await store.headPosition();
    console.log(` done (head position ${head})\n`);

    let read = 0;
    let after = 0n;
    let started = process.hrtime.bigint();
    for (;;) {
      const page = await store.readAll({ after, maxCount: 5000 });
      if (page.length === 0) break;
      read += page.length;
      after = page[page.length - 1].position;
    }
    report(
      `readAll from 0 over ${read.toLocaleString('en-US')} events`,
      read / (Number(process.hrtime.bigint() - started) / 1e9),
      'events/s',
    );

    let delivered = 0;
    started = process.hrtime.bigint();
    await new Promise<void>((resolve, reject) => {
      const sub = store.subscribe({
        maxBatchSize: 5000,
        handler: async (batch) => {
          delivered += batch.length;
          if (batch[batch.length - 1].position >= head) void sub.stop().then(resolve);
        },
      });
      sub.done.catch(reject);
    });
    report(
      `subscription catch-up from 0 over ${delivered.toLocaleString('en-US')} events`,
      delivered / (Number(process.hrtime.bigint() - started) / 1e9),
      'events/s',
      { atLeast: 100_000 },
    );
    await store.close();
  });
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
