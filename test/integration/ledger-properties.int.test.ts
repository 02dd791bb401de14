/**
 * Property-based tests of the ledger's invariants (DESIGN.md, "Invariants"): random
 * workloads run through the REAL command handlers and the REAL transfer process on
 * PostgreSQL; then the whole event store is read (readAll, page by page) and folded, and
 * the invariants are checked on that fold with the test's own arithmetic (checkInvariants).
 *
 * Each run gets a fresh ledger (a database of its own), so runs are independent. Accounts:
 * three USD and two JPY, one of them with an overdraft limit, plus an unlimited funding
 * account per currency. Commands: fund, immediate and pending transfers (some cross-currency
 * or to the same account), commit in full or in part, void, expiry (the clock moves on and
 * the sweep runs), freeze, unfreeze, close. A DomainError is an outcome; any other error
 * fails the run.
 *
 * 1. Sequential: one command at a time, the process settles after each, and a small model
 *    predicts every outcome exactly (synchronous error codes, transfer statuses, reasons,
 *    committed amounts, balances and account statuses); a rejected command must write
 *    nothing; the invariants are checked after every command. The process may also crash at
 *    random fault points and be restarted: outcomes must not change.
 * 2. Concurrent: groups of commands run at once, racing the transfer process; invariants
 *    only (outcomes depend on timing), plus ingress's synchronous CURRENCY_MISMATCH and
 *    SAME_ACCOUNT answers.
 * 3. The same while the process crashes at random fault points and is restarted.
 *
 * Every run ends with a drain: the clock passes every timeout, the sweep expires what is
 * due, and then every transfer must be terminal, no hold left, the expiry index empty.
 *
 * Replay a failure with FC_SEED=<seed> (and FC_PATH=<path>) from fast-check's report;
 * FC_NUM_RUNS=<n> runs more (or fewer) cases.
 */
import fc from 'fast-check';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  type AccountState,
  availableFloorMinor,
  evolveAccount,
  initialAccountState,
  type Overdraft,
} from '../../src/domain/account';
import { type DomainErrorCode, isDomainError } from '../../src/domain/errors';
import { parseAccountEvent, parseTransferEvent } from '../../src/domain/events';
import { parseStream } from '../../src/domain/streams';
import {
  evolveTransfer,
  initialTransferState,
  isTerminalTransferStatus,
  type TransferState,
} from '../../src/domain/transfer';
import { closeAccount, freezeAccount, openAccount, unfreezeAccount } from '../../src/commands/account-commands';
import { transferProcessName } from '../../src/commands/transfer-process';
import { loadCheckpoint } from '../../src/db/checkpoints';
import type { EventStore, RecordedEvent } from '../../src/eventstore/port';
import { createTestLedger, type TestLedger } from '../support/ledger';

// ---- the workload ------------------------------------------------------------------------

type Currency = 'USD' | 'JPY';
const currencies: readonly Currency[] = ['USD', 'JPY'];

interface AccountSpec {
  id: string;
  currency: Currency;
  overdraft: Overdraft;
}

/** The accounts commands name (by index). Funding accounts are opened besides them. */
const accounts: readonly AccountSpec[] = [
  { id: 'usd-a', currency: 'USD', overdraft: { kind: 'none' } },
  { id: 'usd-b', currency: 'USD', overdraft: { kind: 'limit', limitMinor: 300n } },
  { id: 'usd-c', currency: 'USD', overdraft: { kind: 'none' } },
  { id: 'jpy-x', currency: 'JPY', overdraft: { kind: 'none' } },
  { id: 'jpy-y', currency: 'JPY', overdraft: { kind: 'none' } },
];
const fundingId = (currency: Currency) => `funding-${currency}`;
const allAccounts: readonly AccountSpec[] = [
  ...accounts,
  ...currencies.map((currency): AccountSpec => ({
    id: fundingId(currency),
    currency,
    overdraft: { kind: 'unlimited' },
  })),
];

type Op =
  | { kind: 'fund'; to: number; amount: bigint }
  | {
      kind: 'transfer';
      from: number;
      to: number;
      amount: bigint;
      mode: 'immediate' | 'pending';
      timeoutSeconds: number;
      /** The `currency` the client claims, if any (CURRENCY_MISMATCH when wrong). */
      claimed: Currency | undefined;
    }
  /**
   * `pick` chooses among the transfers accepted so far (see pickTarget); `percent` of its
   * amount is committed (rounded down, at least 1; over 100 → INVALID_COMMAND mostly), or
   * all of it when undefined.
   */
  | { kind: 'commit'; pick: number; percent: number | undefined }
  | { kind: 'void'; pick: number }
  /** Advance the clock and run the expiry sweep. */
  | { kind: 'expire'; seconds: number }
  | { kind: 'freeze' | 'unfreeze' | 'close'; account: number };

