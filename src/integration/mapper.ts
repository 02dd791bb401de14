/**
 * Domain events → integration events. Pure: given a recorded event and the state its
 * stream had just before it (an account's view, a transfer's state), it returns the
 * messages to publish and the state after the event. No store, clock or broker.
 *
 * A transfer message carries the Transfer as the API shows it after that event; a
 * balance-changed message carries the balance after it, at its position.
 */
import type { AccountEvent, Overdraft } from '../domain/account';
import { type JsonObject, parseAccountEvent, parseTransferEvent } from '../domain/events';
import { formatAmount } from '../domain/money';
import { evolveTransfer, initialTransferState, type TransferEvent, type TransferState } from '../domain/transfer';
import type { RecordedEvent } from '../eventstore/port';
import { type AccountJson, balanceJson, type BalanceJson, overdraftText, transferFromState } from '../api/format';
import { type BalanceMovement, integrationEvents, type IntegrationEventType } from './messages';

/** What the bridge keeps of an account: enough for its messages, without the per-transfer sets. */
export interface AccountView {
  readonly id: string;
  readonly currency: string;
  readonly status: 'open' | 'frozen' | 'closed';
  readonly overdraft: Overdraft;
  readonly metadata: JsonObject;
  readonly createdAt: Date;
  readonly postedMinor: bigint;
  readonly heldMinor: bigint;
}

/** One message to publish, before it is dressed as a CloudEvent. */
export interface IntegrationEvent {
  type: IntegrationEventType;
  /** The partition key: the account id (the source account for transfer messages). */
  key: string;
  /** CloudEvents subject: the account id, or the transfer id. */
  subject: string;
  data: object;
  /** The domain event it comes from. */
  source: RecordedEvent;
}

export class IntegrationMappingError extends Error {
  override readonly name = 'IntegrationMappingError';
  constructor(event: RecordedEvent, why: string) {
    super(
      `event ${event.id} (${event.type}, ${event.streamName}@${event.revision}, position ${event.position}): ${why}`,
    );
  }
}

/**
 * Checks a message against its type's schema before it leaves (about 2 µs): the contract
 * consumers rely on is enforced here, not only in tests. A failure is a bug in the ledger,
 * so it stops the bridge loudly rather than publish a message that breaks a consumer.
 */
function checked(message: IntegrationEvent): IntegrationEvent {
  const result = integrationEvents[message.type].data.safeParse(message.data);
  if (!result.success) {
    const issues = result.error.issues.map((i) => `${i.path.join('.') || '(data)'}: ${i.message}`).join('; ');
    throw new IntegrationMappingError(message.source, `${message.type} breaks its schema: ${issues}`);
  }
  return message;
}

// ---- accounts -------------------------------------------------------------------------

export function evolveAccountView(view: AccountView | undefined, event: AccountEvent): AccountView | undefined {
  if (event.type === 'AccountOpened') {
    const d = event.data;
    return {
      id: d.accountId,
      currency: d.currency,
      status: 'open',
      overdraft: d.overdraft,
      metadata: d.metadata,
      createdAt: d.openedAt,
      postedMinor: 0n,
      heldMinor: 0n,
    };
  }
  if (view === undefined) return undefined;
  switch (event.type) {
    case 'FundsHeld':
      return { ...view, heldMinor: view.heldMinor + event.data.amountMinor };
    case 'HoldReleased':
      return { ...view, heldMinor: view.heldMinor - event.data.amountMinor };
    case 'FundsDebited': {
      const { amountMinor, releasedMinor } = event.data;
      return {
        ...view,
        postedMinor: view.postedMinor - amountMinor,
        heldMinor: view.heldMinor - amountMinor - releasedMinor,
      };
    }
    case 'FundsCredited':
      return { ...view, postedMinor: view.postedMinor + event.data.amountMinor };
    case 'AccountFrozen':
      return { ...view, status: 'frozen' };
    case 'AccountUnfrozen':
      return { ...view, status: 'open' };
    case 'AccountClosed':
      return { ...view, status: 'closed' };
    default: {
      const _exhaustive: never = event;
      return _exhaustive;
    }
  }
}

