/**
 * Invariants 3 and 4 under crashes: a crash injected at every boundary between two appends
 * of the transfer process; after a restart every transfer ends exactly once and the
 * balances are right.
 *
 * Each case runs on a database of its own:
 *  1. setup (a healthy process): accounts, funding, a frozen destination, and two pending
 *     transfers held (P1, to be committed in part; V1, to be voided);
 *  2. one batch is requested while no process runs: immediate transfers that commit, two
 *     that exceed the funds, one to the frozen account, a new pending transfer (P2), the
 *     partial commit of P1 and the void of V1;
 *  3. a process with a FaultInjector crashes at the Nth time it reaches a named point
 *     (its store dies with it: nothing it has not yet sent reaches the database);
 *  4. a fresh process (same name, same checkpoint, empty account cache) must finish it all;
 *  5. the account and transfer streams are checked event by event, then P2 is committed in
 *     part by yet another process and checked again.
 *
 * Both store capabilities run: multi-stream append (one call per step) and the
 * stream-by-stream path EventStoreDB takes (`append` fires between single-stream appends).
 */
import { freezeAccount, unfreezeAccount } from '../../src/commands/account-commands';
import { loadTransfer } from '../../src/commands/aggregates';
import type { FaultInjector } from '../../src/commands/stage-append';
import type { RunningTransferProcess, TransferProcessOptions } from '../../src/commands/transfer-process';
import { loadCheckpoint } from '../../src/db/checkpoints';
import { accountStream, transferStream } from '../../src/domain/streams';
import type { TransferState } from '../../src/domain/transfer';
import type { EventStore, RecordedEvent } from '../../src/eventstore/port';
import type { PostgresEventStore } from '../../src/eventstore/postgres';
import { createTestLedger, type TestLedger } from '../support/ledger';
import { withoutMultiStreamAppend } from '../support/single-stream-store';

// ---- simulated crashes ------------------------------------------------------------------

class SimulatedCrash extends Error {
  override readonly name = 'SimulatedCrash';
}

type Point = 'after-hold' | 'after-credit' | 'after-settle' | 'after-record' | 'before-checkpoint' | 'append';

interface Crash {
  point: Point;
  nth: number;
}

/** Throws the `nth` time `point` is reached, and at every point after that (the process is dead). */
class CrashAt implements FaultInjector {
  readonly seen: string[] = [];
  fired = false;
  private count = 0;

  constructor(readonly crash: Crash | null) {}

  check(point: string): void {
    if (this.fired) throw new SimulatedCrash(`${point} reached after the crash`);
    this.seen.push(point);
    if (this.crash && point === this.crash.point && ++this.count === this.crash.nth) {
      this.fired = true;
      throw new SimulatedCrash(`crash at ${describeCrash(this.crash)}`);
    }
  }
}

function describeCrash(c: Crash): string {
  return c.point === 'append' ? `append #${c.nth}` : c.nth === 1 ? c.point : `${c.point} #${c.nth}`;
}

/**
 * The crashing process's own view of the store. Appends go one at a time, the next one
 * starting only after the caller has run its fault check, and once the injector has fired
 * every call fails: a crash between append k and k+1 leaves exactly k of them written,
 * even where the process sends several appends in parallel.
 */
function dyingWith(faults: CrashAt, inner: EventStore): EventStore {
  let queue: Promise<void> = Promise.resolve();
  const alive = () => {
    if (faults.fired) throw new SimulatedCrash('store used after the crash');
  };
  const oneAtATime = <T>(write: () => Promise<T>): Promise<T> => {
    const run = queue.then(() => {
      alive();
      return write();
    });
    // setImmediate: the caller's continuation (and its faults.check('append')) runs first.
    queue = run.then(
      () => new Promise<void>((r) => setImmediate(r)),
      () => new Promise<void>((r) => setImmediate(r)),
    );
    return run;
  };
  return {
    capabilities: inner.capabilities,
    append: (...args) => oneAtATime(() => inner.append(...args)),
    appendMultiple: (...args) => oneAtATime(() => inner.appendMultiple(...args)),
    readStream: async (...args) => {
      alive();
      return inner.readStream(...args);
    },
    readAll: async (...args) => {
      alive();
      return inner.readAll(...args);
    },
    headPosition: async () => {
      alive();
      return inner.headPosition();
    },
    subscribe: (options) => inner.subscribe(options),
    close: async () => undefined,
  };
}

