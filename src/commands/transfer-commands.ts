import { createHash, randomUUID } from 'node:crypto';
import { DomainError } from '../domain/errors';
import { canonicalJson, type JsonObject, type JsonValue } from '../domain/events';
import { transferStream } from '../domain/streams';
import {
  decideTransfer,
  evolveTransfer,
  initialTransferState,
  type TransferCommand,
  type TransferMode,
  type TransferState,
} from '../domain/transfer';
import {
  type EventStore,
  type EventToAppend,
  NO_STREAM,
  type StreamAppend,
  WrongExpectedRevision,
} from '../eventstore/port';
import { AccountDirectory } from './account-directory';
import { GroupCommit } from './group-commit';
import type { ProcessBacklog } from './process-backlog';
import { maxCommandAttempts } from './account-commands';
import { loadTransfer, toEventToAppend } from './aggregates';

export const maxBatchTransfers = 1_000;
export const maxIdempotencyKeyLength = 255;
/** Conflicts (an id or key already used) tolerated in one batch append before going item by item. */
const maxBatchConflictRounds = 3;
/** Transfer requests waiting for the append in flight before new ones are refused (503 OVERLOADED). */
export const maxWaitingRequests = 20_000;
const maxParallelResolutions = 16;
export const idempotencyStreamPrefix = 'idempotency-';

export interface TransferRequestInput {
  /** Client-chosen id; generated when absent. */
  transferId?: string;
  sourceAccount: string;
  destinationAccount: string;
  amountMinor: bigint;
  /** When given it must be the accounts' currency. */
  currency?: string;
  description?: string;
  metadata?: JsonObject;
  mode?: TransferMode;
  timeoutSeconds?: number;
  idempotencyKey?: string;
}

export interface AcceptedTransfer {
  transferId: string;
  state: TransferState;
  /** Position of the TransferRequested event (or of the last event read, on a replay). */
  position: bigint;
  /** True when an earlier request made this transfer (same key, or same id). */
  replayed: boolean;
}

export type TransferRequestOutcome = { ok: true; transfer: AcceptedTransfer } | { ok: false; error: DomainError };

interface Prepared {
  index: number;
  transferId: string;
  /** With an idempotency key: its stream, and the request's fingerprint that the claim records. */
  key?: { stream: string; fingerprint: string };
  appends: StreamAppend[];
  state: TransferState;
  /** Set once stored. */
  position?: bigint;
}

/** The stream that claims an idempotency key for one transfer, per caller scope. */
export function idempotencyStream(scope: string, key: string): string {
  return idempotencyStreamPrefix + createHash('sha256').update(`${scope}\u0000${key}`).digest('hex');
}

/** A hash of the request as the client meant it (ids the server generates left out). */
export function requestFingerprint(input: TransferRequestInput): string {
  const body: Record<string, JsonValue> = {
    sourceAccount: input.sourceAccount,
    destinationAccount: input.destinationAccount,
    amountMinor: input.amountMinor.toString(),
    mode: input.mode ?? 'immediate',
  };
  if (input.transferId !== undefined) body.transferId = input.transferId;
  if (input.currency !== undefined) body.currency = input.currency;
  if (input.description !== undefined) body.description = input.description;
  if (input.metadata !== undefined) body.metadata = input.metadata;
  if (input.timeoutSeconds !== undefined) body.timeoutSeconds = input.timeoutSeconds;
  return createHash('sha256').update(canonicalJson(body)).digest('hex');
}

export interface TransferCommandsOptions {
  clock?: () => Date;
  /** Admission control: each write waits while the transfer process is this far behind. */
  backlog?: ProcessBacklog;
}

/**
 * INGRESS: validates what can be known without the transfer process (shape, both accounts
 * exist, one currency), then stores TransferRequested in a new transfer stream, and the
 * idempotency key's claim in the same atomic append where the store allows it.
 */
export class TransferCommands {
  private readonly directory: AccountDirectory;
  private readonly ingress: GroupCommit<Prepared, Set<Prepared>>;