const accountIndex = fc.integer({ min: 0, max: accounts.length - 1 });
/** Mostly two different accounts of one currency; sometimes any two (same account, cross-currency). */
const sameCurrencyPairs = accounts.flatMap((a, from) =>
  accounts.flatMap((b, to) => (from !== to && a.currency === b.currency ? [{ from, to }] : [])),
);
const accountPair = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(...sameCurrencyPairs) },
  { weight: 1, arbitrary: fc.record({ from: accountIndex, to: accountIndex }) },
);
const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.record({ kind: fc.constant('fund' as const), to: accountIndex, amount: fc.bigInt(1n, 1_000n) }),
  },
  {
    weight: 6,
    arbitrary: fc
      .record({
        pair: accountPair,
        amount: fc.bigInt(1n, 400n),
        mode: fc.constantFrom('immediate' as const, 'pending' as const),
        timeoutSeconds: fc.integer({ min: 1, max: 120 }),
        claimed: fc.option(fc.constantFrom<Currency>('USD', 'JPY'), { nil: undefined, freq: 4 }),
      })
      .map(({ pair, ...rest }) => ({ kind: 'transfer' as const, ...pair, ...rest })),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant('commit' as const),
      pick: fc.nat(),
      percent: fc.option(fc.integer({ min: 1, max: 120 }), { nil: undefined }),
    }),
  },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('void' as const), pick: fc.nat() }) },
  {
    weight: 1,
    arbitrary: fc.record({ kind: fc.constant('expire' as const), seconds: fc.integer({ min: 1, max: 90 }) }),
  },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('freeze' as const), account: accountIndex }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('unfreeze' as const), account: accountIndex }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('close' as const), account: accountIndex }) },
);

// ---- one run: a fresh ledger and its transfer process ------------------------------------------

type Outcome = 'ok' | DomainErrorCode;

interface Run {
  ledger: TestLedger;
  /** The transfer process's checkpoint name. */
  processName: string;
  /** An unexpected error that ended the transfer process. */
  died?: unknown;
  /** Where injected crashes hit, in order. */
  crashes: string[];
  /** Client transfers (not fundings) accepted at ingress, in order: what commit and void pick from. */
  created: Created[];
  nextId: number;
}

class SimulatedCrash extends Error {
  override readonly name = 'SimulatedCrash';
}

/** The transfer process's named fault points (stage-append's 'append' after each append call). */
const faultPoints = [
  'after-hold',
  'after-credit',
  'after-settle',
  'after-record',
  'before-checkpoint',
  'append',
] as const;

/** Crash the `nth` time (counted from the process's start) `point` is reached. */
interface Crash {
  point: (typeof faultPoints)[number];
  nth: number;
}

const crashArb: fc.Arbitrary<Crash> = fc.record({
  point: fc.constantFrom(...faultPoints),
  nth: fc.integer({ min: 1, max: 8 }),
});

/**
 * A fresh ledger with its accounts open and the transfer process running. With `crashes`,
 * the process crashes at crashes[0], is restarted (same name, so the same checkpoint and
 * lease, and an empty cache) to crash at crashes[1], and so on; the last one runs on.
 */
async function startRun(options: { crashes?: Crash[] } = {}): Promise<Run> {
  const ledger = await createTestLedger();
  for (const a of allAccounts) {
    await openAccount(ledger.store, {
      accountId: a.id,
      currency: a.currency,
      overdraft: a.overdraft,
      now: ledger.clock.now,
    });
  }
  const run: Run = { ledger, processName: transferProcessName, crashes: [], created: [], nextId: 0 };
  const crashes = [...(options.crashes ?? [])];
  const start = () => {
    const crash = crashes.shift();
    let reached = 0;
    const faults = {
      check(point: string) {
        if (crash?.point === point && ++reached === crash.nth) throw new SimulatedCrash(`${point} #${crash.nth}`);
      },
    };
    // Without restartOnError a process's error ends it, where this test sees it: a simulated
    // crash is followed by a restart here, anything else fails the run.
    const p = ledger.startProcess({ name: run.processName, faults, restartOnError: false });
    p.done.catch((err: unknown) => {
      if (err instanceof SimulatedCrash) {
        run.crashes.push(err.message);
        start();
      } else {
        run.died = err ?? new Error('died');
      }
    });
  };
  start();
  return run;
}

/**
 * The position of the last committed event. Not `store.headPosition()`: that (like readAll)
 * stops below any transaction still running anywhere on the server (its xmin is
 * cluster-wide), so other test files sharing the server would make it lag.
 */
async function lastCommittedPosition(run: Run): Promise<bigint> {
  const { rows } = await run.ledger.db.pool.query<{ p: string }>(
    'select coalesce(max(position), 0)::text as p from ledger_events',
  );
  return BigInt(rows[0].p);
}

/**
 * Waits until every process has worked every committed event (checkpoint ≥ last position).
 * A process in the middle of a batch is behind the events it is working, so it is never
 * taken for settled; one that is done has moved its checkpoint past what it wrote.
 * A process that died of anything but an injected crash is a failure; the error also says
 * what a fold of the ledger shows at that moment.
 */
