/**
 * The transfer process: the saga that drives every requested transfer to its end.
 *
 *   INGRESS (TransferRequested) → HOLD (FundsHeld on the source) → CREDIT (FundsCredited on
 *   the destination) → COMMIT (FundsDebited on the source, TransferCommitted)
 *
 * with REJECTED when the hold is refused and CANCELLED when the credit fails, a pending
 * transfer is voided, or it expires (the hold is released).
 *
 * It reads the events that give it work (requests, and client decisions on pending
 * transfers; the store passes over the rest) in global order from a checkpoint, and
 * moves the checkpoint past the others too, so its lag is true. A batch of events is worked
 * in steps; each step groups its work by account, so a thousand transfers from one hot
 * account become one append to that account, not a thousand racing ones.
 *
 * Why each transfer takes effect exactly once on every account, whatever crashes, retries,
 * duplicate deliveries or concurrent processes happen:
 *  1. Every account decision is made on the account's folded state, which remembers each
 *     transfer it has held, released, debited or credited; deciding a step that already
 *     happened yields no event.
 *  2. Every append carries the revision that state was folded at. If anything was written
 *     since (another process, a retry racing us), the append fails and writes nothing; the
 *     state is reloaded, which brings in what was written, and (1) turns it into a no-op.
 *  3. Events the process writes have ids derived from (transfer, step), so the same step
 *     written twice is stored once even when two writers race past (2) on different states.
 *  4. The checkpoint moves only after a whole batch is recorded; after a crash the batch is
 *     worked again from the transfers' own streams (recovery mode), and (1)–(3) hold. So
 *     the checkpoint's commit need not wait for the WAL flush: losing it in a server crash
 *     only means working some batches again, and it never survives the appends before it.
 * Where the store appends to several streams atomically (PostgreSQL), a whole batch, its
 * accounts and its transfers, is one append: it is written entirely or not at all. Where it
 * cannot (EventStoreDB), the steps are appended in order, each before the next is decided.
 */
import type { Pool } from 'pg';
import { type AccountCommand, type AccountEvent } from '../domain/account';
import {
  DomainError,
  isTransferRejection,
  type TransferCancelReason,
  type TransferRejectReason,
} from '../domain/errors';
import { parseTransferEvent, TransferEventType } from '../domain/events';
import { accountStream, parseTransferStream, transferStream } from '../domain/streams';
import {
  creditAmountMinor,
  decideTransfer,
  evolveTransfer,
  initialTransferState,
  isTerminalTransferStatus,
  type TransferCommand,
  type TransferEvent,
  type TransferState,
  type TransferStatus,
} from '../domain/transfer';
import { loadCheckpoint, saveCheckpointUnflushed } from '../db/checkpoints';
import { type LeasedWork, runLeased } from '../db/lease';
import type { Logger } from '../logger';
import { type EventStore, type RecordedEvent, type StreamAppend, WrongExpectedRevision } from '../eventstore/port';
import { AccountCache } from './account-cache';
import { AccountPlan, type Causation } from './account-plan';
import { type Loaded, loadTransfer, toEventToAppend } from './aggregates';
import { deterministicEventId } from './event-ids';
import { appendStep, type FaultInjector, noFaults } from './stage-append';

export const transferProcessName = 'transfer-process';
/**
 * Requests (and decisions) per batch. Larger batches cost less per transfer but are written
 * in larger appends, and the projections wait for each: at 1,000, bench:replay's projection
 * lag p99 rose from about 260 to 380-520 ms for no more throughput.
 */
export const defaultProcessBatchSize = 250;
/** The events that give the process work: new requests, and client decisions on pending transfers. */
const processedEventTypes = [
  TransferEventType.TransferRequested,
  TransferEventType.TransferCommitRequested,
  TransferEventType.TransferVoidRequested,
];
/** A step whose appends keep conflicting is retried this often before the batch fails. */
const maxStepAttempts = 8;
const maxParallelTransferLoads = 32;

