/**
 * npm run bench:replay — how fast the read models rebuild, and how far they trail the
 * event store under load, on this machine. A benchmark, not a test: it prints figures and
 * checks them against the issue's targets.
 *
 * Part 1, rebuild: a scratch database is filled (bench/ledger-fill.ts) with BENCH_EVENTS
 * (default 1,000,000) ledger events appended straight through the store in big
 * multi-stream batches, shaped as the transfer process writes them: AccountOpened for BENCH_ACCOUNTS (10,000) accounts and a
 * funding account, then per transfer TransferRequested, FundsHeld (source), FundsCredited
 * (destination), FundsDebited (source), TransferHeld + TransferCredited + TransferCommitted,
 * with amounts that keep every account consistent. Then replayProjection rebuilds each
 * projection from position 0 (as `ledger replay --all` does), timed, with a breakdown of
 * where the time goes: reading (and decoding rows), the projection's JS (event decoding and
 * folding) and SQL, and the batch bookkeeping.
 *
 * Part 2, lag: the transfer process and the projections run on that database (each in a
 * worker thread, as src/main.ts runs them) while 4 loops in the main thread request
 * transfers in batches of 100 through the command handlers, as bench:core's 100-per-request
 * phase does, for BENCH_LAG_SECONDS (15 s). Before that, a warm-up: a transfer from every
 * account (so the process's account cache holds them all, as in a service that has been
 * running), then 3 s of load and until the transfer process has caught up once. Unpaced (full load: ingress
 * holds the loops back as the service does, at INGRESS_MAX_BACKLOG transfers the process
 * has not read) unless BENCH_LAG_RATE sets the transfers/s the loops offer in all. Every 50 ms the store's head position is sampled; the
 * lag of a sample is the time until both projections' checkpoints reach it (checked every
 * 10 ms): the target is on its p99. Also printed: each time the checkpoints move, the age of
 * the oldest event they moved over (written → applied, including any time the event was not
 * yet visible to subscribers), and this process's CPU and main event-loop delay.
 */
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Pool, PoolClient } from 'pg';
import { processBacklog } from '../src/commands/process-backlog';
import { maxBatchTransfers, TransferCommands, type TransferRequestInput } from '../src/commands/transfer-commands';
import { loadConfig } from '../src/config';
import { transferProcessName } from '../src/commands/transfer-process';
import { loadCheckpoint, saveCheckpoint } from '../src/db/checkpoints';
import { accountId, envNumber, percentile, randomInt, report } from './common';
import { describeFill, fillLedger } from './ledger-fill';
import { withScratchDatabase } from './scratch-database';
import { parseEvent } from '../src/domain/events';
import { PostgresEventStore } from '../src/eventstore/postgres';
import type { EventStore, RecordedEvent } from '../src/eventstore/port';
import { createLogger } from '../src/logger';
import { allProjections } from '../src/projections';
import { projectionsPosition } from '../src/projections/consistency';
import type { Projection } from '../src/projections/projection';
import { replayBatchSize, replayProjection } from '../src/projections/replay';
import { startBackgroundWorker } from '../src/workers/supervisor';

const targetEvents = envNumber('BENCH_EVENTS', 1_000_000, 1, 100_000_000);
const accountCount = envNumber('BENCH_ACCOUNTS', 10_000, 2, 1_000_000);
const lagSeconds = envNumber('BENCH_LAG_SECONDS', 15, 1, 3_600);
/** Transfers requested per second in part 2 (0: as fast as the loops go). */
const lagRate = envNumber('BENCH_LAG_RATE', 0, 0, 1_000_000);
const warmUpSeconds = 3;
const maxWarmUpSeconds = 120;
const replayTarget = 50_000;
const lagP99TargetMs = 250;
const loadLoops = 4;
const loadBatch = 100;
const headSampleMs = 50;
const reachedPollMs = 10;

const seconds = (fromMs: number) => (performance.now() - fromMs) / 1000;

function detail(name: string, text: string): void {
  console.log(`  ${name.padEnd(54)} ${text}`);
}

// ---- part 1: the rebuild, instrumented --------------------------------------------------