function balanceOf(view: AccountView, asOf: Date, position: bigint): BalanceJson {
  const { id: accountId, currency, postedMinor, heldMinor } = view;
  return balanceJson({ accountId, currency, postedMinor, heldMinor, asOf, position });
}

function accountJson(view: AccountView, recorded: RecordedEvent, asOf: Date): AccountJson {
  return {
    id: view.id,
    currency: view.currency,
    status: view.status,
    overdraft: overdraftText(view.overdraft, view.currency),
    balance: balanceOf(view, asOf, recorded.position),
    metadata: view.metadata,
    createdAt: view.createdAt.toISOString(),
    version: Number(recorded.revision),
  };
}

const accountLifecycleTypes = {
  AccountOpened: 'ledger.account.opened.v1',
  AccountFrozen: 'ledger.account.frozen.v1',
  AccountUnfrozen: 'ledger.account.unfrozen.v1',
  AccountClosed: 'ledger.account.closed.v1',
} as const satisfies Partial<Record<AccountEvent['type'], IntegrationEventType>>;

const movements = {
  FundsHeld: 'held',
  HoldReleased: 'released',
  FundsDebited: 'debited',
  FundsCredited: 'credited',
} as const satisfies Partial<Record<AccountEvent['type'], BalanceMovement>>;

/** The messages of one account event, and the account's view after it. */
export function mapAccountEvent(
  recorded: RecordedEvent,
  before: AccountView | undefined,
): { view: AccountView; messages: IntegrationEvent[] } {
  const event = parseAccountEvent(recorded);
  const view = evolveAccountView(before, event);
  if (view === undefined) throw new IntegrationMappingError(recorded, 'the account has no AccountOpened before it');
  const at = event.type === 'AccountOpened' ? event.data.openedAt : event.data.at;
  const message = (type: IntegrationEventType, data: object): IntegrationEvent =>
    checked({ type, key: view.id, subject: view.id, data, source: recorded });
  if (event.type in accountLifecycleTypes) {
    const type = accountLifecycleTypes[event.type as keyof typeof accountLifecycleTypes];
    return { view, messages: [message(type, accountJson(view, recorded, at))] };
  }
  const movement = movements[event.type as keyof typeof movements];
  const move = event.data as { transferId: string; amountMinor: bigint; releasedMinor?: bigint };
  const released = move.releasedMinor ?? 0n;
  const data = {
    ...balanceOf(view, at, recorded.position),
    transferId: move.transferId,
    movement,
    amount: formatAmount(move.amountMinor, view.currency),
    ...(released > 0n && { released: formatAmount(released, view.currency) }),
  };
  return { view, messages: [message('ledger.account.balance-changed.v1', data)] };
}

// ---- transfers ------------------------------------------------------------------------

const transferTypes = {
  TransferRequested: 'ledger.transfer.requested.v1',
  TransferHeld: 'ledger.transfer.held.v1',
  TransferCredited: 'ledger.transfer.credited.v1',
  TransferCommitted: 'ledger.transfer.committed.v1',
  TransferRejected: 'ledger.transfer.rejected.v1',
  TransferCancelled: 'ledger.transfer.cancelled.v1',
  // A client's commit or void decision is internal: the steps it leads to are published.
  TransferCommitRequested: null,
  TransferVoidRequested: null,
} as const satisfies Record<TransferEvent['type'], IntegrationEventType | null>;

/** The messages of one transfer event, and the transfer's state after it. */
export function mapTransferEvent(
  recorded: RecordedEvent,
  before: TransferState | undefined,
): { state: TransferState; messages: IntegrationEvent[] } {
  const event = parseTransferEvent(recorded);
  if ((before === undefined || before.request === null) && event.type !== 'TransferRequested') {
    throw new IntegrationMappingError(recorded, 'the transfer has no TransferRequested before it');
  }
  const state = evolveTransfer(before ?? initialTransferState(), event);
  const type = transferTypes[event.type];
  if (type === null) return { state, messages: [] };
  const transfer = transferFromState(state);
  return {
    state,
    messages: [checked({ type, key: transfer.sourceAccount, subject: transfer.id, data: transfer, source: recorded })],
  };
}
