import { type CloudEvent, Kafka as CloudEventsKafka } from 'cloudevents';
import type { AccountEvent } from '../../src/domain/account';
import { EventDecodeError } from '../../src/domain/errors';
import { type LedgerEvent, schemaMetadata, serializeEvent } from '../../src/domain/events';
import { accountStream, transferStream } from '../../src/domain/streams';
import type { TransferEvent } from '../../src/domain/transfer';
import type { RecordedEvent } from '../../src/eventstore/port';
import {
  type AccountView,
  IntegrationMappingError,
  mapAccountEvent,
  mapTransferEvent,
} from '../../src/integration/mapper';
import { integrationEvents } from '../../src/integration/messages';
import { produceRequests, maxProduceMessages, toKafkaMessage } from '../../src/integration/producer';
import { defaultTopics } from '../../src/integration/settings';

const t0 = new Date('2026-01-02T03:04:05.000Z');
const later = (ms: number) => new Date(t0.getTime() + ms);
let position = 100n;

function recorded(streamName: string, revision: bigint, event: LedgerEvent): RecordedEvent {
  const { type, data } = serializeEvent(event);
  position += 1n;
  return {
    id: `00000000-0000-4000-8000-${position.toString().padStart(12, '0')}`,
    type,
    data,
    metadata: schemaMetadata(),
    streamName,
    revision,
    position,
    createdAt: later(Number(position)),
  };
}

/** Folds account events through the mapper, returning every message and the last view. */
function mapAccount(events: AccountEvent[]) {
  let view: AccountView | undefined;
  const messages = events.flatMap((event, i) => {
    const result = mapAccountEvent(recorded(accountStream('alice'), BigInt(i), event), view);
    view = result.view;
    return result.messages;
  });
  return { messages, view };
}

function mapTransfer(events: TransferEvent[]) {
  let state: ReturnType<typeof mapTransferEvent>['state'] | undefined;
  return events.flatMap((event, i) => {
    const result = mapTransferEvent(recorded(transferStream('t1'), BigInt(i), event), state);
    state = result.state;
    return result.messages;
  });
}

const opened: AccountEvent = {
  type: 'AccountOpened',
  data: {
    accountId: 'alice',
    currency: 'EUR',
    overdraft: { kind: 'limit', limitMinor: 5_000n },
    metadata: { tier: 'gold' },
    openedAt: t0,
  },
};
const move = (type: 'FundsHeld' | 'FundsCredited', transferId: string, amountMinor: bigint): AccountEvent =>
  ({ type, data: { accountId: 'alice', transferId, amountMinor, at: later(1) } }) as AccountEvent;