async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} (after ${ms} ms)`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

async function until(what: string, condition: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + waitMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`${what}: not after ${waitMs} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Resolves with `work`, or rejects as soon as the process dies. */
function unlessDies<T>(running: RunningTransferProcess, work: Promise<T>): Promise<T> {
  const died = running.done.then(
    () => new Promise<never>(() => undefined),
    (err: unknown) => {
      throw new Error(`the transfer process died: ${err instanceof Error ? err.stack : String(err)}`);
    },
  );
  return Promise.race([work, died]);
}

// ---- the workload -----------------------------------------------------------------------

const processName = 'transfer-process';
const waitMs = 10_000;

/**
 * Every process of a case shares one name (so one checkpoint and one lease). None restarts
 * itself: an error in a process that is not meant to crash fails the test at once. A short
 * lease keeps a handover quick even if a lease outlives its holder.
 */
function startProcess(ledger: TestLedger, options: Partial<TransferProcessOptions> = {}): RunningTransferProcess {
  return ledger.startProcess({ name: processName, restartOnError: false, leaseTtlMs: 3_000, ...options });
}

/** The process has checkpointed past `position`: it is running, and done with what came before. */
async function checkpointPast(ledger: TestLedger, position: bigint): Promise<void> {
  await until(
    `checkpoint past ${position}`,
    async () => (await loadCheckpoint(ledger.db.pool, processName)) >= position,
  );
}

const A = { src: 'src', dst1: 'dst-1', dst2: 'dst-2', frozen: 'frozen', funding: 'funding-USD' } as const;
const T = {
  funding: 'fund-src-0',
  ok1: 't-ok-1',
  ok2: 't-ok-2',
  tooBig1: 't-too-big-1',
  tooBig2: 't-too-big-2',
  toFrozen: 't-to-frozen',
  p1: 'p-commit',
  v1: 'p-void',
  p2: 'p-later',
} as const;
/** Everything the crashed batch must finish, with P2 stopping in HELD. */
const terminalInBatch = [T.ok1, T.ok2, T.tooBig1, T.tooBig2, T.toFrozen, T.p1, T.v1];

/**
 * Amounts are chosen so that no outcome depends on the order of decisions or on which
 * releases a crash let through before a rejection was recorded: the holds of the batch
 * (420) fit in what is available before any of it (500), the rejected ones exceed the
 * whole balance.
 */
async function setUp(ledger: TestLedger): Promise<void> {
  const setup = startProcess(ledger);
  for (const id of [A.src, A.dst1, A.dst2, A.frozen]) await ledger.open(id);
  await ledger.fund(A.src, 1_000n);
  await freezeAccount(ledger.store, A.frozen, ledger.clock.now);
  await ledger.transfers.requestTransfer({
    transferId: T.p1,
    sourceAccount: A.src,
    destinationAccount: A.dst1,
    amountMinor: 300n,
    mode: 'pending',
  });
  await ledger.transfers.requestTransfer({
    transferId: T.v1,
    sourceAccount: A.src,
    destinationAccount: A.dst2,
    amountMinor: 200n,
    mode: 'pending',
  });
  await ledger.waitForStatus(T.p1, 'HELD', waitMs);
  await ledger.waitForStatus(T.v1, 'HELD', waitMs);
  await setup.stop();
}

/**
 * Requested while no process runs, so that one batch holds it all. Returns the position of
 * its last event once every event up to it can be read: a transaction still open anywhere
 * on the server (another test's) holds readers back at the first event after its start, and
 * would cut the batch in two.
 */
