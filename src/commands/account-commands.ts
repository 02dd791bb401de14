import { randomUUID } from 'node:crypto';
import {
  type AccountCommand,
  type AccountState,
  decideAccount,
  evolveAccount,
  type Overdraft,
} from '../domain/account';
import type { JsonObject } from '../domain/events';
import { accountStream } from '../domain/streams';
import { type EventStore, WrongExpectedRevision } from '../eventstore/port';
import { loadAccount, toEventToAppend } from './aggregates';

/** A command racing other writers on one account is retried this often. */
export const maxCommandAttempts = 10;

export interface AccountResult {
  state: AccountState;
  /** Revision of the account's stream after the command. */
  revision: bigint;
  /** Event-store position of the write, or of the last event read when nothing was written. */
  position: bigint;
  /** False when the command changed nothing (already open with the same attributes, already frozen, ...). */
  changed: boolean;
}

/**
 * Runs a command on one account: load, decide, append with the revision decided on; if
 * another writer got there first, do it again on the fresh state.
 */
export async function executeAccountCommand(store: EventStore, command: AccountCommand): Promise<AccountResult> {
  const { accountId } = command.data;
  for (let attempt = 1; ; attempt++) {
    const loaded = await loadAccount(store, accountId);
    const events = decideAccount(command, loaded.state);
    if (events.length === 0) {
      if (typeof loaded.revision !== 'bigint')
        throw new Error(`account ${accountId}: nothing decided for an empty stream`);
      return { state: loaded.state, revision: loaded.revision, position: loaded.position, changed: false };
    }
    try {
      const written = await store.append(
        accountStream(accountId),
        events.map((event) => toEventToAppend({ id: randomUUID(), event, correlationId: accountId })),
        loaded.revision,
      );
      const state = events.reduce(evolveAccount, loaded.state);
      return { state, revision: written.nextRevision, position: written.position, changed: true };
    } catch (err) {
      if (!(err instanceof WrongExpectedRevision) || attempt >= maxCommandAttempts) throw err;
    }
  }
}

export interface OpenAccountInput {
  accountId: string;
  currency: string;
  overdraft: Overdraft;
  metadata?: JsonObject;
  now: Date;
}

export function openAccount(store: EventStore, input: OpenAccountInput): Promise<AccountResult> {
  return executeAccountCommand(store, { type: 'OpenAccount', data: input });
}

export function freezeAccount(store: EventStore, accountId: string, now: Date): Promise<AccountResult> {
  return executeAccountCommand(store, { type: 'FreezeAccount', data: { accountId, now } });
}

export function unfreezeAccount(store: EventStore, accountId: string, now: Date): Promise<AccountResult> {
  return executeAccountCommand(store, { type: 'UnfreezeAccount', data: { accountId, now } });
}

export function closeAccount(store: EventStore, accountId: string, now: Date): Promise<AccountResult> {
  return executeAccountCommand(store, { type: 'CloseAccount', data: { accountId, now } });
}
