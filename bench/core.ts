/**
 * npm run bench:core — throughput and latency of the ledger core on this machine: the
 * command handlers and the transfer process driven directly (no HTTP). A benchmark, not a
 * test: it prints committed transfers per second and request→COMMITTED latency, and checks
 * them against the issue's targets.
 *
 * Phases: uniform load over BENCH_ACCOUNTS (10,000) funded accounts, and one hot source
 * account, each with 1 transfer per request (BENCH_REQUESTERS, 128, concurrent requesters:
 * enough that the ledger, not the clients' round trips, bounds the rate) and with 100 per
 * request (4 concurrent requesters). Each offers load for BENCH_SECONDS (10 s), then waits
 * (at most 60 s) until every accepted transfer is terminal. Throughput is committed
 * transfers over the time from the first request to the last commit.
 * Unpaced, the requesters would outrun the process; ingress holds them back as the service
 * does (INGRESS_MAX_BACKLOG accepted transfers not yet read by the process), so latency is
 * mostly that backlog's queueing. BENCH_RATE (transfers/s over all requesters) paces them
 * to see latency below saturation.
 * The transfer process runs in a worker thread of its own, as src/main.ts runs it; the
 * requesters and the command handlers in the main thread. BENCH_PROFILE=1 runs it in the
 * main thread instead, with its store and pool instrumented, and adds per phase what it
 * did (batches, appends, time per step) and the CPU used by this process and by the
 * PostgreSQL server.
 */