async function requestBatch(ledger: TestLedger): Promise<bigint> {
  const outcomes = await ledger.transfers.requestTransfers([
    { transferId: T.ok1, sourceAccount: A.src, destinationAccount: A.dst1, amountMinor: 100n },
    { transferId: T.tooBig1, sourceAccount: A.src, destinationAccount: A.dst1, amountMinor: 10_000n },
    { transferId: T.ok2, sourceAccount: A.src, destinationAccount: A.dst2, amountMinor: 150n },
    { transferId: T.toFrozen, sourceAccount: A.src, destinationAccount: A.frozen, amountMinor: 50n },
    { transferId: T.tooBig2, sourceAccount: A.src, destinationAccount: A.dst2, amountMinor: 5_000n },
    { transferId: T.p2, sourceAccount: A.src, destinationAccount: A.dst2, amountMinor: 120n, mode: 'pending' },
  ]);
  const positions = outcomes.map((o) => (o.ok ? o.transfer.position : -1n));
  expect(positions).not.toContain(-1n);
  positions.push((await ledger.transfers.commitTransfer(T.p1, 120n)).position);
  positions.push((await ledger.transfers.voidTransfer(T.v1)).position);
  const last = positions.reduce((a, b) => (a > b ? a : b));
  await until(`events up to ${last} readable`, async () => (await ledger.store.headPosition()) >= last);
  return last;
}

async function crashOnce(ledger: TestLedger, crash: Crash): Promise<CrashAt> {
  const faults = new CrashAt(crash);
  const running = startProcess(ledger, { faults, store: dyingWith(faults, ledger.store) });
  const outcome = await within(
    running.done.then(
      () => new Error('the process stopped without crashing'),
      (err: unknown) => err,
    ),
    waitMs,
    `the crash at ${describeCrash(crash)} never happened; points seen: ${faults.seen.join(', ')}`,
  );
  if (!(outcome instanceof SimulatedCrash) || !faults.fired) throw outcome;
  return faults;
}

/** A fresh process (empty account cache, the crashed one's checkpoint) finishes the batch. */
async function recover(ledger: TestLedger, batchEnd: bigint): Promise<void> {
  const recovered = startProcess(ledger);
  await unlessDies(
    recovered,
    (async () => {
      await ledger.waitForTerminal(terminalInBatch, waitMs);
      await ledger.waitForStatus(T.p2, 'HELD', waitMs);
      // Also done with the batch's book-keeping (the expiry index), and surely running:
      // runLeased attaches its stop listener only once start() has resolved, so a stop()
      // while the process is still starting is lost and never returns.
      await checkpointPast(ledger, batchEnd);
    })(),
  );
  await recovered.stop();
}

async function commitLater(ledger: TestLedger): Promise<void> {
  const later = startProcess(ledger);
  await ledger.transfers.commitTransfer(T.p2, 70n);
  await unlessDies(later, ledger.waitForStatus(T.p2, 'COMMITTED', waitMs));
  await later.stop();
}

// ---- what must hold -----------------------------------------------------------------------

type MoneyEvent = 'FundsHeld' | 'FundsCredited' | 'FundsDebited' | 'HoldReleased';
const moneyEvents: readonly string[] = ['FundsHeld', 'FundsCredited', 'FundsDebited', 'HoldReleased'];

/** Per transfer: how many money events of each type on which account (`account:type`). */
type EffectCounts = Record<string, Record<string, number>>;

function effects(spec: Record<string, Partial<Record<MoneyEvent, string>>>): EffectCounts {
  const out: EffectCounts = {};
  for (const [transferId, byType] of Object.entries(spec)) {
    out[transferId] = {};
    for (const [type, account] of Object.entries(byType)) out[transferId][`${account}:${type}`] = 1;
  }
  return out;
}

const committed = (src: string, dst: string) => ({ FundsHeld: src, FundsCredited: dst, FundsDebited: src });
const released = (src: string) => ({ FundsHeld: src, HoldReleased: src });

function expectedEffects(p2Committed: boolean): EffectCounts {
  return effects({
    [T.funding]: committed(A.funding, A.src),
    [T.ok1]: committed(A.src, A.dst1),
    [T.ok2]: committed(A.src, A.dst2),
    [T.toFrozen]: released(A.src),
    [T.p1]: committed(A.src, A.dst1),
    [T.v1]: released(A.src),
    [T.p2]: p2Committed ? committed(A.src, A.dst2) : { FundsHeld: A.src },
  });
}