  private readonly clock: () => Date;
  private readonly backlog: ProcessBacklog | undefined;

  constructor(
    private readonly store: EventStore,
    options: TransferCommandsOptions = {},
  ) {
    this.clock = options.clock ?? (() => new Date());
    this.backlog = options.backlog;
    this.directory = new AccountDirectory(store);
    this.ingress = new GroupCommit((prepared) => this.storeTogether(prepared), maxBatchTransfers, maxWaitingRequests);
  }

  async requestTransfer(input: TransferRequestInput, scope = 'public'): Promise<AcceptedTransfer> {
    const [outcome] = await this.requestTransfers([input], scope);
    if (!outcome.ok) throw outcome.error;
    return outcome.transfer;
  }

  /** Each item is accepted or rejected on its own; the accepted ones are stored in one round trip. */
  async requestTransfers(inputs: TransferRequestInput[], scope = 'public'): Promise<TransferRequestOutcome[]> {
    if (inputs.length === 0 || inputs.length > maxBatchTransfers) {
      throw new DomainError('INVALID_COMMAND', `a batch holds 1 to ${maxBatchTransfers} transfers`);
    }
    const now = this.clock();
    const outcomes: TransferRequestOutcome[] = new Array(inputs.length);
    const currencies = await this.directory.currenciesOf(
      inputs.flatMap((i) => [i.sourceAccount, i.destinationAccount]),
    );
    const prepared: Prepared[] = [];
    inputs.forEach((input, index) => {
      try {
        prepared.push(this.prepare(input, index, scope, currencies, now));
      } catch (err) {
        if (!(err instanceof DomainError)) throw err;
        outcomes[index] = { ok: false, error: err };
      }
    });

    const conflicted = await this.storeRequests(prepared);
    for (const p of prepared) {
      if (!conflicted.has(p))
        outcomes[p.index] = {
          ok: true,
          transfer: { transferId: p.transferId, state: p.state, position: p.position!, replayed: false },
        };
    }
    const resolving = prepared.filter((p) => conflicted.has(p));
    for (let i = 0; i < resolving.length; i += maxParallelResolutions) {
      await Promise.all(
        resolving.slice(i, i + maxParallelResolutions).map(async (p) => {
          try {
            outcomes[p.index] = { ok: true, transfer: await this.resolveConflict(p) };
          } catch (err) {
            if (!(err instanceof DomainError)) throw err;
            outcomes[p.index] = { ok: false, error: err };
          }
        }),
      );
    }
    return outcomes;
  }