async function settle(run: Run, timeoutMs = 20_000): Promise<void> {
  const { db } = run.ledger;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (run.died !== undefined) {
      const err = run.died;
      const cause = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
      const ledger = await checkLedger(run).then(
        () => 'the invariants still hold',
        (e: unknown) => (e instanceof Error ? e.message : String(e)),
      );
      throw new Error(`the transfer process died: ${cause}; then: ${ledger}`);
    }
    const head = await lastCommittedPosition(run);
    const checkpoint = await loadCheckpoint(db.pool, run.processName);
    if (checkpoint >= head) return;
    if (Date.now() > deadline)
      throw new Error(
        `transfer process not settled after ${timeoutMs} ms (head ${head}, checkpoint ${checkpoint}, crashes: ${run.crashes.join(', ')})`,
      );
    await sleep(5);
  }
}

/** A failure's message also says where the process had crashed (and been restarted) before. */
function withCrashes(run: Run, err: unknown): unknown {
  if (run.crashes.length > 0 && err instanceof Error)
    err.message += ` [after injected crashes at: ${run.crashes.join('; ')}]`;
  return err;
}

interface Created {
  id: string;
  pending: boolean;
  amount: bigint;
}

/** Three picks in four go to a pending transfer, the rest to any (to try the invalid ones too). */
function pickTarget(created: readonly Created[], pick: number): Created | undefined {
  const pending = created.filter((c) => c.pending);
  const candidates = pick % 4 === 0 || pending.length === 0 ? created : pending;
  return candidates.length === 0 ? undefined : candidates[Math.floor(pick / 4) % candidates.length];
}

function commitAmount(percent: number | undefined, amount: bigint): bigint | undefined {
  if (percent === undefined) return undefined;
  const part = (amount * BigInt(percent)) / 100n;
  return part > 0n ? part : 1n;
}

/** Runs one command through the real handlers; a DomainError is an outcome, anything else a failure. */
async function execute(run: Run, op: Op): Promise<{ outcome: Outcome; transferId?: string }> {
  const { ledger } = run;
  const { transfers, store } = ledger;
  const attempt = async (f: () => Promise<string | undefined>) => {
    try {
      const transferId = await f();
      return { outcome: 'ok' as const, transferId };
    } catch (err) {
      if (isDomainError(err)) return { outcome: err.code, transferId: undefined };
      throw err;
    }
  };
  switch (op.kind) {
    case 'fund': {
      const to = accounts[op.to];
      const transferId = `f${run.nextId++}`;
      return attempt(async () => {
        await transfers.requestTransfer({
          transferId,
          sourceAccount: fundingId(to.currency),
          destinationAccount: to.id,
          amountMinor: op.amount,
        });
        return transferId;
      });
    }
    case 'transfer': {
      const transferId = `t${run.nextId++}`;
      return attempt(async () => {
        await transfers.requestTransfer({
          transferId,
          sourceAccount: accounts[op.from].id,
          destinationAccount: accounts[op.to].id,
          amountMinor: op.amount,
          mode: op.mode,
          ...(op.mode === 'pending' && { timeoutSeconds: op.timeoutSeconds }),
          ...(op.claimed !== undefined && { currency: op.claimed }),
        });
        run.created.push({ id: transferId, pending: op.mode === 'pending', amount: op.amount });
        return transferId;
      });
    }
    case 'commit': {
      const target = pickTarget(run.created, op.pick);
      if (target === undefined) return { outcome: 'ok' };
      const amount = commitAmount(op.percent, target.amount);
      return attempt(async () => (await transfers.commitTransfer(target.id, amount)).transferId);
    }
    case 'void': {
      const target = pickTarget(run.created, op.pick);
      if (target === undefined) return { outcome: 'ok' };
      return attempt(async () => (await transfers.voidTransfer(target.id)).transferId);
    }
    case 'expire':
      ledger.clock.now = new Date(ledger.clock.now.getTime() + op.seconds * 1_000);
      return attempt(async () => {
        await expireDue(run);
        return undefined;
      });
    case 'freeze':
    case 'unfreeze':
    case 'close': {
      const command = { freeze: freezeAccount, unfreeze: unfreezeAccount, close: closeAccount }[op.kind];
      return attempt(async () => {
        await command(store, accounts[op.account].id, ledger.clock.now);
        return undefined;
      });
    }
  }
}

/**
 * What each pending transfer's expiry job does when it fires (src/jobs/expire-holds.ts):
 * expires it if it is due, and changes nothing otherwise.
 */
async function expireDue(run: Run): Promise<void> {
  for (const c of run.created) if (c.pending) await run.ledger.transfers.expireTransfer(c.id);
}

/** Passes every timeout, expires what is due, and lets the process finish everything. */
async function drain(run: Run): Promise<void> {
  const { ledger } = run;
  ledger.clock.now = new Date(ledger.clock.now.getTime() + 86_400_000);
  await expireDue(run);
  await settle(run);
}

// ---- the invariants, on a fold of the whole event store -------------------------------------

class InvariantBroken extends Error {
  override readonly name = 'InvariantBroken';
}

function check(condition: boolean, message: () => string): asserts condition {
  if (!condition) throw new InvariantBroken(message());
}