const accounts = [A.funding, A.src, A.dst1, A.dst2, A.frozen];

async function accountEvents(store: EventStore): Promise<RecordedEvent[]> {
  const all = await Promise.all(accounts.map((id) => store.readStream(accountStream(id))));
  return all.flat();
}

async function countEffects(store: EventStore): Promise<EffectCounts> {
  const counts: EffectCounts = {};
  for (const e of await accountEvents(store)) {
    if (!moneyEvents.includes(e.type)) continue;
    const transferId = String(e.data.transferId);
    const key = `${String(e.data.accountId)}:${e.type}`;
    counts[transferId] ??= {};
    counts[transferId][key] = (counts[transferId][key] ?? 0) + 1;
  }
  return counts;
}

interface Expected {
  status: TransferState['status'];
  reason?: string;
  committedMinor?: bigint;
  events: string[];
}

const committedEvents = ['TransferRequested', 'TransferHeld', 'TransferCredited', 'TransferCommitted'];
const rejectedEvents = ['TransferRequested', 'TransferRejected'];

function expectedTransfers(p2Committed: boolean): Record<string, Expected> {
  return {
    [T.ok1]: { status: 'COMMITTED', committedMinor: 100n, events: committedEvents },
    [T.ok2]: { status: 'COMMITTED', committedMinor: 150n, events: committedEvents },
    [T.tooBig1]: { status: 'REJECTED', reason: 'INSUFFICIENT_FUNDS', events: rejectedEvents },
    [T.tooBig2]: { status: 'REJECTED', reason: 'INSUFFICIENT_FUNDS', events: rejectedEvents },
    [T.toFrozen]: {
      status: 'CANCELLED',
      reason: 'CREDIT_FAILED',
      events: ['TransferRequested', 'TransferHeld', 'TransferCancelled'],
    },
    [T.p1]: {
      status: 'COMMITTED',
      committedMinor: 120n,
      events: ['TransferRequested', 'TransferHeld', 'TransferCommitRequested', 'TransferCredited', 'TransferCommitted'],
    },
    [T.v1]: {
      status: 'CANCELLED',
      reason: 'VOIDED',
      events: ['TransferRequested', 'TransferHeld', 'TransferVoidRequested', 'TransferCancelled'],
    },
    [T.p2]: p2Committed
      ? {
          status: 'COMMITTED',
          committedMinor: 70n,
          events: [
            'TransferRequested',
            'TransferHeld',
            'TransferCommitRequested',
            'TransferCredited',
            'TransferCommitted',
          ],
        }
      : { status: 'HELD', events: ['TransferRequested', 'TransferHeld'] },
  };
}

async function actualTransfers(
  store: EventStore,
  expected: Record<string, Expected>,
): Promise<Record<string, Expected>> {
  const out: Record<string, Expected> = {};
  for (const [id, want] of Object.entries(expected)) {
    const { state } = await loadTransfer(store, id);
    const events = (await store.readStream(transferStream(id))).map((e) => e.type);
    out[id] = {
      status: state.status,
      ...(want.reason !== undefined && { reason: state.reason ?? undefined }),
      ...(want.committedMinor !== undefined && { committedMinor: state.committedMinor ?? undefined }),
      events,
    };
    // Each step once: no status twice among the steps the stream folds to.
    const steps = state.steps.map((s) => s.status);
    expect({ id, steps: new Set(steps).size }).toEqual({ id, steps: steps.length });
  }
  return out;
}

async function balances(
  ledger: TestLedger,
): Promise<Record<string, { posted: bigint; held: bigint; holds: string[] }>> {
  const out: Record<string, { posted: bigint; held: bigint; holds: string[] }> = {};
  for (const id of accounts) {
    const s = await ledger.account(id);
    out[id] = { posted: s.postedMinor, held: s.heldMinor, holds: [...s.holds.keys()].sort() };
  }
  return out;
}