  private prepare(
    input: TransferRequestInput,
    index: number,
    scope: string,
    currencies: Map<string, string>,
    now: Date,
  ): Prepared {
    const { sourceAccount, destinationAccount } = input;
    if (sourceAccount === destinationAccount) {
      throw new DomainError('SAME_ACCOUNT', 'source and destination must be different accounts');
    }
    for (const accountId of [sourceAccount, destinationAccount]) {
      if (!currencies.has(accountId)) {
        throw new DomainError('ACCOUNT_NOT_FOUND', `account ${accountId} does not exist`, { accountId });
      }
    }
    const currency = currencies.get(sourceAccount)!;
    if (currencies.get(destinationAccount) !== currency) {
      throw new DomainError(
        'CURRENCY_MISMATCH',
        `accounts ${sourceAccount} and ${destinationAccount} hold different currencies`,
      );
    }
    if (input.currency !== undefined && input.currency !== currency) {
      throw new DomainError('CURRENCY_MISMATCH', `the accounts hold ${currency}, not ${input.currency}`);
    }
    const key = input.idempotencyKey;
    if (key !== undefined && (key.length === 0 || key.length > maxIdempotencyKeyLength)) {
      throw new DomainError('INVALID_COMMAND', `an idempotency key has 1 to ${maxIdempotencyKeyLength} characters`);
    }
    const transferId = input.transferId ?? randomUUID();
    const command: TransferCommand = {
      type: 'RequestTransfer',
      data: {
        transferId,
        sourceAccount,
        destinationAccount,
        amountMinor: input.amountMinor,
        currency,
        mode: input.mode ?? 'immediate',
        now,
        ...(input.description !== undefined && { description: input.description }),
        ...(input.metadata !== undefined && { metadata: input.metadata }),
        ...(input.timeoutSeconds !== undefined && { timeoutSeconds: input.timeoutSeconds }),
      },
    };
    const events = decideTransfer(command, initialTransferState());
    const state = events.reduce(evolveTransfer, initialTransferState());
    const appends: StreamAppend[] = [];
    const claim =
      key === undefined ? undefined : { stream: idempotencyStream(scope, key), fingerprint: requestFingerprint(input) };
    if (claim)
      appends.push({
        streamName: claim.stream,
        expectedRevision: NO_STREAM,
        events: [keyClaim(transferId, claim.fingerprint)],
      });
    appends.push({
      streamName: transferStream(transferId),
      expectedRevision: NO_STREAM,
      events: events.map((event) =>
        toEventToAppend({
          id: randomUUID(),
          event,
          correlationId: transferId,
          ...(key !== undefined && { idempotencyKey: key }),
        }),
      ),
    });
    return { index, transferId, ...(claim && { key: claim }), appends, state };
  }

  /**
   * Stores the prepared requests; returns those whose id or key was already taken. With
   * multi-stream append, concurrent callers' requests share one call (group commit),
   * retried without the items that conflicted; otherwise each item's key claim goes
   * first, then its transfer stream.
   */
  private storeRequests(prepared: Prepared[]): Promise<Set<Prepared>> {
    return this.store.capabilities.multiStreamAppend ? this.ingress.submit(prepared) : this.storeOneByOne(prepared);
  }

  private async storeTogether(prepared: Prepared[]): Promise<Set<Prepared>> {
    await this.backlog?.admit();
    const conflicted = await this.storeAll(prepared);
    const stored = prepared.filter((p) => !conflicted.has(p) && p.position !== undefined);
    if (stored.length > 0) this.backlog?.accepted(maxOf(stored.map((p) => p.position!)), stored.length);
    return conflicted;
  }

  private async storeAll(prepared: Prepared[]): Promise<Set<Prepared>> {
    const conflicted = laterClaims(prepared);
    let remaining = prepared.filter((p) => !conflicted.has(p));
    for (let round = 0; remaining.length > 0 && round < maxBatchConflictRounds; round++) {
      try {
        const results = await this.store.appendMultiple(remaining.flatMap((p) => p.appends));
        let r = 0;
        for (const p of remaining) {
          r += p.appends.length;
          p.position = results[r - 1].position;
        }
        return conflicted;
      } catch (err) {
        if (!(err instanceof WrongExpectedRevision)) throw err;
        const culprit = remaining.find((p) => p.appends.some((a) => a.streamName === err.streamName));
        if (!culprit) throw err;
        conflicted.add(culprit);
        remaining = remaining.filter((p) => p !== culprit);
      }
    }
    for (const p of await this.storeOneByOne(remaining)) conflicted.add(p);
    return conflicted;
  }

  private async storeOneByOne(prepared: Prepared[]): Promise<Set<Prepared>> {
    const conflicted = laterClaims(prepared);
    await Promise.all(
      prepared.map(async (p) => {
        if (conflicted.has(p)) return;
        try {
          for (const a of p.appends)
            p.position = (await this.store.append(a.streamName, a.events, a.expectedRevision)).position;
        } catch (err) {
          if (!(err instanceof WrongExpectedRevision)) throw err;
          conflicted.add(p);
        }
      }),
    );
    return conflicted;
  }