describe('account events → integration events', () => {
  it('opened, frozen, unfrozen and closed carry the Account as the API shows it', () => {
    const at = later(5);
    const { messages } = mapAccount([
      opened,
      { type: 'AccountFrozen', data: { accountId: 'alice', at } },
      { type: 'AccountUnfrozen', data: { accountId: 'alice', at } },
      { type: 'AccountClosed', data: { accountId: 'alice', at } },
    ]);
    expect(messages.map((m) => [m.type, m.key, m.subject])).toEqual([
      ['ledger.account.opened.v1', 'alice', 'alice'],
      ['ledger.account.frozen.v1', 'alice', 'alice'],
      ['ledger.account.unfrozen.v1', 'alice', 'alice'],
      ['ledger.account.closed.v1', 'alice', 'alice'],
    ]);
    expect(messages[0].data).toEqual({
      id: 'alice',
      currency: 'EUR',
      status: 'open',
      overdraft: '50.00',
      balance: {
        accountId: 'alice',
        currency: 'EUR',
        posted: '0.00',
        held: '0.00',
        available: '0.00',
        asOf: t0.toISOString(),
        position: messages[0].source.position.toString(),
      },
      metadata: { tier: 'gold' },
      createdAt: t0.toISOString(),
      version: 0,
    });
    expect(messages.map((m) => (m.data as { status: string }).status)).toEqual(['open', 'frozen', 'open', 'closed']);
    for (const m of messages) expect(integrationEvents[m.type].data.safeParse(m.data).error).toBeUndefined();
  });

  it('every money event is a balance-changed with the balances after it and the transfer behind it', () => {
    const { messages, view } = mapAccount([
      opened,
      move('FundsCredited', 't1', 10_000n),
      move('FundsHeld', 't2', 2_500n),
      {
        type: 'FundsDebited',
        data: { accountId: 'alice', transferId: 't2', amountMinor: 2_000n, releasedMinor: 500n, at: later(2) },
      },
      move('FundsHeld', 't3', 1_000n),
      {
        type: 'HoldReleased',
        data: { accountId: 'alice', transferId: 't3', amountMinor: 1_000n, reason: 'VOIDED', at: later(3) },
      },
    ]);
    const changes = messages.slice(1).map((m) => {
      const d = m.data as Record<string, string>;
      return [d.movement, d.transferId, d.amount, d.released, d.posted, d.held, d.available];
    });
    expect(changes).toEqual([
      ['credited', 't1', '100.00', undefined, '100.00', '0.00', '100.00'],
      ['held', 't2', '25.00', undefined, '100.00', '25.00', '75.00'],
      ['debited', 't2', '20.00', '5.00', '80.00', '0.00', '80.00'],
      ['held', 't3', '10.00', undefined, '80.00', '10.00', '70.00'],
      ['released', 't3', '10.00', undefined, '80.00', '0.00', '80.00'],
    ]);
    expect(view).toMatchObject({ postedMinor: 8_000n, heldMinor: 0n });
    for (const m of messages.slice(1)) {
      expect(m.type).toBe('ledger.account.balance-changed.v1');
      expect((m.data as { position: string }).position).toBe(m.source.position.toString());
      expect(integrationEvents[m.type].data.safeParse(m.data).error).toBeUndefined();
    }
  });

  it('a money event on an account never opened is refused, naming the event', () => {
    expect(() =>
      mapAccountEvent(recorded(accountStream('alice'), 0n, move('FundsCredited', 't1', 1n)), undefined),
    ).toThrow(IntegrationMappingError);
  });

  it('a stored event that does not decode stops the mapping', () => {
    const bad = {
      ...recorded(accountStream('alice'), 1n, move('FundsCredited', 't1', 1n)),
      data: { amountMinor: 'x' },
    };
    expect(() => mapAccountEvent(bad, mapAccount([opened]).view)).toThrow(EventDecodeError);
  });
});

const requested: TransferEvent = {
  type: 'TransferRequested',
  data: {
    transferId: 't1',
    sourceAccount: 'alice',
    destinationAccount: 'bob',
    amountMinor: 1_250n,
    currency: 'EUR',
    mode: 'pending',
    description: 'order 1001',
    requestedAt: t0,
    expiresAt: later(300_000),
  },
};