/** Every event up to `until`, through the port's readAll, page by page. */
async function readEverything(store: EventStore, until: bigint, timeoutMs = 20_000): Promise<RecordedEvent[]> {
  const deadline = Date.now() + timeoutMs;
  const all: RecordedEvent[] = [];
  for (let after = 0n; after < until;) {
    const page = await store.readAll({ after, maxCount: 500 });
    if (page.length === 0) {
      // readAll stops below transactions still running on the server (other tests'): wait.
      if (Date.now() > deadline) throw new Error(`readAll stuck at ${after}, below ${until}`);
      await sleep(10);
      continue;
    }
    all.push(...page);
    after = page[page.length - 1].position;
  }
  return all;
}

/** One account's money, by the test's own arithmetic. */
interface Money {
  currency: string;
  floor: bigint | null;
  posted: bigint;
  held: bigint;
  holds: Map<string, bigint>;
}

/** What the account streams did for one transfer. */
interface Effects {
  held: { account: string; amount: bigint }[];
  released: { account: string; amount: bigint }[];
  debited: { account: string; amount: bigint; released: bigint }[];
  credited: { account: string; amount: bigint }[];
}

interface Folded {
  accounts: Map<string, AccountState>;
  transfers: Map<string, TransferState>;
}

/**
 * Folds every event and checks:
 *  - order: positions increase; each stream's revisions are 0, 1, 2, ... (invariant 5);
 *  - no account's available below −overdraft after ANY event (invariant 2);
 *  - conservation per currency: Σ posted = 0, Σ held = Σ amounts of HELD transfers (1);
 *  - every immediate transfer terminal; every pending one HELD and undecided, or terminal (4);
 *  - every active hold ↔ exactly one HELD transfer, same id, account and amount;
 *  - exactly once: per transfer at most one hold, one credit, one debit-or-release; a
 *    COMMITTED transfer credited and debited its committed amount once; others moved nothing (3).
 * `settled` = no pending transfer may remain HELD either (after a drain).
 */