function expectedBalances(p2Committed: boolean): Record<string, { posted: bigint; held: bigint; holds: string[] }> {
  return p2Committed
    ? {
        [A.funding]: { posted: -1_000n, held: 0n, holds: [] },
        [A.src]: { posted: 1_000n - 100n - 150n - 120n - 70n, held: 0n, holds: [] },
        [A.dst1]: { posted: 100n + 120n, held: 0n, holds: [] },
        [A.dst2]: { posted: 150n + 70n, held: 0n, holds: [] },
        [A.frozen]: { posted: 0n, held: 0n, holds: [] },
      }
    : {
        [A.funding]: { posted: -1_000n, held: 0n, holds: [] },
        [A.src]: { posted: 1_000n - 100n - 150n - 120n, held: 120n, holds: [T.p2] },
        [A.dst1]: { posted: 100n + 120n, held: 0n, holds: [] },
        [A.dst2]: { posted: 150n, held: 0n, holds: [] },
        [A.frozen]: { posted: 0n, held: 0n, holds: [] },
      };
}

async function expectOutcome(ledger: TestLedger, p2Committed: boolean): Promise<void> {
  expect(await countEffects(ledger.store)).toEqual(expectedEffects(p2Committed));
  const wanted = expectedTransfers(p2Committed);
  expect(await actualTransfers(ledger.store, wanted)).toEqual(wanted);
  const actual = await balances(ledger);
  expect(actual).toEqual(expectedBalances(p2Committed));
  expect(Object.values(actual).reduce((sum, b) => sum + b.posted, 0n)).toBe(0n);
  // Every event a process wrote once: no id twice (the store would refuse it) and no step twice.
  const ids = (await accountEvents(ledger.store)).map((e) => e.id);
  expect(new Set(ids).size).toBe(ids.length);
}

// ---- the cases ------------------------------------------------------------------------------

interface Mode {
  name: string;
  store?: (pg: PostgresEventStore) => EventStore;
  /** The points one batch of the workload passes, in order (asserted by the calibration test). */
  batchPoints: string[];
  /** The whole batch is one atomic append (a crash before it leaves nothing written). */
  atomicBatch: boolean;
  /** A second crash while the restarted process is still recovering the same batch. */
  doubleCrashes: [Crash, Crash][];
}

const stepPoints = ['after-hold', 'after-credit', 'after-settle', 'after-record', 'before-checkpoint'] as const;

const modes: Mode[] = [
  {
    name: 'multi-stream append',
    // Every step decided in memory, then the whole batch (src, dst-1, dst-2, 8 transfers) in one append.
    batchPoints: ['after-hold', 'after-credit', 'after-settle', 'append', 'after-record', 'before-checkpoint'],
    atomicBatch: true,
    doubleCrashes: [
      [
        { point: 'after-settle', nth: 1 },
        { point: 'append', nth: 1 },
      ],
      [
        { point: 'after-hold', nth: 1 },
        { point: 'after-settle', nth: 1 },
      ],
      [
        { point: 'after-record', nth: 1 },
        { point: 'before-checkpoint', nth: 1 },
      ],
    ],
  },
  {
    name: 'stream-by-stream append',
    store: withoutMultiStreamAppend,
    // hold (src) | credit (dst-1, dst-2) | settle (src) | record (8 transfer streams, one each).
    batchPoints: [
      'append',
      'after-hold',
      ...['append', 'append'],
      'after-credit',
      'append',
      'after-settle',
      ...Array<string>(8).fill('append'),
      'after-record',
      'before-checkpoint',
    ],
    atomicBatch: false,
    doubleCrashes: [
      [
        { point: 'append', nth: 1 },
        { point: 'append', nth: 1 },
      ],
      [
        { point: 'after-credit', nth: 1 },
        { point: 'after-hold', nth: 1 },
      ],
      [
        { point: 'append', nth: 3 },
        { point: 'after-record', nth: 1 },
      ],
      [
        { point: 'after-record', nth: 1 },
        { point: 'before-checkpoint', nth: 1 },
      ],
    ],
  },
];

function crashCases(mode: Mode): Crash[] {
  const appends = mode.batchPoints.filter((p) => p === 'append').length;
  return [
    ...stepPoints.map((point) => ({ point, nth: 1 })),
    ...Array.from({ length: appends }, (_, i) => ({ point: 'append' as const, nth: i + 1 })),
  ];
}