interface Timings {
  /** store.readAll: the query, the rows' transfer and node-postgres decoding them (JSON, dates). */
  readMs: number;
  reads: number;
  /** store.headPosition, as replayProjection asks it between catch-up rounds. */
  headMs: number;
  /** projection.apply in all. */
  applyMs: number;
  applies: number;
  /** SQL sent by projection.apply (select of current rows, upserts). */
  applySqlMs: number;
  /** Other SQL on the replay's connection: begin, checkpoint select for update and upsert, commit, swap. */
  batchSqlMs: number;
  /** SQL on the pool: the replay lease (renewed after every batch), prepare, clean-up. */
  poolSqlMs: number;
  /** applySqlMs by statement ("select rm_accounts", "insert rm_account_entries", ...). */
  applyStatements: Map<string, number>;
  /** batchSqlMs by statement. */
  batchStatements: Map<string, number>;
  inApply: boolean;
}

const newTimings = (): Timings => ({
  readMs: 0,
  reads: 0,
  headMs: 0,
  applyMs: 0,
  applies: 0,
  applySqlMs: 0,
  batchSqlMs: 0,
  poolSqlMs: 0,
  applyStatements: new Map(),
  batchStatements: new Map(),
  inApply: false,
});

type AnyQuery = (...args: unknown[]) => Promise<unknown>;

/** Wraps `query` of a pg Pool or PoolClient, adding its time to `add`. */
function timedQueries<T extends object>(
  target: T,
  add: (ms: number, sql: string) => void,
  connect?: (client: PoolClient) => PoolClient,
): T {
  return new Proxy(target, {
    get(t, prop) {
      const value: unknown = Reflect.get(t, prop, t);
      if (prop === 'query') {
        return async (...args: unknown[]) => {
          const s = performance.now();
          try {
            return await (value as AnyQuery).apply(t, args);
          } finally {
            add(performance.now() - s, typeof args[0] === 'string' ? args[0] : '');
          }
        };
      }
      if (prop === 'connect' && connect) return async () => connect(await (t as unknown as Pool).connect());
      return typeof value === 'function' ? (value as AnyQuery).bind(t) : value;
    },
  });
}

function instrumented(
  store: EventStore,
  pool: Pool,
  projection: Projection,
  t: Timings,
): { store: EventStore; pool: Pool; projection: Projection } {
  const timedStore = new Proxy(store, {
    get(s, prop) {
      const value: unknown = Reflect.get(s, prop, s);
      if (prop === 'readAll' || prop === 'headPosition') {
        return async (...args: unknown[]) => {
          const start = performance.now();
          try {
            return await (value as AnyQuery).apply(s, args);
          } finally {
            if (prop === 'readAll') {
              t.readMs += performance.now() - start;
              t.reads++;
            } else {
              t.headMs += performance.now() - start;
            }
          }
        };
      }
      return typeof value === 'function' ? (value as AnyQuery).bind(s) : value;
    },
  });
  const client = (c: PoolClient) =>
    timedQueries(c, (ms, sql) => {
      const m = /^\s*(\w+).*?\b(?:from|into)\s+(\w+)/s.exec(sql);
      const key = m ? `${m[1]} ${m[2].replace(/__next$/, '')}` : sql.trim().split(/\s+/).slice(0, 2).join(' ');
      const statements = t.inApply ? t.applyStatements : t.batchStatements;
      statements.set(key, (statements.get(key) ?? 0) + ms);
      if (t.inApply) t.applySqlMs += ms;
      else t.batchSqlMs += ms;
    });
  const timedPool = timedQueries(pool, (ms) => (t.poolSqlMs += ms), client);
  const timedProjection: Projection = {
    name: projection.name,
    version: projection.version,
    tables: projection.tables,
    handles: (e) => projection.handles(e),
    async apply(tx, events, tables) {
      const start = performance.now();
      t.inApply = true;
      try {
        await projection.apply(tx, events, tables);
      } finally {
        t.inApply = false;
        t.applyMs += performance.now() - start;
        t.applies++;
      }
    },
  };
  return { store: timedStore, pool: timedPool, projection: timedProjection };
}

/** Per event, what decoding costs alone (zod, as the projections call it), over a sample. */
async function decodeCost(store: EventStore, sample: number): Promise<number> {
  const events: RecordedEvent[] = [];
  const head = await store.headPosition();
  for (let after = head > BigInt(sample) ? head - BigInt(sample) : 0n; events.length < sample;) {
    const page = await store.readAll({ after, maxCount: replayBatchSize });
    if (page.length === 0) break;
    events.push(...page);
    after = page[page.length - 1].position;
  }
  const start = performance.now();
  for (const e of events) parseEvent(e);
  return ((performance.now() - start) * 1000) / events.length;
}