export interface TransferProcessOptions {
  store: EventStore;
  pool: Pool;
  logger: Logger;
  name?: string;
  maxBatchSize?: number;
  clock?: () => Date;
  faults?: FaultInjector;
  /** Restart after an error (production). Tests of crashes turn it off to see the crash. */
  restartOnError?: boolean;
  /** One process at a time holds the lease named after the process; a dead holder's lease expires. */
  leaseTtlMs?: number;
}

export type RunningTransferProcess = LeasedWork;

/** One transfer being worked in a batch. */
interface Work {
  transferId: string;
  transfer: Loaded<TransferState>;
  /** The event that caused this work (for causationId). */
  causationId: string;
  /** Commands for the transfer stream, in order, decided as the steps go. */
  record: TransferCommand[];
  /** Set by the steps. */
  outcome?:
    | { kind: 'held' }
    | { kind: 'rejected'; reason: TransferRejectReason }
    | { kind: 'credited' }
    | { kind: 'release'; reason: TransferCancelReason };
}

/** Drives transfers on: a batch of the events that give the process work, or named transfers (the reconciler). */
export interface TransferWorker {
  /** Works one batch: every transfer it moves, to the end of what can be done now. */
  workBatch(events: RecordedEvent[], recoveryUntil: bigint, accounts: AccountCache): Promise<void>;
  /**
   * Drives the named transfers on from their own streams, as the process would after a
   * crash; safe while the process runs (the rules above make each step happen once).
   * Returns each transfer's status as read from its stream, and after.
   */
  resume(
    transferIds: readonly string[],
  ): Promise<Map<string, { before: TransferStatus | 'NONE'; after: TransferStatus | 'NONE' }>>;
}

