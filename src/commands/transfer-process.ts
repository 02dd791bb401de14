/**
 * The transfer process: the saga that drives every requested transfer to its end.
 *
 *   INGRESS (TransferRequested) → HOLD (FundsHeld on the source) → CREDIT (FundsCredited on
 *   the destination) → COMMIT (FundsDebited on the source, TransferCommitted)
 *
 * with REJECTED when the hold is refused and CANCELLED when the credit fails, a pending
 * transfer is voided, or it expires (the hold is released).
 *
 * It reads the event store in global order from a checkpoint. A batch of events is worked
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
 *     worked again from the transfers' own streams (recovery mode), and (1)–(3) hold.
 */
import type { Pool } from 'pg';
import { type AccountCommand, type AccountEvent, type AccountState, decideAccount, evolveAccount } from '../domain/account';
import { DomainError, isTransferRejection, type TransferCancelReason, type TransferRejectReason } from '../domain/errors';
import { parseTransferEvent } from '../domain/events';
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
} from '../domain/transfer';
import { loadCheckpoint, saveCheckpoint } from '../db/checkpoints';
import { type LeasedWork, runLeased } from '../db/lease';
import type { Logger } from '../logger';
import { type EventStore, type RecordedEvent, type StreamAppend, WrongExpectedRevision } from '../eventstore/port';
import { AccountCache } from './account-cache';
import { type Loaded, loadTransfer, toEventToAppend } from './aggregates';
import { deterministicEventId } from './event-ids';
import { appendStep, type FaultInjector, noFaults } from './stage-append';

export const transferProcessName = 'transfer-process';
export const defaultProcessBatchSize = 1_000;
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

/** What an account decided, and its state after it (in the step's working copy). */
interface Decided {
  events: AccountEvent[];
  state: AccountState;
}

/** One transfer being worked in a batch. */
interface Work {
  transferId: string;
  transfer: Loaded<TransferState>;
  /** The event that caused this work (for causationId). */
  causationId: string;
  /** Commands for the transfer stream, in order, decided as the steps go. */
  record: TransferCommand[];
  /** Set by the steps. */
  outcome?: { kind: 'held' } | { kind: 'rejected'; reason: TransferRejectReason } | { kind: 'credited' } | { kind: 'release'; reason: TransferCancelReason };
}

