import { availableMinor, evolveAccount, initialAccountState } from '../domain/account';
import { parseAccountEvent } from '../domain/events';
import { accountStream } from '../domain/streams';
import type { EventStore } from '../eventstore/port';
import { readWholeStream } from '../commands/aggregates';

export interface PointInTimeBalance {
  accountId: string;
  currency: string;
  postedMinor: bigint;
  heldMinor: bigint;
  availableMinor: bigint;
  asOf: Date;
  /** Position of the last event included; 0n when none. */
  position: bigint;
}

function eventTime(e: ReturnType<typeof parseAccountEvent>): Date {
  return e.type === 'AccountOpened' ? e.data.openedAt : e.data.at;
}

/**
 * An account's balance as it stood at `asOf`, folded from its own events (not from a read
 * model): the events up to the first one whose time is after `asOf`. The stream's order is
 * the truth, so the result is always a state the account really passed through.
 * Null when the account did not exist yet.
 */
export async function balanceAsOf(
  store: EventStore,
  accountId: string,
  asOf: Date,
): Promise<PointInTimeBalance | null> {
  let state = initialAccountState();
  let position = 0n;
  for (const recorded of await readWholeStream(store, accountStream(accountId))) {
    const event = parseAccountEvent(recorded);
    if (eventTime(event).getTime() > asOf.getTime()) break;
    state = evolveAccount(state, event);
    position = recorded.position;
  }
  if (state.status === 'none' || state.currency === null) return null;
  return {
    accountId,
    currency: state.currency,
    postedMinor: state.postedMinor,
    heldMinor: state.heldMinor,
    availableMinor: availableMinor(state),
    asOf,
    position,
  };
}