export function transferWorker(options: {
  store: EventStore;
  logger: Logger;
  clock?: () => Date;
  faults?: FaultInjector;
}): TransferWorker {
  const { store } = options;
  const clock = options.clock ?? (() => new Date());
  const faults = options.faults ?? noFaults;
  const log = options.logger;

  const workAll = async (work: Work[], accounts: AccountCache): Promise<void> => {
    if (work.length === 0) return;
    const now = clock();
    if (store.capabilities.multiStreamAppend) await workAtOnce(work, accounts, now);
    else await workStepByStep(work, accounts, now);
    faults.check('after-record');
  };

  /**
   * Where the store appends to several streams atomically: every step is decided in memory
   * (each account's state folded forward through hold, credit and settle), and the whole
   * batch, accounts and transfers, is written in one append. Nothing is written unless all
   * of it is; an account changed meanwhile fails the append, and the batch is decided again.
   */
  const workAtOnce = async (work: Work[], accounts: AccountCache, now: Date): Promise<void> => {
    for (let attempt = 1; ; attempt++) {
      for (const w of work) {
        w.outcome = undefined;
        w.record = [];
      }
      const plan = new AccountPlan(accounts);
      (
        await holdStep(
          work.filter((w) => w.transfer.state.status === 'REQUESTED'),
          plan,
          now,
        )
      )();
      faults.check('after-hold');
      (await creditStep(work.filter(needsCredit), plan, now))();
      faults.check('after-credit');
      (await settleStep(work, plan, now))();
      faults.check('after-settle');
      try {
        if (!(await plan.unwrittenAreCurrent())) throw new StalePlan();
        const records = recordAppends(work, now);
        plan.written(await appendStep(store, [...plan.appends(), ...records.appends], faults));
        records.applied();
        return;
      } catch (err) {
        plan.drop();
        const accountChanged =
          err instanceof StalePlan || (err instanceof WrongExpectedRevision && isAccountStream(err.streamName));
        if (!accountChanged || attempt >= maxStepAttempts) throw err;
        log.debug({ attempt }, 'an account changed under the batch; deciding it again');
      }
    }
  };

  /** Where each append covers one stream: step by step, each step's appends before the next step. */
  const workStepByStep = async (work: Work[], accounts: AccountCache, now: Date): Promise<void> => {
    (
      await settled(accounts, (plan) =>
        holdStep(
          work.filter((w) => w.transfer.state.status === 'REQUESTED'),
          plan,
          now,
        ),
      )
    )();
    faults.check('after-hold');
    // Chosen once: a retried attempt must credit the same transfers, whatever the failed one decided.
    const toCredit = work.filter(needsCredit);
    (await settled(accounts, (plan) => creditStep(toCredit, plan, now)))();
    faults.check('after-credit');
    (await settled(accounts, (plan) => settleStep(work, plan, now)))();
    faults.check('after-settle');
    const records = recordAppends(work, now);
    await appendStep(store, records.appends, faults);
    records.applied();
  };

  /**
   * Decides one step on a fresh plan and appends it, with the revisions it decided on; on
   * a conflict (or a refusal decided on a stale account) reloads and decides again.
   * Returns what the successful attempt wants recorded on the transfers.
   */
  const settled = async (accounts: AccountCache, step: (plan: AccountPlan) => Promise<() => void>) => {
    for (let attempt = 1; ; attempt++) {
      const plan = new AccountPlan(accounts);
      const record = await step(plan);
      try {
        if (!(await plan.unwrittenAreCurrent())) throw new StalePlan();
        plan.written(await appendStep(store, plan.appends(), faults));
        return record;
      } catch (err) {
        plan.drop();
        if (!(err instanceof WrongExpectedRevision || err instanceof StalePlan) || attempt >= maxStepAttempts)
          throw err;
        log.debug({ attempt }, 'an account changed under the step; deciding it again');
      }
    }
  };

  /** Transfers this batch moves: new requests, and client decisions on pending ones. */
  const collectWork = async (events: RecordedEvent[], recoveryUntil: bigint): Promise<Work[]> => {
    const byId = new Map<string, Seen>();
    for (const e of events) {
      const transferId = parseTransferStream(e.streamName);
      if (transferId === null) continue;
      // A request seen for the first time is the whole stream; anything else is read.
      const fresh =
        e.type === 'TransferRequested' && e.revision === 0n && e.position > recoveryUntil && !byId.has(transferId);
      byId.set(transferId, { causationId: e.id, fresh: fresh ? parseTransferEvent(e) : undefined });
    }
    return (await loadWork(byId)).filter(isOpen);
  };

  /** The transfers' states: read from their streams, unless fresh. */
  const loadWork = async (byId: Map<string, Seen>): Promise<Work[]> => {
    const entries = [...byId.entries()];
    const work: Work[] = [];
    for (let i = 0; i < entries.length; i += maxParallelTransferLoads) {
      const loaded = await Promise.all(
        entries.slice(i, i + maxParallelTransferLoads).map(async ([transferId, seen]) => ({
          transferId,
          causationId: seen.causationId,
          transfer: seen.fresh
            ? { state: evolveTransfer(initialTransferState(), seen.fresh), revision: 0n, position: 0n }
            : await loadTransfer(store, transferId),
        })),
      );
      for (const l of loaded) work.push({ ...l, record: [] });
    }
    return work;
  };

  const eventId = (transferId: string, step: string) => deterministicEventId(transferId, step);

  const holdCausation: Causation = (_, e) => ({ id: eventId(transferIdOf(e), 'hold'), correlationId: transferIdOf(e) });
  const creditCausation: Causation = (_, e) => ({
    id: eventId(transferIdOf(e), 'credit'),
    correlationId: transferIdOf(e),
  });
  const settleCausation: Causation = (_, e) => ({
    id: eventId(transferIdOf(e), e.type === 'HoldReleased' ? 'release' : 'debit'),
    correlationId: transferIdOf(e),
  });

  /*
   * The steps. Each decides on `plan` and sets the outcome of its transfers, and returns
   * what to record on them once its decisions are written (or, in one append, with them).
   */

  const holdStep = async (work: Work[], plan: AccountPlan, now: Date): Promise<() => void> => {
    await plan.ensure(work.map((w) => w.transfer.state.request!.sourceAccount));
    for (const w of work) {
      const r = w.transfer.state.request!;
      const result = plan.decide(
        r.sourceAccount,
        {
          type: 'HoldFunds',
          data: {
            accountId: r.sourceAccount,
            transferId: w.transferId,
            amountMinor: r.amountMinor,
            currency: r.currency,
            now,
          },
        },
        holdCausation,
      );
      if (result instanceof DomainError) {
        if (!isTransferRejection(result)) throw result;
        w.outcome = { kind: 'rejected', reason: result.code };
      } else if (result.state.releasedTransferIds.has(w.transferId)) {
        // Recovery: the hold was taken and released before a crash; the accounts are
        // the truth about what happened, the transfer stream just had not heard yet.
        w.outcome = { kind: 'release', reason: releaseReason(w.transfer.state) };
      } else {
        w.outcome = { kind: 'held' };
      }
    }
    return () => {
      for (const w of work) {
        if (w.outcome?.kind === 'rejected')
          w.record.push({ type: 'RejectTransfer', data: { transferId: w.transferId, reason: w.outcome.reason, now } });
        else w.record.push({ type: 'MarkHeld', data: { transferId: w.transferId, now } });
      }
    };
  };

  /** Held (now or earlier) and either immediate or committed by the client. */
  const needsCredit = (w: Work): boolean => {
    const s = w.transfer.state;
    if (w.outcome?.kind === 'rejected') return false;
    const held = w.outcome?.kind === 'held' || s.status === 'HELD';
    if (!held) return false;
    if (s.request!.mode === 'immediate') return true;
    return s.decision?.kind === 'commit';
  };

  const creditStep = async (candidates: Work[], plan: AccountPlan, now: Date): Promise<() => void> => {
    // Recovery: a hold released before a crash (its credit had failed) must not be credited
    // now, even if the destination would take it today.
    await plan.ensure(candidates.map((w) => w.transfer.state.request!.sourceAccount));
    const work: Work[] = [];
    for (const w of candidates) {
      if (plan.state(w.transfer.state.request!.sourceAccount).releasedTransferIds.has(w.transferId)) {
        w.outcome = { kind: 'release', reason: releaseReason(w.transfer.state) };
      } else {
        work.push(w);
      }
    }
    await plan.ensure(work.map((w) => w.transfer.state.request!.destinationAccount));
    for (const w of work) {
      const r = w.transfer.state.request!;
      const amountMinor = creditAmountMinor(w.transfer.state)!;
      const result = plan.decide(
        r.destinationAccount,
        {
          type: 'CreditFunds',
          data: { accountId: r.destinationAccount, transferId: w.transferId, amountMinor, currency: r.currency, now },
        },
        creditCausation,
      );
      // A refused credit writes nothing; the plan checks it against the account as it is now.
      w.outcome = result instanceof DomainError ? { kind: 'release', reason: 'CREDIT_FAILED' } : { kind: 'credited' };
    }
    return () => {
      for (const w of work) {
        if (w.outcome?.kind === 'credited')
          w.record.push({ type: 'MarkCredited', data: { transferId: w.transferId, now } });
      }
    };
  };

  /** Source side: debit what was credited (or is CREDITED already), release what must be. */
  const settleStep = async (all: Work[], plan: AccountPlan, now: Date): Promise<() => void> => {
    for (const w of all) {
      const s = w.transfer.state;
      if (w.outcome === undefined && s.status === 'CREDITED') w.outcome = { kind: 'credited' };
      if (w.outcome === undefined && s.status === 'HELD' && s.decision?.kind === 'void') {
        w.outcome = { kind: 'release', reason: s.decision.reason };
      }
    }
    const work = all.filter((w) => w.outcome?.kind === 'credited' || w.outcome?.kind === 'release');
    await plan.ensure(work.map((w) => w.transfer.state.request!.sourceAccount));
    for (const w of work) {
      const r = w.transfer.state.request!;
      const outcome = w.outcome!;
      const command: AccountCommand =
        outcome.kind === 'release'
          ? {
              type: 'ReleaseHold',
              data: { accountId: r.sourceAccount, transferId: w.transferId, reason: outcome.reason, now },
            }
          : {
              type: 'DebitFunds',
              data: {
                accountId: r.sourceAccount,
                transferId: w.transferId,
                amountMinor: creditAmountMinor(w.transfer.state)!,
                now,
              },
            };
      const result = plan.decide(r.sourceAccount, command, settleCausation);
      if (result instanceof DomainError) throw result;
    }
    return () => {
      for (const w of work) {
        const outcome = w.outcome!;
        if (outcome.kind === 'release')
          w.record.push({ type: 'CancelTransfer', data: { transferId: w.transferId, reason: outcome.reason, now } });
        else w.record.push({ type: 'MarkCommitted', data: { transferId: w.transferId, now } });
      }
    };
  };

  /**
   * Every step and reason on the transfer's own stream, one append per transfer; `applied`
   * takes the new states into the work once the appends are stored.
   */
  const recordAppends = (work: Work[], now: Date): { appends: StreamAppend[]; applied: () => void } => {
    const appends: StreamAppend[] = [];
    const states: TransferState[] = [];
    for (const w of work) {
      let state = w.transfer.state;
      const events: TransferEvent[] = [];
      for (const command of w.record) {
        const decided = decideTransfer({ ...command, data: { ...command.data, now } } as TransferCommand, state);
        for (const e of decided) state = evolveTransfer(state, e);
        events.push(...decided);
      }
      states.push(state);
      if (events.length === 0) continue;
      appends.push({
        streamName: transferStream(w.transferId),
        expectedRevision: w.transfer.revision,
        events: events.map((event) =>
          toEventToAppend({
            id: eventId(w.transferId, event.type),
            event,
            correlationId: w.transferId,
            causationId: w.causationId,
          }),
        ),
      });
    }
    return {
      appends,
      applied: () => work.forEach((w, i) => (w.transfer = { ...w.transfer, state: states[i] })),
    };
  };

  return {
    workBatch: async (events, recoveryUntil, accounts) => workAll(await collectWork(events, recoveryUntil), accounts),
    async resume(transferIds) {
      const all = await loadWork(
        new Map(transferIds.map((id) => [id, { causationId: deterministicEventId(id, 'resume') }])),
      );
      const before = new Map(all.map((w) => [w.transferId, w.transfer.state.status]));
      await workAll(all.filter(isOpen), new AccountCache(store));
      return new Map(
        all.map((w) => [w.transferId, { before: before.get(w.transferId)!, after: w.transfer.state.status }]),
      );
    },
  };
}