  /** The id or the key was taken before: answer with what the earlier request made. */
  private async resolveConflict(p: Prepared): Promise<AcceptedTransfer> {
    let transferId = p.transferId;
    if (p.key) {
      const [claim] = await this.store.readStream(p.key.stream, { maxCount: 1 });
      if (claim) {
        if (claim.data.fingerprint !== p.key.fingerprint) {
          throw new DomainError('IDEMPOTENCY_KEY_REUSED', 'this idempotency key was used with a different request');
        }
        transferId = String(claim.data.transferId);
      }
    }
    const existing = await loadTransfer(this.store, transferId);
    if (existing.state.status === 'NONE') {
      // The key is claimed but its transfer is not stored yet: the first request is still
      // being accepted (or died between its two appends, where the store has no multi-stream append).
      throw new DomainError(
        'IDEMPOTENCY_KEY_IN_USE',
        'a request with this idempotency key is still being accepted; retry',
      );
    }
    return { transferId, state: existing.state, position: existing.position, replayed: true };
  }

  async getTransfer(transferId: string): Promise<AcceptedTransfer | null> {
    const loaded = await loadTransfer(this.store, transferId);
    if (loaded.state.status === 'NONE') return null;
    return { transferId, state: loaded.state, position: loaded.position, replayed: false };
  }

  commitTransfer(transferId: string, amountMinor?: bigint): Promise<AcceptedTransfer> {
    return this.decide(transferId, (now) => ({
      type: 'RequestCommit',
      data: { transferId, now, ...(amountMinor !== undefined && { amountMinor }) },
    }));
  }

  voidTransfer(transferId: string): Promise<AcceptedTransfer> {
    return this.decide(transferId, (now) => ({ type: 'RequestVoid', data: { transferId, now } }));
  }

  /**
   * Records the expiry of a pending transfer whose timeout has passed (the transfer process
   * then releases its hold); changes nothing for one that is not HELD and undecided, or not
   * yet due: `replayed` is then true.
   */
  expireTransfer(transferId: string): Promise<AcceptedTransfer> {
    return this.decide(transferId, (now) => ({ type: 'ExpireTransfer', data: { transferId, now } }));
  }

  /** A client's (or the reconciler's) decision on one transfer, retried on a concurrent write. */
  private async decide(transferId: string, command: (now: Date) => TransferCommand): Promise<AcceptedTransfer> {
    for (let attempt = 1; ; attempt++) {
      const loaded = await loadTransfer(this.store, transferId);
      if (loaded.state.status === 'NONE') {
        throw new DomainError('TRANSFER_NOT_FOUND', `transfer ${transferId} does not exist`, { transferId });
      }
      const events = decideTransfer(command(this.clock()), loaded.state);
      if (events.length === 0) return { transferId, state: loaded.state, position: loaded.position, replayed: true };
      try {
        const written = await this.store.append(
          transferStream(transferId),
          events.map((event) => toEventToAppend({ id: randomUUID(), event, correlationId: transferId })),
          loaded.revision,
        );
        const state = events.reduce(evolveTransfer, loaded.state);
        return { transferId, state, position: written.position, replayed: false };
      } catch (err) {
        if (!(err instanceof WrongExpectedRevision) || attempt >= maxCommandAttempts) throw err;
      }
    }
  }
}

/** Requests naming a transfer id or key that an earlier request of the same call names: they conflict with it. */
function laterClaims(prepared: Prepared[]): Set<Prepared> {
  const later = new Set<Prepared>();
  const claimed = new Set<string>();
  for (const p of prepared) {
    if (p.appends.some((a) => claimed.has(a.streamName))) later.add(p);
    else for (const a of p.appends) claimed.add(a.streamName);
  }
  return later;
}

function keyClaim(transferId: string, fingerprint: string): EventToAppend {
  return {
    id: randomUUID(),
    type: 'IdempotencyKeyClaimed',
    data: { transferId, fingerprint },
    metadata: { correlationId: transferId },
  };
}

function maxOf(positions: bigint[]): bigint {
  return positions.reduce((a, b) => (b > a ? b : a));
}