export function startTransferProcess(options: TransferProcessOptions): RunningTransferProcess {
  const { store, pool, logger } = options;
  const name = options.name ?? transferProcessName;
  const clock = options.clock ?? (() => new Date());
  const faults = options.faults ?? noFaults;
  const log = logger.child({ component: name });

  const workBatch = async (events: RecordedEvent[], recoveryUntil: bigint, accounts: AccountCache): Promise<void> => {
    const work = await collectWork(events, recoveryUntil);
    if (work.length === 0) return;
    const now = clock();
    await holdStep(work.filter((w) => w.transfer.state.status === 'REQUESTED'), accounts, now);
    faults.check('after-hold');
    await creditStep(work.filter(needsCredit), accounts, now);
    faults.check('after-credit');
    await settleStep(work, accounts, now);
    faults.check('after-settle');
    // Indexed before HELD is recorded, so a transfer seen HELD is always found by expiry.
    await indexExpiries(work.filter((w) => w.outcome?.kind === 'held' && w.transfer.state.request!.expiresAt));
    await recordStep(work, now);
    faults.check('after-record');
    await unindexFinished(work);
  };

  /** Transfers this batch moves: new requests, and client decisions on pending ones. */
  const collectWork = async (events: RecordedEvent[], recoveryUntil: bigint): Promise<Work[]> => {
    const byId = new Map<string, { causationId: string; fresh?: TransferEvent }>();
    for (const e of events) {
      if (e.type !== 'TransferRequested' && e.type !== 'TransferCommitRequested' && e.type !== 'TransferVoidRequested') continue;
      const transferId = parseTransferStream(e.streamName);
      if (transferId === null) continue;
      // A request seen for the first time is the whole stream; anything else is read.
      const fresh = e.type === 'TransferRequested' && e.revision === 0n && e.position > recoveryUntil && !byId.has(transferId);
      byId.set(transferId, { causationId: e.id, fresh: fresh ? parseTransferEvent(e) : undefined });
    }
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
      for (const l of loaded) {
        if (isTerminalTransferStatus(l.transfer.state.status) || l.transfer.state.status === 'NONE') continue;
        work.push({ ...l, record: [] });
      }
    }
    return work;
  };

  /**
   * Runs `decideAll` over the accounts it names, appends what it decided with the
   * revisions it decided on, and on a conflict reloads those accounts and decides again.
   */
  const accountStep = async (
    accounts: AccountCache,
    accountIds: string[],
    decideAll: (decide: (accountId: string, command: AccountCommand) => Decided | DomainError) => void,
    causation: (accountId: string, event: AccountEvent) => { id: string; correlationId: string },
    verifyUnwritten: boolean,
  ): Promise<void> => {
    for (let attempt = 1; ; attempt++) {
      await accounts.ensure(accountIds);
      const pending = new Map<string, { loaded: Loaded<AccountState>; state: AccountState; events: AccountEvent[] }>();
      const decide = (accountId: string, command: AccountCommand): Decided | DomainError => {
        const loaded = accounts.get(accountId);
        const entry = pending.get(accountId) ?? { loaded, state: loaded.state, events: [] as AccountEvent[] };
        pending.set(accountId, entry);
        try {
          const decided = decideAccount(command, entry.state);
          for (const e of decided) entry.state = evolveAccount(entry.state, e);
          entry.events.push(...decided);
          return { events: decided, state: entry.state };
        } catch (err) {
          if (err instanceof DomainError) return err;
          throw err;
        }
      };
      decideAll(decide);
      const appends: StreamAppend[] = [];
      for (const [accountId, entry] of pending) {
        if (entry.events.length === 0) continue;
        appends.push({
          streamName: accountStream(accountId),
          expectedRevision: entry.loaded.revision,
          events: entry.events.map((event) => toEventToAppend({ ...causation(accountId, event), event })),
        });
      }
      try {
        // A decision that wrote nothing (a rejection) is checked against the stream itself.
        if (verifyUnwritten) {
          const unwritten = [...pending.entries()].filter(([, e]) => e.events.length === 0).map(([id]) => id);
          const stale = await Promise.all(unwritten.map(async (id) => !(await accounts.isCurrent(id))));
          if (stale.some(Boolean)) {
            accounts.drop(pending.keys());
            continue;
          }
        }
        const results = await appendStep(store, appends, faults);
        for (const [accountId, entry] of pending) {
          const written = results.get(accountStream(accountId));
          if (written) accounts.set(accountId, { state: entry.state, revision: written.nextRevision, position: written.position });
        }
        return;
      } catch (err) {
        // The folded states in `pending` share structure with the cache: drop them all.
        accounts.drop(pending.keys());
        if (!(err instanceof WrongExpectedRevision) || attempt >= maxStepAttempts) throw err;
        log.debug({ stream: err.streamName, attempt }, 'account changed under the step; reloading');
      }
    }
  };

  const eventId = (transferId: string, step: string) => deterministicEventId(transferId, step);

  const holdStep = async (work: Work[], accounts: AccountCache, now: Date): Promise<void> => {
    if (work.length === 0) return;
    await accountStep(
      accounts,
      work.map((w) => w.transfer.state.request!.sourceAccount),
      (decide) => {
        for (const w of work) {
          const r = w.transfer.state.request!;
          const result = decide(r.sourceAccount, {
            type: 'HoldFunds',
            data: { accountId: r.sourceAccount, transferId: w.transferId, amountMinor: r.amountMinor, currency: r.currency, now },
          });
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
      },
      (_, e) => ({ id: eventId(transferIdOf(e), 'hold'), correlationId: transferIdOf(e) }),
      true,
    );
    for (const w of work) {
      if (w.outcome?.kind === 'rejected') w.record.push({ type: 'RejectTransfer', data: { transferId: w.transferId, reason: w.outcome.reason, now } });
      else w.record.push({ type: 'MarkHeld', data: { transferId: w.transferId, now } });
    }
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

  const creditStep = async (candidates: Work[], accounts: AccountCache, now: Date): Promise<void> => {
    if (candidates.length === 0) return;
    // Recovery: a hold released before a crash (its credit had failed) must not be credited
    // now, even if the destination would take it today.
    await accounts.ensure(candidates.map((w) => w.transfer.state.request!.sourceAccount));
    const work: Work[] = [];
    for (const w of candidates) {
      if (accounts.get(w.transfer.state.request!.sourceAccount).state.releasedTransferIds.has(w.transferId)) {
        w.outcome = { kind: 'release', reason: releaseReason(w.transfer.state) };
      } else {
        work.push(w);
      }
    }
    if (work.length === 0) return;
    await accountStep(
      accounts,
      work.map((w) => w.transfer.state.request!.destinationAccount),
      (decide) => {
        for (const w of work) {
          const r = w.transfer.state.request!;
          const amountMinor = creditAmountMinor(w.transfer.state)!;
          const result = decide(r.destinationAccount, {
            type: 'CreditFunds',
            data: { accountId: r.destinationAccount, transferId: w.transferId, amountMinor, currency: r.currency, now },
          });
          w.outcome = result instanceof DomainError ? { kind: 'release', reason: 'CREDIT_FAILED' } : { kind: 'credited' };
        }
      },
      (_, e) => ({ id: eventId(transferIdOf(e), 'credit'), correlationId: transferIdOf(e) }),
      // A refused credit writes nothing; check it was refused on the account as it is now.
      true,
    );
    for (const w of work) {
      if (w.outcome?.kind === 'credited') w.record.push({ type: 'MarkCredited', data: { transferId: w.transferId, now } });
    }
  };

  /** Source side: debit what was credited (or is CREDITED already), release what must be. */
  const settleStep = async (all: Work[], accounts: AccountCache, now: Date): Promise<void> => {
    for (const w of all) {
      const s = w.transfer.state;
      if (w.outcome === undefined && s.status === 'CREDITED') w.outcome = { kind: 'credited' };
      if (w.outcome === undefined && s.status === 'HELD' && s.decision?.kind === 'void') {
        w.outcome = { kind: 'release', reason: s.decision.reason };
      }
    }
    const work = all.filter((w) => w.outcome?.kind === 'credited' || w.outcome?.kind === 'release');
    if (work.length === 0) return;
    await accountStep(
      accounts,
      work.map((w) => w.transfer.state.request!.sourceAccount),
      (decide) => {
        for (const w of work) {
          const r = w.transfer.state.request!;
          const outcome = w.outcome!;
          const command: AccountCommand =
            outcome.kind === 'release'
              ? { type: 'ReleaseHold', data: { accountId: r.sourceAccount, transferId: w.transferId, reason: outcome.reason, now } }
              : { type: 'DebitFunds', data: { accountId: r.sourceAccount, transferId: w.transferId, amountMinor: creditAmountMinor(w.transfer.state)!, now } };
          const result = decide(r.sourceAccount, command);
          if (result instanceof DomainError) throw result;
        }
      },
      (_, e) => ({ id: eventId(transferIdOf(e), e.type === 'HoldReleased' ? 'release' : 'debit'), correlationId: transferIdOf(e) }),
      false,
    );
    for (const w of work) {
      const outcome = w.outcome!;
      if (outcome.kind === 'release') w.record.push({ type: 'CancelTransfer', data: { transferId: w.transferId, reason: outcome.reason, now } });
      else w.record.push({ type: 'MarkCommitted', data: { transferId: w.transferId, now } });
    }
  };

  /** Every step and reason on the transfer's own stream, one append per transfer. */
  const recordStep = async (work: Work[], now: Date): Promise<void> => {
    const appends: StreamAppend[] = [];
    for (const w of work) {
      let state = w.transfer.state;
      const events: TransferEvent[] = [];
      for (const command of w.record) {
        const decided = decideTransfer({ ...command, data: { ...command.data, now } } as TransferCommand, state);
        for (const e of decided) state = evolveTransfer(state, e);
        events.push(...decided);
      }
      w.transfer = { ...w.transfer, state };
      if (events.length === 0) continue;
      appends.push({
        streamName: transferStream(w.transferId),
        expectedRevision: w.transfer.revision,
        events: events.map((event) =>
          toEventToAppend({ id: eventId(w.transferId, event.type), event, correlationId: w.transferId, causationId: w.causationId }),
        ),
      });
    }
    await appendStep(store, appends, faults);
  };

  /** Pending transfers waiting in HELD are indexed by expiry time. */
  const indexExpiries = async (held: Work[]): Promise<void> => {
    if (held.length === 0) return;
    await pool.query(
      `insert into ledger_pending_expiries (transfer_id, expires_at)
       select * from unnest($1::text[], $2::timestamptz[]) on conflict (transfer_id) do nothing`,
      [held.map((w) => w.transferId), held.map((w) => w.transfer.state.request!.expiresAt!.toISOString())],
    );
  };

  const unindexFinished = async (work: Work[]): Promise<void> => {
    const finished = work
      .filter((w) => w.transfer.state.request!.mode === 'pending' && isTerminalTransferStatus(w.transfer.state.status))
      .map((w) => w.transferId);
    if (finished.length > 0) {
      await pool.query('delete from ledger_pending_expiries where transfer_id = any($1::text[])', [finished]);
    }
  };

  return runLeased({
    pool,
    name,
    restartOnError: options.restartOnError ?? true,
    leaseTtlMs: options.leaseTtlMs,
    onError: (err, delayMs) => log.error({ err, delayMs }, 'transfer process failed; restarting from its checkpoint'),
    async start() {
      const accounts = new AccountCache(store);
      const after = await loadCheckpoint(pool, name);
      // Events up to here may have been worked before a crash: read their transfers' streams.
      const recoveryUntil = await store.headPosition();
      return store.subscribe({
        after,
        maxBatchSize: options.maxBatchSize ?? defaultProcessBatchSize,
        handler: async (events) => {
          await workBatch(events, recoveryUntil, accounts);
          faults.check('before-checkpoint');
          await saveCheckpoint(pool, name, events[events.length - 1].position);
        },
      });
    },
  });
}

function releaseReason(state: TransferState): TransferCancelReason {
  return state.decision?.kind === 'void' ? state.decision.reason : 'CREDIT_FAILED';
}

function transferIdOf(e: AccountEvent): string {
  if ('transferId' in e.data) return e.data.transferId;
  throw new Error(`${e.type} carries no transfer id`);
}