export function startTransferProcess(options: TransferProcessOptions): RunningTransferProcess {
  const { store, pool, logger } = options;
  const name = options.name ?? transferProcessName;
  const faults = options.faults ?? noFaults;
  const log = logger.child({ component: name });
  const worker = transferWorker({ store, logger: log, clock: options.clock, faults });

  return runLeased({
    pool,
    name,
    restartOnError: options.restartOnError ?? true,
    leaseTtlMs: options.leaseTtlMs,
    onError: (err, delayMs) => log.error({ err, delayMs }, 'transfer process failed; restarting from its checkpoint'),
    async start() {
      const accounts = new AccountCache(store);
      const after = await loadCheckpoint(pool, name);
      const maxBatchSize = options.maxBatchSize ?? defaultProcessBatchSize;
      // Events up to here may have been worked before a crash: read their transfers' streams.
      const recoveryUntil = await store.headPosition();
      return store.subscribe({
        after,
        maxBatchSize,
        eventTypes: processedEventTypes,
        handler: async (events, through) => {
          if (events.length > 0) await worker.workBatch(events, recoveryUntil, accounts);
          faults.check('before-checkpoint');
          await saveCheckpointUnflushed(pool, name, through);
        },
      });
    },
  });
}

/** How a transfer came into a batch: the event that caused it, and the stream itself for a new request. */
interface Seen {
  causationId: string;
  fresh?: TransferEvent;
}

function isOpen(w: Work): boolean {
  return !isTerminalTransferStatus(w.transfer.state.status) && w.transfer.state.status !== 'NONE';
}

/** An account decision that wrote nothing turned out to be made on a stale account. */
class StalePlan extends Error {
  override readonly name = 'StalePlan';
}

function isAccountStream(streamName: string): boolean {
  return streamName.startsWith(accountStream(''));
}

function releaseReason(state: TransferState): TransferCancelReason {
  return state.decision?.kind === 'void' ? state.decision.reason : 'CREDIT_FAILED';
}

function transferIdOf(e: AccountEvent): string {
  if ('transferId' in e.data) return e.data.transferId;
  throw new Error(`${e.type} carries no transfer id`);
}