describe('transfer events → integration events', () => {
  it('each step carries the Transfer as the API shows it then, keyed by the source account', () => {
    const messages = mapTransfer([
      requested,
      { type: 'TransferHeld', data: { transferId: 't1', at: later(1) } },
      { type: 'TransferCommitRequested', data: { transferId: 't1', amountMinor: 1_250n, at: later(2) } },
      { type: 'TransferCredited', data: { transferId: 't1', amountMinor: 1_250n, at: later(3) } },
      { type: 'TransferCommitted', data: { transferId: 't1', amountMinor: 1_250n, at: later(4) } },
    ]);
    // The client's commit decision is internal: no message of its own.
    expect(messages.map((m) => [m.type, m.key, m.subject])).toEqual([
      ['ledger.transfer.requested.v1', 'alice', 't1'],
      ['ledger.transfer.held.v1', 'alice', 't1'],
      ['ledger.transfer.credited.v1', 'alice', 't1'],
      ['ledger.transfer.committed.v1', 'alice', 't1'],
    ]);
    expect(messages[3].data).toEqual({
      id: 't1',
      sourceAccount: 'alice',
      destinationAccount: 'bob',
      amount: '12.50',
      currency: 'EUR',
      mode: 'pending',
      status: 'COMMITTED',
      description: 'order 1001',
      createdAt: t0.toISOString(),
      updatedAt: later(4).toISOString(),
      expiresAt: later(300_000).toISOString(),
      steps: [
        { status: 'REQUESTED', at: t0.toISOString() },
        { status: 'HELD', at: later(1).toISOString() },
        { status: 'CREDITED', at: later(3).toISOString() },
        { status: 'COMMITTED', at: later(4).toISOString() },
      ],
    });
    for (const m of messages) expect(integrationEvents[m.type].data.safeParse(m.data).error).toBeUndefined();
  });

  it('rejected and cancelled carry their reason', () => {
    const rejected = mapTransfer([
      requested,
      { type: 'TransferRejected', data: { transferId: 't1', reason: 'INSUFFICIENT_FUNDS', at: later(1) } },
    ]);
    expect(rejected[1]).toMatchObject({
      type: 'ledger.transfer.rejected.v1',
      data: { status: 'REJECTED', reason: 'INSUFFICIENT_FUNDS' },
    });
    const cancelled = mapTransfer([
      requested,
      { type: 'TransferHeld', data: { transferId: 't1', at: later(1) } },
      { type: 'TransferVoidRequested', data: { transferId: 't1', reason: 'EXPIRED', at: later(2) } },
      { type: 'TransferCancelled', data: { transferId: 't1', reason: 'EXPIRED', at: later(3) } },
    ]);
    expect(cancelled.map((m) => m.type)).toEqual([
      'ledger.transfer.requested.v1',
      'ledger.transfer.held.v1',
      'ledger.transfer.cancelled.v1',
    ]);
    expect(cancelled[2].data).toMatchObject({ status: 'CANCELLED', reason: 'EXPIRED' });
  });

  it('a message that would break its published schema stops the mapping, naming the field', () => {
    // The domain takes any non-empty id; the published Transfer promises the API's id rule.
    const odd = { ...requested, data: { ...requested.data, transferId: 'has space' } } as TransferEvent;
    expect(() => mapTransferEvent(recorded(transferStream('has space'), 0n, odd), undefined)).toThrow(
      /ledger\.transfer\.requested\.v1 breaks its schema: id: /,
    );
  });

  it('a step without its request is refused', () => {
    const held = recorded(transferStream('t1'), 1n, { type: 'TransferHeld', data: { transferId: 't1', at: t0 } });
    expect(() => mapTransferEvent(held, undefined)).toThrow(IntegrationMappingError);
  });
});

describe('the Kafka message', () => {
  it('is a binary-mode CloudEvent with the ledger headers, keyed and routed by type', () => {
    const [message] = mapTransfer([requested]);
    const kafka = toKafkaMessage(message, { topics: defaultTopics, source: '/ledger' });
    expect(kafka).toEqual({
      topic: 'ledger.transfers',
      key: 'alice',
      value: JSON.stringify(message.data),
      timestamp: String(message.source.createdAt.getTime()),
      headers: {
        'content-type': 'application/json',
        ce_specversion: '1.0',
        ce_id: message.source.id,
        ce_type: 'ledger.transfer.requested.v1',
        ce_source: '/ledger',
        ce_subject: 't1',
        ce_time: message.source.createdAt.toISOString(),
        ledger_stream: 'transfer-t1',
        ledger_revision: '0',
        ledger_position: message.source.position.toString(),
      },
    });
  });

  it('reads back with the CloudEvents SDK as the event it publishes', () => {
    const [message] = mapTransfer([requested]);
    const kafka = toKafkaMessage(message, { topics: defaultTopics, source: '/ledger' });
    const event = CloudEventsKafka.toEvent({ ...kafka, body: kafka.value });
    expect(Array.isArray(event)).toBe(false);
    expect(event).toMatchObject({
      specversion: '1.0',
      id: message.source.id,
      type: 'ledger.transfer.requested.v1',
      source: '/ledger',
      subject: 't1',
      time: message.source.createdAt.toISOString(),
      datacontenttype: 'application/json',
      partitionkey: 'alice',
      data: message.data,
    });
    expect(() => (event as CloudEvent).validate()).not.toThrow();
  });

  it('produce requests keep the order and stay within the caps', () => {
    const [message] = mapTransfer([requested]);
    const one = toKafkaMessage(message, { topics: defaultTopics, source: '/ledger' });
    const messages = Array.from({ length: 2_500 }, (_, i) => ({ ...one, key: `k${i}` }));
    const requests = produceRequests(messages);
    expect(requests.flat().map((m) => m.key)).toEqual(messages.map((m) => m.key));
    expect(Math.max(...requests.map((r) => r.length))).toBeLessThanOrEqual(maxProduceMessages);
    expect(requests.length).toBeGreaterThan(2);
  });
});