/** readAll's query with node-postgres decoding nothing (every value a string), over the whole log. */
async function rawReadMs(pool: Pool): Promise<number> {
  const raw = { getTypeParser: () => (value: string) => value };
  const start = performance.now();
  for (let after = '0'; ;) {
    const { rows } = await pool.query<{ position: string }>({
      text: `select position, transaction_id, event_id, stream_name, revision, type, data, metadata, created_at,
                    pg_snapshot_xmin(pg_current_snapshot())::text as safe_xmin
               from ledger_events where position > $1 order by position limit $2`,
      values: [after, replayBatchSize],
      types: raw,
    });
    if (rows.length === 0) return performance.now() - start;
    after = rows[rows.length - 1].position;
  }
}

async function rebuild(store: EventStore, pool: Pool, events: number): Promise<void> {
  let allEvents = 0;
  let allMs = 0;
  const breakdowns: [string, Timings, number, number][] = [];
  for (const projection of allProjections) {
    const t = newTimings();
    const wrapped = instrumented(store, pool, projection, t);
    let done = 0;
    const started = performance.now();
    const result = await replayProjection(wrapped.store, wrapped.pool, wrapped.projection, (p) => void (done = p.done));
    const ms = performance.now() - started;
    done = Math.max(done, result.done);
    allEvents += done;
    allMs += ms;
    report(`replay ${projection.name} over ${done.toLocaleString('en-US')} events`, done / (ms / 1000), 'events/s', {
      atLeast: replayTarget,
    });
    breakdowns.push([projection.name, t, ms, done]);
  }
  report(
    `replay --all (${allProjections.length} projections in turn), per projection`,
    allEvents / (allMs / 1000),
    'events/s',
    { atLeast: replayTarget },
  );
  detail(
    'replay --all wall time',
    `${(allMs / 1000).toFixed(1)} s for ${events.toLocaleString('en-US')} events in the store`,
  );

  console.log("\nwhere the rebuild time goes (ms, share of the projection's replay):");
  const usPerEvent = await decodeCost(store, 100_000);
  for (const [name, t, ms, done] of breakdowns) {
    const pct = (x: number) =>
      `${Math.round(x).toLocaleString('en-US').padStart(7)} ms ${((100 * x) / ms).toFixed(0).padStart(3)}%`;
    const applyJs = t.applyMs - t.applySqlMs;
    const handled = (
      await pool.query<{ n: string }>(`select count(*) as n from ledger_events where stream_name like $1`, [
        name === 'accounts' ? 'account-%' : 'transfer-%',
      ])
    ).rows[0].n;
    const decodeMs = (Number(handled) * usPerEvent) / 1000;
    console.log(
      `  ${name}: ${(ms / 1000).toFixed(1)} s, ${t.reads} reads of ≤ ${replayBatchSize} events, ${Number(handled).toLocaleString('en-US')} of ${done.toLocaleString('en-US')} events handled`,
    );
    detail('read (readAll: query, transfer, row decoding)', pct(t.readMs));
    detail('apply, JavaScript (event decoding, folding, params)', pct(applyJs));
    detail(`  of which zod decoding alone (${usPerEvent.toFixed(1)} µs/event, est.)`, pct(decodeMs));
    detail('apply, SQL (select current rows, upserts)', pct(t.applySqlMs));
    for (const [statement, sqlMs] of t.applyStatements) detail(`  ${statement}`, pct(sqlMs));
    detail('batch SQL (begin, checkpoint lock + upsert, commit, swap)', pct(t.batchSqlMs));
    for (const [statement, sqlMs] of t.batchStatements) detail(`  ${statement}`, pct(sqlMs));
    detail('pool SQL (lease renewal per batch, prepare, clean-up)', pct(t.poolSqlMs));
    detail('headPosition', pct(t.headMs));
    detail(
      'unaccounted (JS between calls, GC)',
      pct(ms - t.readMs - t.applyMs - t.batchSqlMs - t.poolSqlMs - t.headMs),
    );
  }
  const rawMs = await rawReadMs(pool);
  const readMs = breakdowns.reduce((n, [, t]) => n + t.readMs, 0) / breakdowns.length;
  console.log(
    `  the whole log read with the same query but no row decoding: ${Math.round(rawMs).toLocaleString('en-US')} ms ` +
      `(readAll: ${Math.round(readMs).toLocaleString('en-US')} ms per replay)`,
  );
}