function checkInvariants(events: RecordedEvent[], options: { settled?: boolean } = {}): Folded {
  const money = new Map<string, Money>();
  const states = new Map<string, AccountState>();
  const transfers = new Map<string, TransferState>();
  const effects = new Map<string, Effects>();
  const effectsOf = (transferId: string): Effects => {
    let e = effects.get(transferId);
    if (!e) effects.set(transferId, (e = { held: [], released: [], debited: [], credited: [] }));
    return e;
  };
  const revisions = new Map<string, bigint>();
  let lastPosition = 0n;

  for (const recorded of events) {
    check(recorded.position > lastPosition, () => `position ${recorded.position} after ${lastPosition}`);
    lastPosition = recorded.position;
    const expectedRevision = (revisions.get(recorded.streamName) ?? -1n) + 1n;
    check(
      recorded.revision === expectedRevision,
      () => `${recorded.streamName}: revision ${recorded.revision}, expected ${expectedRevision}`,
    );
    revisions.set(recorded.streamName, recorded.revision);

    const stream = parseStream(recorded.streamName);
    if (stream === null) continue; // idempotency-key claims
    if (stream.category === 'transfer') {
      transfers.set(
        stream.id,
        evolveTransfer(transfers.get(stream.id) ?? initialTransferState(), parseTransferEvent(recorded)),
      );
      continue;
    }

    const accountId = stream.id;
    const event = parseAccountEvent(recorded);
    let m = money.get(accountId);
    if (event.type === 'AccountOpened') {
      check(m === undefined, () => `${accountId} opened twice`);
      m = {
        currency: event.data.currency,
        floor: availableFloorMinor(event.data.overdraft),
        posted: 0n,
        held: 0n,
        holds: new Map(),
      };
      money.set(accountId, m);
    }
    check(m !== undefined, () => `${accountId}: ${event.type} before AccountOpened`);
    const at = `${accountId} @${recorded.revision} ${event.type}`;
    switch (event.type) {
      case 'FundsHeld': {
        const { transferId, amountMinor } = event.data;
        check(!m.holds.has(transferId), () => `${at}: second hold for ${transferId}`);
        m.holds.set(transferId, amountMinor);
        m.held += amountMinor;
        effectsOf(transferId).held.push({ account: accountId, amount: amountMinor });
        break;
      }
      case 'HoldReleased': {
        const { transferId, amountMinor } = event.data;
        check(
          m.holds.get(transferId) === amountMinor,
          () => `${at}: releases ${amountMinor} of hold ${m.holds.get(transferId)} for ${transferId}`,
        );
        m.holds.delete(transferId);
        m.held -= amountMinor;
        effectsOf(transferId).released.push({ account: accountId, amount: amountMinor });
        break;
      }
      case 'FundsDebited': {
        const { transferId, amountMinor, releasedMinor } = event.data;
        check(
          m.holds.get(transferId) === amountMinor + releasedMinor,
          () =>
            `${at}: debits ${amountMinor} + releases ${releasedMinor} of hold ${m.holds.get(transferId)} for ${transferId}`,
        );
        m.holds.delete(transferId);
        m.held -= amountMinor + releasedMinor;
        m.posted -= amountMinor;
        effectsOf(transferId).debited.push({ account: accountId, amount: amountMinor, released: releasedMinor });
        break;
      }
      case 'FundsCredited': {
        const { transferId, amountMinor } = event.data;
        m.posted += amountMinor;
        effectsOf(transferId).credited.push({ account: accountId, amount: amountMinor });
        break;
      }
      default:
        break;
    }
    const available = m.posted - m.held;
    check(
      m.floor === null || available >= m.floor,
      () => `${at}: available ${available} below floor ${m.floor} (invariant 2)`,
    );
    check(m.held >= 0n, () => `${at}: held ${m.held} negative`);
    // The domain's own fold must agree with the arithmetic above.
    const state = evolveAccount(states.get(accountId) ?? initialAccountState(), event);
    states.set(accountId, state);
    check(
      state.postedMinor === m.posted && state.heldMinor === m.held,
      () => `${at}: domain fold ${state.postedMinor}/${state.heldMinor}, test ${m.posted}/${m.held}`,
    );
  }

  // Transfers: progress and exactly-once effects.
  const heldByCurrency = new Map<string, bigint>();
  for (const [transferId, t] of transfers) {
    const r = t.request;
    check(r !== null, () => `transfer ${transferId} has no TransferRequested`);
    const e = effectsOf(transferId);
    const what = () =>
      `transfer ${transferId} (${r.mode} ${r.sourceAccount}→${r.destinationAccount} ${r.amountMinor} ${r.currency}) is ${t.status} ${t.reason ?? ''} with ${JSON.stringify(e, (_, v: unknown) => (typeof v === 'bigint' ? v.toString() : v))}`;
    check(
      money.get(r.sourceAccount)?.currency === r.currency && money.get(r.destinationAccount)?.currency === r.currency,
      () => `${what()}: accounts in another currency`,
    );
    if (r.mode === 'immediate' || options.settled)
      check(isTerminalTransferStatus(t.status), () => `${what()}: not terminal (invariant 4)`);
    else
      check(
        isTerminalTransferStatus(t.status) || (t.status === 'HELD' && t.decision === null),
        () => `${what()}: neither terminal nor HELD and undecided`,
      );

    check(
      e.held.length <= 1 && e.credited.length <= 1 && e.debited.length + e.released.length <= 1,
      () => `${what()}: more than once (invariant 3)`,
    );
    const hold = e.held[0];
    if (hold)
      check(
        hold.account === r.sourceAccount && hold.amount === r.amountMinor,
        () => `${what()}: hold on the wrong account or amount`,
      );
    switch (t.status) {
      case 'REJECTED':
        check(
          e.held.length + e.credited.length + e.debited.length + e.released.length === 0,
          () => `${what()}: a rejected transfer moved money`,
        );
        break;
      case 'HELD':
        check(
          hold !== undefined && e.credited.length + e.debited.length + e.released.length === 0,
          () => `${what()}: HELD but not exactly held`,
        );
        check(money.get(r.sourceAccount)!.holds.get(transferId) === r.amountMinor, () => `${what()}: no active hold`);
        heldByCurrency.set(r.currency, (heldByCurrency.get(r.currency) ?? 0n) + r.amountMinor);
        break;
      case 'CANCELLED':
        check(
          hold !== undefined &&
            e.released.length === 1 &&
            e.released[0].account === r.sourceAccount &&
            e.credited.length + e.debited.length === 0,
          () => `${what()}: cancelled without exactly a hold and its release`,
        );
        check(
          t.reason === 'CREDIT_FAILED' || r.mode === 'pending',
          () => `${what()}: ${t.reason} on an immediate transfer`,
        );
        break;
      case 'COMMITTED': {
        const amount = t.committedMinor;
        check(
          amount !== null && amount > 0n && amount <= r.amountMinor,
          () => `${what()}: committed amount out of range`,
        );
        check(
          r.mode === 'pending' || amount === r.amountMinor,
          () => `${what()}: immediate transfer committed in part`,
        );
        check(hold !== undefined && e.released.length === 0, () => `${what()}: committed without a hold, or released`);
        check(
          e.credited.length === 1 && e.credited[0].account === r.destinationAccount && e.credited[0].amount === amount,
          () => `${what()}: credit is not the committed amount once`,
        );
        check(
          e.debited.length === 1 &&
            e.debited[0].account === r.sourceAccount &&
            e.debited[0].amount === amount &&
            e.debited[0].released === r.amountMinor - amount,
          () => `${what()}: debit is not the committed amount once`,
        );
        break;
      }
      default:
        check(false, () => `${what()}: unexpected status`);
    }
  }
  for (const transferId of effects.keys()) {
    check(transfers.has(transferId), () => `account events for ${transferId}, which has no transfer stream`);
  }

  // Holds ↔ HELD transfers, and conservation per currency.
  for (const currency of new Set([...money.values()].map((m) => m.currency))) {
    let posted = 0n;
    let held = 0n;
    for (const [accountId, m] of money) {
      if (m.currency !== currency) continue;
      posted += m.posted;
      held += m.held;
      for (const [transferId, amount] of m.holds) {
        const t = transfers.get(transferId);
        check(
          t?.status === 'HELD' && t.request?.sourceAccount === accountId && t.request.amountMinor === amount,
          () => `hold ${amount} for ${transferId} on ${accountId} but the transfer is ${t?.status ?? 'missing'}`,
        );
      }
    }
    check(posted === 0n, () => `${currency}: posted balances sum to ${posted}, not 0 (invariant 1)`);
    const pending = heldByCurrency.get(currency) ?? 0n;
    check(held === pending, () => `${currency}: holds sum to ${held}, HELD transfers to ${pending} (invariant 1)`);
    if (options.settled) check(held === 0n, () => `${currency}: ${held} still held after the drain`);
  }
  return { accounts: states, transfers };
}