async function withLedger(mode: Mode, body: (ledger: TestLedger) => Promise<void>): Promise<void> {
  const ledger = await createTestLedger(mode.store ? { store: mode.store } : {});
  try {
    await body(ledger);
  } finally {
    await ledger.close();
  }
}

async function crashRecoverAndCheck(ledger: TestLedger, crashes: Crash[]): Promise<void> {
  await setUp(ledger);
  const batchEnd = await requestBatch(ledger);
  for (const crash of crashes) await crashOnce(ledger, crash);
  await recover(ledger, batchEnd);
  await expectOutcome(ledger, false);
  await commitLater(ledger);
  await expectOutcome(ledger, true);
}

describe.each(modes)('crash recovery of the transfer process ($name)', (mode) => {
  it('calibration: without a crash, one batch passes the expected points and ends right', async () => {
    await withLedger(mode, async (ledger) => {
      await setUp(ledger);
      const batchEnd = await requestBatch(ledger);
      const faults = new CrashAt(null);
      const running = startProcess(ledger, { faults });
      await unlessDies(running, checkpointPast(ledger, batchEnd));
      await running.stop();
      expect(faults.seen.slice(0, faults.seen.indexOf('before-checkpoint') + 1)).toEqual(mode.batchPoints);
      await expectOutcome(ledger, false);
      await commitLater(ledger);
      await expectOutcome(ledger, true);
    });
  });

  it.each(crashCases(mode).map((c) => [describeCrash(c), c] as const))(
    'crash at %s: after a restart every transfer ends once, balances right',
    async (_, crash) => {
      await withLedger(mode, (ledger) => crashRecoverAndCheck(ledger, [crash]));
    },
  );

  it.each(mode.doubleCrashes.map((cs) => [cs.map(describeCrash).join(', then '), cs] as const))(
    'crash at %s (during recovery): the third process finishes it once',
    async (_, crashes) => {
      await withLedger(mode, (ledger) => crashRecoverAndCheck(ledger, crashes));
    },
  );

  if (mode.atomicBatch) {
    it('a crash before the one append leaves nothing of the batch written', async () => {
      await withLedger(mode, async (ledger) => {
        await setUp(ledger);
        const batchEnd = await requestBatch(ledger);
        const before = await countEffects(ledger.store);
        await crashOnce(ledger, { point: 'after-settle', nth: 1 });
        expect(await countEffects(ledger.store)).toEqual(before);
        await recover(ledger, batchEnd);
        await expectOutcome(ledger, false);
      });
    });
  } else {
    /*
     * The credit to a frozen destination failed and the hold was released (HoldReleased is
     * written), but the crash came before TransferCancelled was recorded. The destination is
     * unfrozen before the restart. The released hold can never be debited, so the only
     * consistent end is CANCELLED(CREDIT_FAILED) with no credit to the destination.
     */
    it('crash after the hold was released for a frozen destination, which is unfrozen before the restart', async () => {
      await withLedger(mode, async (ledger) => {
        await setUp(ledger);
        const batchEnd = await requestBatch(ledger);
        await crashOnce(ledger, { point: 'after-settle', nth: 1 });
        const releasedOnly = { [`${A.src}:FundsHeld`]: 1, [`${A.src}:HoldReleased`]: 1 };
        expect((await countEffects(ledger.store))[T.toFrozen]).toEqual(releasedOnly);
        expect((await loadTransfer(ledger.store, T.toFrozen)).state.status).toBe('REQUESTED');
        await unfreezeAccount(ledger.store, A.frozen, ledger.clock.now);

        const died = await recover(ledger, batchEnd).then(
          () => null,
          (err: unknown) => err,
        );
        // Money first: no credit without a debit, whatever happened to the process.
        expect((await countEffects(ledger.store))[T.toFrozen]).toEqual(releasedOnly);
        const posted = Object.values(await balances(ledger)).map((b) => b.posted);
        expect(posted.reduce((sum, p) => sum + p, 0n)).toBe(0n);
        // Then progress: the restarted process must not die on it (and block the whole batch).
        expect(died).toBeNull();
        await expectOutcome(ledger, false);
      });
    });
  }
});