// ---- part 2: lag under load -------------------------------------------------------------

const loopDelayResolutionMs = 10;
/** The histogram holds the time between its timer's ticks: the delay is what exceeds the resolution. */
const delayMs = (ns: number) => Math.max(0, Math.round(ns / 1e6 - loopDelayResolutionMs));

async function lagUnderLoad(store: EventStore, pool: Pool, databaseUrl: string): Promise<void> {
  const logger = createLogger(process.env.LOG_LEVEL ?? 'warn');
  // The history is all committed transfers: the process starts at the head.
  await saveCheckpoint(pool, transferProcessName, await store.headPosition());
  // As src/main.ts runs them: the transfer process and the projections in threads of their own.
  const workers = await Promise.all(
    (['transfer-process', 'projections'] as const).map((role) =>
      startBackgroundWorker(
        { role, databaseUrl, eventStoreUrl: undefined, pgPoolMax: 10, logLevel: logger.level },
        logger,
      ),
    ),
  );
  // Ingress waits while the process is this far behind, as in the service.
  const backlog = processBacklog(pool, loadConfig().ingressMaxBacklog, logger);
  const commands = new TransferCommands(store, { backlog });

  // A transfer process that has been running holds every busy account folded in memory; a
  // fresh one reads each account's whole history the first time it meets it (about 100
  // events each over 1M events of history). So the warm-up first moves 1 minor unit from
  // every account to the next, then waits until the process has worked it all: the lag is
  // measured in that steady state, not while the cache fills.
  const warmUpStart = performance.now();
  const sweep = Array.from({ length: accountCount }, (_, i) => ({
    sourceAccount: accountId(i),
    destinationAccount: accountId((i + 1) % accountCount),
    amountMinor: 1n,
  }));
  for (let i = 0; i < sweep.length; i += maxBatchTransfers)
    await commands.requestTransfers(sweep.slice(i, i + maxBatchTransfers));
  const sweptHead = await store.headPosition();
  while ((await loadCheckpoint(pool, transferProcessName)) < sweptHead && seconds(warmUpStart) < maxWarmUpSeconds) {
    await sleep(100);
  }

  let stopLoad = false;
  let measuring = false;
  let requested = 0;
  let refused = 0;
  // Open-loop pacing: loop i sends its k-th batch at start + (k + i / loops) * interval, or
  // at once when it is behind; with lagRate 0 every loop sends as fast as it can.
  const intervalMs = lagRate > 0 ? (loadLoops * loadBatch * 1000) / lagRate : 0;
  const loadStart = performance.now();
  const loops = Array.from({ length: loadLoops }, async (_, i) => {
    for (let k = 0; !stopLoad; k++) {
      const due = loadStart + (k + i / loadLoops) * intervalMs;
      if (due > performance.now()) await sleep(due - performance.now());
      if (stopLoad) return;
      const inputs: TransferRequestInput[] = Array.from({ length: loadBatch }, () => {
        const from = randomInt(accountCount);
        const to = (from + 1 + randomInt(accountCount - 1)) % accountCount;
        return {
          sourceAccount: accountId(from),
          destinationAccount: accountId(to),
          amountMinor: BigInt(1 + randomInt(10_000)),
        };
      });
      const outcomes = await commands.requestTransfers(inputs);
      if (measuring) {
        requested += outcomes.filter((o) => o.ok).length;
        refused += outcomes.filter((o) => !o.ok).length;
      }
    }
  });

  const pending: { at: number; head: bigint }[] = [];
  const lags: number[] = [];
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      const head = await store.headPosition();
      if (measuring) pending.push({ at: performance.now(), head });
      await sleep(headSampleMs);
    }
  })();
  // Also, each time the checkpoints move, the age of the oldest event they moved over:
  // written (createdAt, the append's start) to applied, whatever held its visibility back.
  const ages: number[] = [];
  let reached = await projectionsPosition(pool, allProjections);
  const resolver = (async () => {
    while (sampling || pending.length > 0) {
      const previous = reached;
      reached = await projectionsPosition(pool, allProjections);
      const now = performance.now();
      const wallNow = Date.now();
      while (pending.length > 0 && pending[0].head <= reached) lags.push(now - pending.shift()!.at);
      if (measuring && reached > previous) {
        const { rows } = await pool.query<{ oldest: Date }>(
          'select min(created_at) as oldest from ledger_events where position > $1 and position <= $2',
          [previous.toString(), reached.toString()],
        );
        ages.push(wallNow - rows[0].oldest.getTime());
      }
      await sleep(reachedPollMs);
    }
  })();

  // Then the load runs at least warmUpSeconds, until the transfer process has caught up with it once.
  await sleep(warmUpSeconds * 1000);
  const warmHead = await store.headPosition();
  while ((await loadCheckpoint(pool, transferProcessName)) < warmHead && seconds(warmUpStart) < maxWarmUpSeconds) {
    await sleep(100);
  }
  const warmUp = seconds(warmUpStart);
  const headAtStart = await store.headPosition();
  const started = performance.now();
  const cpuAtStart = process.cpuUsage();
  const loopDelay = monitorEventLoopDelay({ resolution: loopDelayResolutionMs });
  loopDelay.enable();
  measuring = true;
  await sleep(lagSeconds * 1000);
  measuring = false;
  loopDelay.disable();
  const cpu = process.cpuUsage(cpuAtStart);
  stopLoad = true;
  await Promise.all(loops);
  const loadSeconds = seconds(started);
  const headAtEnd = await store.headPosition();
  sampling = false;
  await sampler;
  const drainStart = performance.now();
  const drained = await Promise.race([resolver.then(() => true), sleep(60_000).then(() => false)]);
  const drainSeconds = seconds(drainStart);
  backlog?.close();
  await Promise.all(workers.map((worker) => worker.stop()));

  lags.sort((a, b) => a - b);
  const { rows } = await pool.query<{ status: string; n: string }>(
    `select status, count(*) as n from rm_transfers where position > $1 group by status order by status`,
    [headAtStart.toString()],
  );
  console.log(
    `\n${loadLoops} loops requesting ${loadBatch} transfers at a time (${lagRate > 0 ? `offered ${lagRate.toLocaleString('en-US')}/s` : 'unpaced'}) for ${loadSeconds.toFixed(1)} s (after ${warmUp.toFixed(1)} s of warm-up): ` +
      `${requested.toLocaleString('en-US')} accepted (${Math.round(requested / loadSeconds).toLocaleString('en-US')}/s), ${refused} refused; ` +
      `${Number(headAtEnd - headAtStart).toLocaleString('en-US')} events (${Math.round(Number(headAtEnd - headAtStart) / loadSeconds).toLocaleString('en-US')}/s)`,
  );
  console.log(
    `rm_transfers rows changed while measuring (REQUESTED: the transfer process's backlog): ${rows.map((r) => `${r.status} ${Number(r.n).toLocaleString('en-US')}`).join(', ') || 'none'}`,
  );
  detail(
    'this process (main thread and both workers) while measuring',
    `CPU ${Math.round((cpu.user + cpu.system) / 10 / (loadSeconds * 1000))}% of one core; main thread's event-loop delay ` +
      `p50 ${delayMs(loopDelay.percentile(50))} ms, p99 ${delayMs(loopDelay.percentile(99))} ms, max ${delayMs(loopDelay.max)} ms`,
  );
  report(
    `projection lag p50 (${lags.length} samples of the head every ${headSampleMs} ms)`,
    percentile(lags, 50),
    'ms',
  );
  report('projection lag p99', percentile(lags, 99), 'ms', { atMost: lagP99TargetMs });
  report('projection lag max', lags[lags.length - 1] ?? NaN, 'ms');
  ages.sort((a, b) => a - b);
  report(`event written → applied, p50 (${ages.length} checkpoint moves, oldest event)`, percentile(ages, 50), 'ms');
  report('event written → applied, p99', percentile(ages, 99), 'ms');
  detail(
    'caught up after the load stopped',
    drained
      ? `in ${drainSeconds.toFixed(1)} s`
      : `NOT within 60 s (${pending.length} samples unresolved, reached ${reached})`,
  );
}

// ---- main -------------------------------------------------------------------------------

async function main(): Promise<void> {
  await withScratchDatabase(async (db) => {
    const pool = db.pool(40);
    const store = new PostgresEventStore(pool);
    console.log(`PostgreSQL: ${db.source}; replay batches of ${replayBatchSize} events\n`);
    const fill = await fillLedger(store, pool, { events: targetEvents, accounts: accountCount });
    console.log(`${describeFill(fill)}\n`);
    const events = fill.events;
    await rebuild(store, pool, events);
    await lagUnderLoad(store, pool, db.url);
    await store.close();
  });
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