async function checkLedger(run: Run, options: { settled?: boolean } = {}): Promise<Folded> {
  return checkInvariants(await readEverything(run.ledger.store, await lastCommittedPosition(run)), options);
}

// ---- the model (sequential runs only) ---------------------------------------------------------

interface ModelAccount {
  spec: AccountSpec;
  status: 'open' | 'frozen' | 'closed';
  posted: bigint;
  held: bigint;
}

interface ModelTransfer {
  id: string;
  mode: 'immediate' | 'pending';
  source: string;
  destination: string;
  amount: bigint;
  expiresAt?: number;
  status: TransferState['status'];
  reason: string | null;
  committed: bigint | null;
}

/** What the ledger must do, computed independently of src/. */
class Model {
  readonly accounts = new Map<string, ModelAccount>(
    allAccounts.map((spec) => [spec.id, { spec, status: 'open', posted: 0n, held: 0n }]),
  );
  readonly transfers = new Map<string, ModelTransfer>();
  readonly created: Created[] = [];
  private nextId = 0;

  constructor(private now: number) {}

  private account(id: string): ModelAccount {
    return this.accounts.get(id)!;
  }

  /** The expected synchronous outcome; applies the transfer process's effects too. */
  apply(op: Op): Outcome {
    switch (op.kind) {
      case 'fund': {
        const to = accounts[op.to];
        return this.request(`f${this.nextId++}`, fundingId(to.currency), to.id, op.amount, 'immediate', 0);
      }
      case 'transfer': {
        const id = `t${this.nextId++}`;
        const from = accounts[op.from];
        const to = accounts[op.to];
        if (from.id === to.id) return 'SAME_ACCOUNT';
        if (from.currency !== to.currency || (op.claimed !== undefined && op.claimed !== from.currency))
          return 'CURRENCY_MISMATCH';
        return this.request(id, from.id, to.id, op.amount, op.mode, op.timeoutSeconds);
      }
      case 'commit':
      case 'void': {
        const target = pickTarget(this.created, op.pick);
        if (target === undefined) return 'ok';
        const t = this.transfers.get(target.id)!;
        if (t.mode !== 'pending' || t.status !== 'HELD' || this.now >= t.expiresAt!) return 'TRANSFER_NOT_PENDING';
        if (op.kind === 'void') {
          this.release(t, 'VOIDED');
          return 'ok';
        }
        const amount = commitAmount(op.percent, t.amount) ?? t.amount;
        if (amount > t.amount) return 'INVALID_COMMAND';
        this.creditAndSettle(t, amount);
        return 'ok';
      }
      case 'expire':
        this.now += op.seconds * 1_000;
        for (const t of this.transfers.values()) {
          if (t.status === 'HELD' && t.expiresAt! <= this.now) this.release(t, 'EXPIRED');
        }
        return 'ok';
      case 'freeze':
      case 'unfreeze':
      case 'close': {
        const a = this.account(accounts[op.account].id);
        if (op.kind === 'close') {
          if (a.status === 'closed') return 'ok';
          if (a.posted !== 0n || a.held !== 0n) return 'ACCOUNT_NOT_EMPTY';
          a.status = 'closed';
          return 'ok';
        }
        const target = op.kind === 'freeze' ? 'frozen' : 'open';
        if (a.status === target) return 'ok';
        if (a.status === 'closed') return 'ACCOUNT_CLOSED';
        a.status = target;
        return 'ok';
      }
    }
  }

  private request(
    id: string,
    source: string,
    destination: string,
    amount: bigint,
    mode: 'immediate' | 'pending',
    timeoutSeconds: number,
  ): Outcome {
    const t: ModelTransfer = {
      id,
      mode,
      source,
      destination,
      amount,
      status: 'REQUESTED',
      reason: null,
      committed: null,
    };
    if (mode === 'pending') t.expiresAt = this.now + timeoutSeconds * 1_000;
    this.transfers.set(id, t);
    if (id.startsWith('t')) this.created.push({ id, pending: mode === 'pending', amount });
    // HOLD
    const s = this.account(source);
    const floor = availableFloorMinor(s.spec.overdraft);
    const reject =
      s.status === 'frozen'
        ? 'ACCOUNT_FROZEN'
        : s.status === 'closed'
          ? 'ACCOUNT_CLOSED'
          : floor !== null && s.posted - s.held - amount < floor
            ? 'INSUFFICIENT_FUNDS'
            : null;
    if (reject !== null) {
      t.status = 'REJECTED';
      t.reason = reject;
      return 'ok';
    }
    s.held += amount;
    t.status = 'HELD';
    if (mode === 'immediate') this.creditAndSettle(t, amount);
    return 'ok';
  }