import type { Pool } from 'pg';
import { randomUUID } from 'node:crypto';
import { type IntervalHistogram, monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { openAccount } from '../src/commands/account-commands';
import { processBacklog } from '../src/commands/process-backlog';
import { TransferCommands, type TransferRequestInput } from '../src/commands/transfer-commands';
import { loadConfig } from '../src/config';
import { startTransferProcess, transferProcessName } from '../src/commands/transfer-process';
import { loadCheckpoint } from '../src/db/checkpoints';
import { startBackgroundWorker } from '../src/workers/supervisor';
import {
  accountId,
  cpuSecondsSince,
  cpuTicks,
  envNumber,
  fmt,
  isPostgres,
  machineCpu,
  percentile,
  randomInt,
  verdict,
} from './common';
import { withScratchDatabase } from './scratch-database';
import { PostgresEventStore } from '../src/eventstore/postgres';
import type {
  AppendResult,
  EventStore,
  EventToAppend,
  ExpectedRevision,
  ReadAllOptions,
  ReadStreamOptions,
  RecordedEvent,
  StreamAppend,
  SubscribeOptions,
  Subscription,
} from '../src/eventstore/port';
import { createLogger } from '../src/logger';

const phaseSeconds = envNumber('BENCH_SECONDS', 10, 1, 3_600);
const accountCount = envNumber('BENCH_ACCOUNTS', 10_000, 2, 1_000_000);
const profile = process.env.BENCH_PROFILE === '1';
const singleRequesters = envNumber('BENCH_REQUESTERS', 128, 1, 10_000);
/** Offered transfers/s over all requesters; unset: each requester sends as fast as it is answered. */
const offeredRate = envNumber('BENCH_RATE', 0, 0, 1_000_000) || undefined;
const drainLimitMs = 60_000;
const openConcurrency = 32;
const fundingBatch = 1_000;
const currency = 'EUR';
/** Each account starts with 1,000,000.00; transfers move 0.01 to 100.00, so nearly all commit. */
const fundingMinor = 100_000_000n;
const hotFundingMinor = 10n ** 15n;
const uniformTarget = 3_000;

const randomAmount = () => BigInt(1 + randomInt(10_000));

// ---- commit watcher -------------------------------------------------------------------

const terminalTypes = new Set(['TransferCommitted', 'TransferRejected', 'TransferCancelled']);

/** Request times by transfer id; a separate subscription records when each one ends. */
class Tracker {
  readonly requestedAt = new Map<string, number>();
  readonly latencies: number[] = [];
  readonly failures = new Map<string, number>();
  committed = 0;
  accepted = 0;
  ingressErrors = 0;
  firstRequest = Infinity;
  lastCommit = 0;

  request(transferId: string): void {
    const now = performance.now();
    if (now < this.firstRequest) this.firstRequest = now;
    this.requestedAt.set(transferId, now);
  }

  refused(transferId: string): void {
    this.requestedAt.delete(transferId);
    this.ingressErrors++;
  }

  seen(events: RecordedEvent[]): void {
    const now = performance.now();
    for (const e of events) {
      if (!terminalTypes.has(e.type) || !e.streamName.startsWith('transfer-')) continue;
      const id = e.streamName.slice('transfer-'.length);
      const at = this.requestedAt.get(id);
      if (at === undefined) continue;
      this.requestedAt.delete(id);
      if (e.type === 'TransferCommitted') {
        this.committed++;
        this.latencies.push(now - at);
        this.lastCommit = now;
      } else {
        const key = `${e.type === 'TransferRejected' ? 'rejected' : 'cancelled'} ${String(e.data.reason)}`;
        this.failures.set(key, (this.failures.get(key) ?? 0) + 1);
      }
    }
  }

  get outstanding(): number {
    return this.requestedAt.size;
  }

  async drained(limitMs: number): Promise<boolean> {
    const until = Date.now() + limitMs;
    while (this.outstanding > 0 && Date.now() < until) await sleep(20);
    return this.outstanding === 0;
  }
}

async function watch(store: EventStore, tracker: Tracker): Promise<Subscription> {
  const after = await store.headPosition();
  return store.subscribe({ after, maxBatchSize: 5_000, handler: async (events) => tracker.seen(events) });
}

// ---- profiling of the transfer process ------------------------------------------------

interface StepStats {
  calls: number;
  events: number;
  streams: number;
  ms: number;
}

/** What the transfer process asks of the store, counted and timed; everything is delegated. */
class ProfiledStore implements EventStore {
  batches = 0;
  transfersSeen = 0;
  maxBatch = 0;
  eventsSeen = 0;
  /** The last position handed to the process (whole batch worked once the handler returns). */
  lastPosition = 0n;
  idleBatches = 0;
  idleBatchMs = 0;
  handlerMs = 0;
  streamReads = 0;
  readonly steps = new Map<string, StepStats>();

  constructor(private readonly inner: EventStore) {}

  get capabilities() {
    return this.inner.capabilities;
  }

  reset(): void {
    this.batches = this.transfersSeen = this.maxBatch = this.handlerMs = this.streamReads = 0;
    this.eventsSeen = this.idleBatches = this.idleBatchMs = 0;
    this.steps.clear();
  }

  step(name: string, ms: number, streams = 0, events = 0): void {
    const s = this.steps.get(name) ?? { calls: 0, events: 0, streams: 0, ms: 0 };
    s.calls++;
    s.ms += ms;
    s.streams += streams;
    s.events += events;
    this.steps.set(name, s);
  }

  async append(streamName: string, events: EventToAppend[], expectedRevision: ExpectedRevision): Promise<AppendResult> {
    const [result] = await this.appendMultiple([{ streamName, events, expectedRevision }]);
    return result;
  }

  async appendMultiple(appends: StreamAppend[]): Promise<AppendResult[]> {
    const started = performance.now();
    try {
      return await this.inner.appendMultiple(appends);
    } finally {
      const type = appends[0]?.events[0]?.type ?? '';
      const wholeBatch =
        appends.some((a) => a.streamName.startsWith('account-')) &&
        appends.some((a) => a.streamName.startsWith('transfer-'));
      const name = wholeBatch
        ? 'append batch'
        : type === 'FundsHeld'
          ? 'append hold'
          : type === 'FundsCredited'
            ? 'append credit'
            : type === 'FundsDebited' || type === 'HoldReleased'
              ? 'append settle'
              : type.startsWith('Transfer')
                ? 'append record'
                : `append ${type}`;
      this.step(
        name,
        performance.now() - started,
        appends.length,
        appends.reduce((n, a) => n + a.events.length, 0),
      );
    }
  }

  readStream(streamName: string, options?: ReadStreamOptions): Promise<RecordedEvent[]> {
    this.streamReads++;
    return this.inner.readStream(streamName, options);
  }

  readAll(options?: ReadAllOptions): Promise<RecordedEvent[]> {
    return this.inner.readAll(options);
  }

  headPosition(): Promise<bigint> {
    return this.inner.headPosition();
  }

  subscribe(options: SubscribeOptions): Subscription {
    return this.inner.subscribe({
      ...options,
      handler: async (events, through) => {
        const started = performance.now();
        this.batches++;
        const transfers = events.filter((e) => e.type === 'TransferRequested').length;
        this.transfersSeen += transfers;
        this.maxBatch = Math.max(this.maxBatch, transfers);
        this.eventsSeen += events.length;
        this.lastPosition = through;
        try {
          await options.handler(events, through);
        } finally {
          const ms = performance.now() - started;
          this.handlerMs += ms;
          if (transfers === 0) {
            this.idleBatches++;
            this.idleBatchMs += ms;
          }
        }
      },
    });
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}

/** Times the process's own SQL (checkpoint, expiry index, lease) on its pool. */
function profilePoolQueries(pool: Pool, store: ProfiledStore): void {
  const original = pool.query.bind(pool) as (...args: unknown[]) => Promise<unknown>;
  const labels: [string, string][] = [
    ['insert into ledger_checkpoints', 'checkpoint'],
    ['delete from ledger_pending_expiries', 'unindex expiries'],
    ['insert into ledger_pending_expiries', 'index expiries'],
  ];
  (pool as unknown as { query: (...args: unknown[]) => Promise<unknown> }).query = async (...args: unknown[]) => {
    const sql = typeof args[0] === 'string' ? args[0].trimStart() : '';
    const label = labels.find(([prefix]) => sql.startsWith(prefix))?.[1];
    if (!label) return original(...args);
    const started = performance.now();
    try {
      return await original(...args);
    } finally {
      store.step(label, performance.now() - started);
    }
  };
}

interface CpuMarks {
  node: NodeJS.CpuUsage;
  pg: Map<number, number>;
  machine: { busy: number; total: number };
  loopDelay: IntervalHistogram;
}

function cpuMarks(): CpuMarks {
  const loopDelay = monitorEventLoopDelay({ resolution: 10 });
  loopDelay.enable();
  return { node: process.cpuUsage(), pg: cpuTicks(isPostgres), machine: machineCpu(), loopDelay };
}

function profileReport(store: ProfiledStore, wallSeconds: number, marks: CpuMarks): void {
  const b = Math.max(1, store.batches);
  const stepMs = [...store.steps.values()].reduce((n, s) => n + s.ms, 0);
  console.log(
    `    process: ${store.batches} batches, ${(store.transfersSeen / b).toFixed(0)} new transfers/batch on average (max ${store.maxBatch}), ` +
      `${(store.handlerMs / b).toFixed(1)} ms/batch in the handler (busy ${((store.handlerMs / 1000 / wallSeconds) * 100).toFixed(0)}% of the phase), ` +
      `${store.streamReads} stream reads`,
  );
  console.log(
    `      ${(store.eventsSeen / b).toFixed(0)} events/batch read; ${store.idleBatches} batches (${((store.idleBatches / b) * 100).toFixed(0)}%) held no new transfer ` +
      `and took ${(store.idleBatchMs / Math.max(1, store.idleBatches)).toFixed(1)} ms each (${((store.idleBatchMs / Math.max(1, store.handlerMs)) * 100).toFixed(0)}% of handler time)`,
  );
  for (const [name, s] of [...store.steps.entries()].sort()) {
    console.log(
      `      ${name.padEnd(18)} ${(s.calls / b).toFixed(2)} calls/batch, ${(s.ms / s.calls).toFixed(1)} ms/call` +
        (s.streams > 0
          ? `, ${(s.streams / s.calls).toFixed(0)} streams and ${(s.events / s.calls).toFixed(0)} events per call`
          : '') +
        `  (${((s.ms / Math.max(1, store.handlerMs)) * 100).toFixed(0)}% of handler time)`,
    );
  }
  console.log(
    `      rest (JS, reads)   ${((store.handlerMs - stepMs) / b).toFixed(1)} ms/batch  (${(((store.handlerMs - stepMs) / Math.max(1, store.handlerMs)) * 100).toFixed(0)}% of handler time)`,
  );
  const nodeCpu = process.cpuUsage(marks.node);
  const nodePct = ((nodeCpu.user + nodeCpu.system) / 1e6 / wallSeconds) * 100;
  const pgPct = (cpuSecondsSince(marks.pg, isPostgres) / wallSeconds) * 100;
  const m = machineCpu();
  const machinePct = ((m.busy - marks.machine.busy) / Math.max(1, m.total - marks.machine.total)) * 100;
  marks.loopDelay.disable();
  const d = (p: number) => (marks.loopDelay.percentile(p) / 1e6).toFixed(0);
  console.log(
    `    cpu: this node process ${nodePct.toFixed(0)}%, postgres ${pgPct.toFixed(0)}% (100% = one core); machine ${machinePct.toFixed(0)}% busy (both cores); ` +
      `event-loop delay p50 ${d(50)} ms, p99 ${d(99)} ms`,
  );
}

/**
 * Waits until the process has read up to the head. Its own events (6 of the 7 per transfer)
 * come after the last request it works, so it is still reading them when the last commit is
 * seen; the next phase must not start behind that tail. Returns the seconds waited.
 */
/** How far the transfer process has worked: its checkpoint, or what the profiled store saw. */
type ProcessPosition = () => Promise<bigint>;

async function processCaughtUp(store: EventStore, position: ProcessPosition, limitMs: number): Promise<number> {
  const started = performance.now();
  const head = await store.headPosition();
  while ((await position()) < head && performance.now() - started < limitMs) await sleep(20);
  if ((await position()) < head)
    throw new Error(`the transfer process did not reach position ${head} in ${limitMs / 1000} s`);
  return (performance.now() - started) / 1000;
}

// ---- load -----------------------------------------------------------------------------

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

interface PhaseResult {
  committedPerSecond: number;
}

async function runPhase(
  name: string,
  ctx: {
    transfers: TransferCommands;
    watchStore: EventStore;
    processStore?: ProfiledStore;
    processPosition: ProcessPosition;
  },
  perRequest: number,
  loops: number,
  pick: () => { sourceAccount: string; destinationAccount: string },
  target?: number,
): Promise<PhaseResult> {
  const tracker = new Tracker();
  const watcher = await watch(ctx.watchStore, tracker);
  ctx.processStore?.reset();
  const marks = cpuMarks();
  const started = performance.now();
  const until = Date.now() + phaseSeconds * 1000;
  let requests = 0;
  let scheduled = 0;
  let requestMs = 0;

  await Promise.all(
    Array.from({ length: loops }, async () => {
      while (Date.now() < until) {
        if (offeredRate !== undefined) {
          const due = started + (scheduled / offeredRate) * 1000;
          scheduled += perRequest;
          if (due > performance.now()) await sleep(due - performance.now());
        }
        const inputs: TransferRequestInput[] = Array.from({ length: perRequest }, () => ({
          transferId: randomUUID(),
          ...pick(),
          amountMinor: randomAmount(),
        }));
        for (const i of inputs) tracker.request(i.transferId!);
        const sent = performance.now();
        if (perRequest === 1) {
          try {
            await ctx.transfers.requestTransfer(inputs[0]);
            tracker.accepted++;
          } catch {
            tracker.refused(inputs[0].transferId!);
          }
        } else {
          const outcomes = await ctx.transfers.requestTransfers(inputs);
          outcomes.forEach((o, i) => (o.ok ? tracker.accepted++ : tracker.refused(inputs[i].transferId!)));
        }
        requestMs += performance.now() - sent;
        requests++;
      }
    }),
  );
  const offeredSeconds = (performance.now() - started) / 1000;
  const drained = await tracker.drained(drainLimitMs);
  const tailSeconds = await processCaughtUp(ctx.watchStore, ctx.processPosition, 120_000);
  await watcher.stop();
  const wallSeconds = (performance.now() - started) / 1000;

  const span = (tracker.lastCommit - tracker.firstRequest) / 1000;
  const rate = tracker.committed > 0 ? tracker.committed / span : 0;
  const sorted = Float64Array.from(tracker.latencies).sort();
  const lat = Array.from(sorted);
  console.log(
    `${name.padEnd(28)} ${fmt(rate).padStart(7)} committed/s  ` +
      `p50 ${fmt(percentile(lat, 50))} ms  p99 ${fmt(percentile(lat, 99))} ms${verdict(rate, target === undefined ? undefined : { atLeast: target })}`,
  );
  const failures = [...tracker.failures.entries()].map(([k, n]) => `${n} ${k}`);
  if (tracker.ingressErrors > 0) failures.push(`${tracker.ingressErrors} refused at ingress`);
  if (!drained) failures.push(`${tracker.outstanding} NOT terminal after ${drainLimitMs / 1000} s`);
  console.log(
    `    ${tracker.accepted.toLocaleString('en-US')} accepted in ${offeredSeconds.toFixed(1)} s ` +
      `(${Math.round(tracker.accepted / offeredSeconds).toLocaleString('en-US')}/s offered, ${(requestMs / Math.max(1, requests)).toFixed(1)} ms per request), ` +
      `${tracker.committed.toLocaleString('en-US')} committed over ${span.toFixed(1)} s, process caught up ${tailSeconds.toFixed(1)} s later` +
      (failures.length > 0 ? `; ${failures.join(', ')}` : '; none rejected'),
  );
  if (ctx.processStore) profileReport(ctx.processStore, wallSeconds, marks);
  return { committedPerSecond: rate };
}

// ---- main -----------------------------------------------------------------------------

async function main(): Promise<void> {
  await withScratchDatabase(async (db) => {
    // Requesters, the transfer process and the commit watcher each have their own pool, so
    // that many requesters queueing for connections do not delay the process's queries. The
    // stores that do not see the requesters' appends poll every 5 ms when idle.
    const ingressPool = db.pool(32);
    const processPool = db.pool(8);
    const watchPool = db.pool(2);
    const logger = createLogger('warn');
    let running: { stop(): Promise<void> } | undefined;
    // Ingress waits while the process is this far behind, as in the service.
    const backlog = processBacklog(watchPool, loadConfig().ingressMaxBacklog, logger);
    try {
      const store = new PostgresEventStore(ingressPool);
      const watchStore = new PostgresEventStore(watchPool, { pollIntervalMs: 5 });
      const transfers = new TransferCommands(store, { backlog });
      // As src/main.ts runs it, in a worker thread of its own; profiled, in this thread,
      // where its store and pool can be instrumented.
      let processStore: ProfiledStore | undefined;
      let processPosition: ProcessPosition;
      if (profile) {
        const profiled = new ProfiledStore(new PostgresEventStore(processPool, { pollIntervalMs: 5 }));
        profilePoolQueries(processPool, profiled);
        running = startTransferProcess({ store: profiled, pool: processPool, logger, restartOnError: true });
        processStore = profiled;
        processPosition = async () => profiled.lastPosition;
      } else {
        running = await startBackgroundWorker(
          { role: 'transfer-process', databaseUrl: db.url, eventStoreUrl: undefined, pgPoolMax: 8, logLevel: 'warn' },
          logger,
        );
        processPosition = () => loadCheckpoint(watchPool, transferProcessName);
      }
      console.log(
        `PostgreSQL: ${db.source}; ${phaseSeconds} s of offered load per phase${offeredRate ? ` at ${offeredRate}/s` : ' (closed loop)'}, then up to ${drainLimitMs / 1000} s to finish\n`,
      );

      // Setup (not measured): accounts, then funding through the transfer process.
      let started = performance.now();
      const now = new Date();
      const ids = Array.from({ length: accountCount }, (_, i) => accountId(i));
      await openAccount(store, { accountId: 'funding', currency, overdraft: { kind: 'unlimited' }, now });
      let next = 0;
      await Promise.all(
        Array.from({ length: openConcurrency }, async () => {
          for (let i = next++; i < ids.length + 1; i = next++) {
            const id = i < ids.length ? ids[i] : 'hot';
            await openAccount(store, { accountId: id, currency, overdraft: { kind: 'none' }, now });
          }
        }),
      );
      const opened = (performance.now() - started) / 1000;
      started = performance.now();
      const funding = new Tracker();
      const fundingWatcher = await watch(watchStore, funding);
      const fundingInputs: TransferRequestInput[] = [
        ...ids.map((id) => ({
          transferId: randomUUID(),
          sourceAccount: 'funding',
          destinationAccount: id,
          amountMinor: fundingMinor,
        })),
        { transferId: randomUUID(), sourceAccount: 'funding', destinationAccount: 'hot', amountMinor: hotFundingMinor },
      ];
      for (let i = 0; i < fundingInputs.length; i += fundingBatch) {
        const batch = fundingInputs.slice(i, i + fundingBatch);
        for (const input of batch) funding.request(input.transferId!);
        const outcomes = await transfers.requestTransfers(batch);
        outcomes.forEach((o, j) => o.ok || funding.refused(batch[j].transferId!));
      }
      const fundedAll = await funding.drained(120_000);
      await fundingWatcher.stop();
      await processCaughtUp(watchStore, processPosition, 120_000);
      if (!fundedAll || funding.committed !== fundingInputs.length) {
        throw new Error(
          `funding failed: ${funding.committed} of ${fundingInputs.length} committed, ${funding.outstanding} outstanding`,
        );
      }
      console.log(
        `setup: opened ${(accountCount + 2).toLocaleString('en-US')} accounts in ${opened.toFixed(1)} s, ` +
          `funded ${fundingInputs.length.toLocaleString('en-US')} in ${((performance.now() - started) / 1000).toFixed(1)} s\n`,
      );

      const ctx = { transfers, watchStore, processStore, processPosition };
      const uniform = () => {
        const s = randomInt(accountCount);
        let d = randomInt(accountCount - 1);
        if (d >= s) d++;
        return { sourceAccount: ids[s], destinationAccount: ids[d] };
      };
      const hot = () => ({ sourceAccount: 'hot', destinationAccount: ids[randomInt(accountCount)] });

      const u1 = await runPhase('uniform, 1 per request', ctx, 1, singleRequesters, uniform, uniformTarget);
      const u100 = await runPhase('uniform, 100 per request', ctx, 100, 4, uniform, uniformTarget);
      // The hot account is held to half of the uniform figure for the same request size.
      await runPhase('hot account, 1 per request', ctx, 1, singleRequesters, hot, Math.ceil(u1.committedPerSecond / 2));
      await runPhase('hot account, 100 per request', ctx, 100, 4, hot, Math.ceil(u100.committedPerSecond / 2));
    } finally {
      backlog?.close();
      await running?.stop();
    }
  });
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