  private creditAndSettle(t: ModelTransfer, amount: bigint): void {
    const d = this.account(t.destination);
    if (d.status !== 'open') {
      this.release(t, 'CREDIT_FAILED');
      return;
    }
    const s = this.account(t.source);
    d.posted += amount;
    s.posted -= amount;
    s.held -= t.amount;
    t.status = 'COMMITTED';
    t.committed = amount;
  }

  private release(t: ModelTransfer, reason: string): void {
    this.account(t.source).held -= t.amount;
    t.status = 'CANCELLED';
    t.reason = reason;
  }

  /** Drain: every pending transfer still HELD expires. */
  drain(): void {
    this.apply({ kind: 'expire', seconds: 86_400 });
  }

  compare(folded: Folded, step: string): void {
    for (const [id, m] of this.transfers) {
      const t = folded.transfers.get(id);
      const actual = { status: t?.status, reason: t?.reason ?? null, committed: t?.committedMinor ?? null };
      const expected = { status: m.status, reason: m.reason, committed: m.committed };
      check(
        show(actual) === show(expected),
        () =>
          `${step}: transfer ${id} (${m.mode} ${m.source}→${m.destination} ${m.amount}) is ${show(actual)}, the model says ${show(expected)}`,
      );
    }
    for (const [id, m] of this.accounts) {
      const a = folded.accounts.get(id)!;
      const actual = { status: a.status, posted: a.postedMinor, held: a.heldMinor };
      const expected = { status: m.status, posted: m.posted, held: m.held };
      check(
        actual.status === expected.status && actual.posted === expected.posted && actual.held === expected.held,
        () => `${step}: account ${id} is ${show(actual)}, the model says ${show(expected)}`,
      );
    }
  }
}

function show(value: unknown): string {
  return JSON.stringify(value, (_, v: unknown) => (typeof v === 'bigint' ? `${v}n` : v));
}

// ---- the properties ---------------------------------------------------------------------------

const seed = process.env.FC_SEED === undefined ? undefined : Number(process.env.FC_SEED);
const path = process.env.FC_PATH;
const numRunsOverride = process.env.FC_NUM_RUNS === undefined ? undefined : Number(process.env.FC_NUM_RUNS);
/** Each property fits in a minute at its default number of runs; more runs get more time. */
const testTimeoutMs = 60_000 + (numRunsOverride ?? 0) * 3_000;
const assertOptions = <T>(numRuns: number): fc.Parameters<T> => ({
  numRuns: numRunsOverride ?? numRuns,
  ...(seed !== undefined && { seed }),
  ...(path !== undefined && { path }),
});

/**
 * A run costs a database and up to a second, so shrinking is given a time budget: once the
 * first failure is `budgetMs` old, further candidates count as passing (they are not run),
 * and fast-check reports the smallest failure found so far. Every run still finishes and
 * closes its ledger (fast-check's own interrupt would abandon one mid-flight).
 */
function boundedShrinking<T>(budgetMs: number, body: (value: T) => Promise<void>): (value: T) => Promise<void> {
  let firstFailureAt: number | undefined;
  return async (value) => {
    if (firstFailureAt !== undefined && Date.now() - firstFailureAt > budgetMs) return;
    try {
      await body(value);
    } catch (err) {
      firstFailureAt ??= Date.now();
      throw err;
    }
  };
}

const shrinkBudgetMs = 20_000;

interface Group {
  ops: Op[];
  settle: boolean;
}

// ---- cases found by these properties, replayed first as fast-check examples ------------------------

/**
 * Found by the sequential property (open at the time of writing). The transfer process
 * decides a failed credit on its cached destination account without checking the cache is
 * current (creditStep runs accountStep with verifyUnwritten = false, unlike holdStep).
 * Once a frozen destination is cached (here by the credit that rightly failed), unfreezing
 * it is invisible to the process, and every later credit to it is CANCELLED CREDIT_FAILED —
 * until the process restarts or holds on that account. Expected: t2 COMMITTED.
 */
const staleDestinationCache: Op[] = [
  { kind: 'fund', to: 0, amount: 10n },
  { kind: 'freeze', account: 2 },
  { kind: 'transfer', from: 0, to: 2, amount: 1n, mode: 'immediate', timeoutSeconds: 1, claimed: undefined },
  { kind: 'unfreeze', account: 2 },
  { kind: 'transfer', from: 0, to: 2, amount: 10n, mode: 'immediate', timeoutSeconds: 1, claimed: undefined },
];

/**
 * Found by the crash properties when expiry had an index the process wrote: a crash between
 * recording a pending transfer's end and removing its index row left a stale row. Expiry is
 * now scheduled from the event store; kept as a regression case.
 */
const staleExpiryIndexEntry: [Group[], Crash[]] = [
  [
    {
      ops: [{ kind: 'transfer', from: 1, to: 2, amount: 50n, mode: 'pending', timeoutSeconds: 60, claimed: undefined }],
      settle: true,
    },
    { ops: [{ kind: 'commit', pick: 1, percent: undefined }], settle: true },
  ],
  // usd-b may go 300 below zero. after-record #1: t0 held; #2: t0 committed.
  [{ point: 'after-record', nth: 2 }],
];

describe('ledger properties on PostgreSQL (random workloads, real handlers and transfer process)', () => {
  it(
    'sequential workload, with crashes and restarts of the process: every outcome matches the model, the invariants hold after every command',
    async () => {
      const workload = fc.array(opArb, { minLength: 1, maxLength: 30, size: 'max' });
      const crashes = fc.array(crashArb, { maxLength: 3 });
      const runSequential = boundedShrinking(
        shrinkBudgetMs,
        async ({ ops, crashes }: { ops: Op[]; crashes: Crash[] }) => {
          const run = await startRun({ crashes });
          try {
            await settle(run);
            const model = new Model(run.ledger.clock.now.getTime());
            for (const [i, op] of ops.entries()) {
              const step = `#${i} ${show(op)}`;
              const expected = model.apply(op);
              const headBefore = await lastCommittedPosition(run);
              const { outcome } = await execute(run, op);
              check(outcome === expected, () => `${step}: outcome ${outcome}, the model says ${expected}`);
              if (outcome !== 'ok') {
                const headAfter = await lastCommittedPosition(run);
                check(headAfter === headBefore, () => `${step}: rejected with ${outcome} but wrote events`);
              }
              await settle(run);
              model.compare(await checkLedger(run), step);
            }
            await drain(run);
            model.drain();
            model.compare(await checkLedger(run, { settled: true }), 'after the drain');
          } catch (err) {
            throw withCrashes(run, err);
          } finally {
            await run.ledger.close();
          }
        },
      );
      await fc.assert(
        fc.asyncProperty(workload, crashes, (ops, crashes) => runSequential({ ops, crashes })),
        {
          ...assertOptions<[Op[], Crash[]]>(20),
          examples: [[staleDestinationCache, []]],
        },
      );
    },
    testTimeoutMs,
  );

  /** Groups of commands run at once; after some groups the process is let settle. */
  const concurrentWorkload: fc.Arbitrary<Group[]> = fc.array(
    fc.record({ ops: fc.array(opArb, { minLength: 1, maxLength: 5 }), settle: fc.boolean() }),
    { minLength: 1, maxLength: 8, size: 'max' },
  );

  const runConcurrent = async (groups: Group[], crashes: Crash[]) => {
    const run = await startRun({ crashes });
    try {
      for (const group of groups) {
        const results = await Promise.all(group.ops.map((op) => execute(run, op)));
        group.ops.forEach((op, i) => {
          // Ingress decides these synchronously, whatever else runs.
          if (op.kind !== 'transfer') return;
          const currency = accounts[op.from].currency;
          const expected: Outcome =
            op.from === op.to
              ? 'SAME_ACCOUNT'
              : accounts[op.to].currency !== currency || (op.claimed !== undefined && op.claimed !== currency)
                ? 'CURRENCY_MISMATCH'
                : 'ok';
          check(
            results[i].outcome === expected,
            () => `${show(op)}: outcome ${results[i].outcome}, expected ${expected}`,
          );
        });
        if (group.settle) await settle(run);
      }
      await settle(run);
      await checkLedger(run);
      await drain(run);
      await checkLedger(run, { settled: true });
    } catch (err) {
      throw withCrashes(run, err);
    } finally {
      await run.ledger.close();
    }
  };

  it(
    'concurrent workload: commands race the transfer process, the invariants hold',
    async () => {
      await fc.assert(
        fc.asyncProperty(
          concurrentWorkload,
          boundedShrinking(shrinkBudgetMs, (groups) => runConcurrent(groups, [])),
        ),
        assertOptions<[Group[]]>(15),
      );
    },
    testTimeoutMs,
  );

  const runConcurrentBounded = boundedShrinking(
    shrinkBudgetMs,
    ({ groups, crashes }: { groups: Group[]; crashes: Crash[] }) => runConcurrent(groups, crashes),
  );

  it(
    'concurrent workload while the transfer process crashes at random points and restarts: the invariants hold',
    async () => {
      const crashes = fc.array(crashArb, { minLength: 1, maxLength: 4 });
      await fc.assert(
        fc.asyncProperty(concurrentWorkload, crashes, (groups, crashes) => runConcurrentBounded({ groups, crashes })),
        { ...assertOptions<[Group[], Crash[]]>(15), examples: [staleExpiryIndexEntry] },
      );
    },
    testTimeoutMs,
  );
});
