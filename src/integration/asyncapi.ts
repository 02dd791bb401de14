/**
 * The AsyncAPI 3.0 document of what the Kafka bridge publishes (GET /asyncapi.json), built
 * from the catalogue of integration events (messages.ts) and the bridge's settings: a
 * channel per topic, a message per published type with its headers (CloudEvents, Kafka
 * protocol binding, binary mode), its key and its data, and an example of each. The data
 * schemas are the named ones of json-schemas.ts (draft-07, AsyncAPI 3's default schema
 * format), shared by the messages through components.schemas.
 */
import { accountIdPattern } from '../domain/account';
import { accountStream, transferStream } from '../domain/streams';
import { dataSchemaName, namedEventSchemas } from './json-schemas';
import {
  cloudEventsSpecVersion,
  type IntegrationEventType,
  integrationEvents,
  integrationEventTypes,
  ledgerHeaders,
  type TopicRole,
} from './messages';
import type { BridgeSettings } from './settings';

export const asyncApiPath = '/asyncapi.json';

export type AsyncApiSettings = Pick<BridgeSettings, 'topics' | 'partitions' | 'source' | 'eventTypes'> & {
  /** host:port of each bootstrap broker; absent: the document names no servers. */
  brokers?: readonly string[];
};

type Json = Record<string, unknown>;

/** The contract's version: a breaking change to a type is a new type (.v2), not a new document version. */
const documentVersion = '1.0.0';
const kafkaBindingVersion = '0.5.0';
const dataContentType = 'application/json';

const wholeNumberText = { type: 'string', pattern: '^(0|[1-9][0-9]*)$' };
const idText = { type: 'string', pattern: accountIdPattern.source };

const schemaRef = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const messageRef = (type: IntegrationEventType) => ({ $ref: `#/components/messages/${type}` });

// ---- the channels ---------------------------------------------------------------------

const channels: Readonly<Record<TopicRole, { operationId: string; description: string; key: string }>> = {
  transfers: {
    operationId: 'publishTransferEvents',
    description:
      'Every step of every transfer: the Transfer as GET /v1/transfers/{id} shows it after the step. Keyed by ' +
      'the source account.',
    key: "The transfer's source account id: a source account's transfers are on one partition, in event-store order.",
  },
  accounts: {
    operationId: 'publishAccountEvents',
    description:
      'Every change to an account: its life (opened, frozen, unfrozen, closed) as the Account, and each change to ' +
      'its balance as BalanceChanged. Keyed by the account.',
    key: "The account's id: every message about an account is on one partition, in the order of its events.",
  },
};

const channelRoles = Object.keys(channels) as TopicRole[];

// ---- the messages ---------------------------------------------------------------------

/** "ledger.account.balance-changed.v1" → "Account balance changed". */
function titleOf(type: IntegrationEventType): string {
  const [, entity, happened] = type.split('.');
  return `${entity.charAt(0).toUpperCase()}${entity.slice(1)} ${happened.replaceAll('-', ' ')}`;
}

/** The headers of a message of `type` (all strings): CloudEvents' binary mode, then where the event came from. */
function headersOf(type: IntegrationEventType, source: string): Json {
  const transferMessage = integrationEvents[type].topic === 'transfers';
  const properties: Json = {
    'content-type': {
      type: 'string',
      const: dataContentType,
      description: 'The media type of the value: the data itself (binary mode), not an envelope.',
    },
    ce_specversion: { type: 'string', const: cloudEventsSpecVersion, description: 'The CloudEvents version.' },
    ce_id: {
      type: 'string',
      format: 'uuid',
      description:
        'The id of the domain event the message publishes: the same in every copy of the message, so a consumer ' +
        'de-duplicates on it.',
    },
    ce_type: { type: 'string', const: type, description: 'The integration event type.' },
    ce_source: { type: 'string', const: source, description: 'This ledger (BRIDGE_SOURCE).' },
    ce_subject: {
      ...idText,
      description: transferMessage ? "The transfer's id." : "The account's id.",
    },
    ce_time: {
      type: 'string',
      format: 'date-time',
      description: 'When the event was appended to the event store (RFC 3339).',
    },
    [ledgerHeaders.stream]: {
      type: 'string',
      pattern: transferMessage ? '^transfer-.+$' : '^account-.+$',
      description: `The event-store stream of the event: ${transferMessage ? 'transfer-<id>' : 'account-<id>'}.`,
    },
    [ledgerHeaders.revision]: {
      ...wholeNumberText,
      description: "The event's revision in its stream: a 64-bit integer, in decimal.",
    },
    [ledgerHeaders.position]: {
      ...wholeNumberText,
      description: "The event's global event-store position: a 64-bit integer, in decimal.",
    },
  };
  return { type: 'object', properties, required: Object.keys(properties) };
}

/** One message of each type, from a payment of 12.50 EUR from alice to bob (t-1001) and what surrounds it. */
interface Example {
  summary: string;
  /** The domain event's id: ce_id. */
  eventId: string;
  /** The account (or, for a transfer, the source account) the record is keyed by. */
  key: string;
  /** The account or transfer the message is about. */
  subject: string;
  revision: number;
  position: number;
  time: string;
  data: Json;
}

const zeroBalance = (accountId: string, asOf: string, position: number) => ({
  accountId,
  currency: 'EUR',
  posted: '0.00',
  held: '0.00',
  available: '0.00',
  asOf,
  position: String(position),
});

const bobAccount = (status: 'frozen' | 'open', version: number, at: string, position: number) => ({
  id: 'bob',
  currency: 'EUR',
  status,
  overdraft: 'none',
  balance: { ...zeroBalance('bob', at, position), posted: '12.50', available: '12.50' },
  metadata: {},
  createdAt: '2025-03-14T09:00:05.000Z',
  version,
});

const paymentSteps = [
  { status: 'REQUESTED', at: '2025-03-14T10:30:00.000Z' },
  { status: 'HELD', at: '2025-03-14T10:30:00.015Z' },
  { status: 'CREDITED', at: '2025-03-14T10:30:00.024Z' },
  { status: 'COMMITTED', at: '2025-03-14T10:30:00.033Z' },
] as const;

/** t-1001 after `steps` of its steps, appended at `position`. */
function payment(steps: number, eventId: string, position: number): Example {
  const last = paymentSteps[steps - 1];
  return {
    summary: `t-1001, 12.50 EUR from alice to bob, ${last.status}. Key: alice, its source account.`,
    eventId,
    key: 'alice',
    subject: 't-1001',
    revision: steps - 1,
    position,
    time: last.at,
    data: {
      id: 't-1001',
      sourceAccount: 'alice',
      destinationAccount: 'bob',
      amount: '12.50',
      currency: 'EUR',
      mode: 'immediate',
      status: last.status,
      description: 'order 1001',
      createdAt: paymentSteps[0].at,
      updatedAt: last.at,
      steps: paymentSteps.slice(0, steps),
    },
  };
}

const examples: Readonly<Record<IntegrationEventType, Example>> = {
  'ledger.account.opened.v1': {
    summary: 'alice opens a EUR account. Key: alice.',
    eventId: '5b7e2f0c-3d1a-4c8e-9f26-71a0d4b3e5c8',
    key: 'alice',
    subject: 'alice',
    revision: 0,
    position: 1,
    time: '2025-03-14T09:00:00.000Z',
    data: {
      id: 'alice',
      currency: 'EUR',
      status: 'open',
      overdraft: 'none',
      balance: zeroBalance('alice', '2025-03-14T09:00:00.000Z', 1),
      metadata: { customer: 'c-4711' },
      createdAt: '2025-03-14T09:00:00.000Z',
      version: 0,
    },
  },
  'ledger.account.frozen.v1': {
    summary: 'bob is frozen, with 12.50 EUR on his account. Key: bob.',
    eventId: 'c2a94e17-6b0d-4f53-8e1a-29d7c6f0b384',
    key: 'bob',
    subject: 'bob',
    revision: 2,
    position: 1310,
    time: '2025-03-14T11:00:00.000Z',
    data: bobAccount('frozen', 2, '2025-03-14T11:00:00.000Z', 1310),
  },
  'ledger.account.unfrozen.v1': {
    summary: 'bob is open again. Key: bob.',
    eventId: '8f3d6a21-94c7-4be0-a5d2-0e6b1c7f9a43',
    key: 'bob',
    subject: 'bob',
    revision: 3,
    position: 1402,
    time: '2025-03-14T11:45:00.000Z',
    data: bobAccount('open', 3, '2025-03-14T11:45:00.000Z', 1402),
  },
  'ledger.account.closed.v1': {
    summary: 'carol, emptied, is closed. Key: carol.',
    eventId: '1e8b5c94-2f7a-4d06-b3c1-6a9e0d25f7b8',
    key: 'carol',
    subject: 'carol',
    revision: 4,
    position: 1533,
    time: '2025-03-14T12:10:00.000Z',
    data: {
      id: 'carol',
      currency: 'EUR',
      status: 'closed',
      overdraft: 'none',
      balance: zeroBalance('carol', '2025-03-14T12:10:00.000Z', 1533),
      metadata: {},
      createdAt: '2025-03-14T09:00:10.000Z',
      version: 4,
    },
  },
  'ledger.account.balance-changed.v1': {
    summary: 't-1001 debits 12.50 EUR from alice: its hold captured. Key: alice.',
    eventId: 'e4c07b2d-58a1-4f9e-b6d3-3a12f8c05e76',
    key: 'alice',
    subject: 'alice',
    revision: 3,
    position: 1206,
    time: '2025-03-14T10:30:00.030Z',
    data: {
      accountId: 'alice',
      currency: 'EUR',
      posted: '87.50',
      held: '0.00',
      available: '87.50',
      asOf: '2025-03-14T10:30:00.030Z',
      position: '1206',
      transferId: 't-1001',
      movement: 'debited',
      amount: '12.50',
    },
  },
  'ledger.transfer.requested.v1': payment(1, '3a9f1d64-0c2b-4e87-a5f3-d81b6e07c92a', 1201),
  'ledger.transfer.held.v1': payment(2, '7d25e8b0-1f4c-4a69-8b3e-c6f90a2d1e57', 1203),
  'ledger.transfer.credited.v1': payment(3, 'b60c3f92-7e15-4d28-9a4b-05e8d7c1f3a6', 1205),
  'ledger.transfer.committed.v1': payment(4, '4f1a7c38-d962-4b05-8e7d-a2c35b90e614', 1207),
  'ledger.transfer.rejected.v1': {
    summary: 't-1002, 500.00 EUR from alice to bob, REJECTED: alice has 87.50. Key: alice, its source account.',
    eventId: '92e6b4a7-3c08-4f1d-b5a2-7e4d0c6f81b9',
    key: 'alice',
    subject: 't-1002',
    revision: 1,
    position: 1221,
    time: '2025-03-14T10:35:00.014Z',
    data: {
      id: 't-1002',
      sourceAccount: 'alice',
      destinationAccount: 'bob',
      amount: '500.00',
      currency: 'EUR',
      mode: 'immediate',
      status: 'REJECTED',
      reason: 'INSUFFICIENT_FUNDS',
      createdAt: '2025-03-14T10:35:00.000Z',
      updatedAt: '2025-03-14T10:35:00.014Z',
      steps: [
        { status: 'REQUESTED', at: '2025-03-14T10:35:00.000Z' },
        { status: 'REJECTED', at: '2025-03-14T10:35:00.014Z' },
      ],
    },
  },
  'ledger.transfer.cancelled.v1': {
    summary: 't-1003, 20.00 EUR held from alice for bob (pending mode), voided. Key: alice, its source account.',
    eventId: '0d7c9e25-a4b3-4186-9f0e-5b2a8c61d7e3',
    key: 'alice',
    subject: 't-1003',
    revision: 3,
    position: 1390,
    time: '2025-03-14T10:52:10.200Z',
    data: {
      id: 't-1003',
      sourceAccount: 'alice',
      destinationAccount: 'bob',
      amount: '20.00',
      currency: 'EUR',
      mode: 'pending',
      status: 'CANCELLED',
      reason: 'VOIDED',
      metadata: { order: '1003' },
      createdAt: '2025-03-14T10:40:00.000Z',
      updatedAt: '2025-03-14T10:52:10.200Z',
      expiresAt: '2025-03-15T10:40:00.000Z',
      steps: [
        { status: 'REQUESTED', at: '2025-03-14T10:40:00.000Z' },
        { status: 'HELD', at: '2025-03-14T10:40:00.016Z' },
        { status: 'CANCELLED', at: '2025-03-14T10:52:10.200Z' },
      ],
    },
  },
};

/** An example as the bridge would produce it: headers, key and value. */
export function exampleMessage(
  type: IntegrationEventType,
  source: string,
): { headers: Record<string, string>; key: string; value: Json } {
  const example = examples[type];
  // An example the contract refuses would teach consumers the wrong thing: fail loudly.
  integrationEvents[type].data.parse(example.data);
  const stream = integrationEvents[type].topic === 'transfers' ? transferStream : accountStream;
  return {
    key: example.key,
    headers: {
      'content-type': dataContentType,
      ce_specversion: cloudEventsSpecVersion,
      ce_id: example.eventId,
      ce_type: type,
      ce_source: source,
      ce_subject: example.subject,
      ce_time: example.time,
      [ledgerHeaders.stream]: stream(example.subject),
      [ledgerHeaders.revision]: String(example.revision),
      [ledgerHeaders.position]: String(example.position),
    },
    // A copy: the document built from it is handed out, and must not alias the examples.
    value: structuredClone(example.data),
  };
}

function messageObject(type: IntegrationEventType, source: string): Json {
  const { topic, summary } = integrationEvents[type];
  const { headers, value } = exampleMessage(type, source);
  return {
    name: type,
    title: titleOf(type),
    summary,
    contentType: dataContentType,
    headers: headersOf(type, source),
    payload: schemaRef(dataSchemaName(type)),
    bindings: {
      kafka: {
        key: { ...idText, description: channels[topic].key },
        bindingVersion: kafkaBindingVersion,
      },
    },
    examples: [
      {
        name: titleOf(type).toLowerCase().replaceAll(' ', '-'),
        summary: examples[type].summary,
        headers,
        payload: value,
      },
    ],
  };
}

// ---- the document ---------------------------------------------------------------------

const overview = `What the ledger publishes on Kafka: every change to an account and every step of a transfer, as
a CloudEvents 1.0 event in the Kafka protocol binding, binary mode. The data are the API's own shapes (the Account,
the Transfer, and BalanceChanged), so a consumer never needs to call back.

**Records.** The key is an account id: the account's for \`ledger.account.*\`, the transfer's source account's for
\`ledger.transfer.*\`. The value is the event's data as JSON (UTF-8). The headers, all strings, are the CloudEvents
attributes (\`ce_specversion\`, \`ce_id\`, \`ce_type\`, \`ce_source\`, \`ce_subject\`, \`ce_time\`, and
\`content-type\` for datacontenttype) and where the event came from: \`ledger_stream\`, \`ledger_revision\`,
\`ledger_position\`.

**Order.** Per key: every message about an account is on one partition, in the order of the account's events; the
messages of transfers are in event-store order per source account. There is no order across keys.

**Delivery.** At least once, and never lost. A message is repeated only after a crash of the ledger or an outage of
the broker, for messages the broker had not yet acknowledged: de-duplicate on \`ce_id\`, the id of the domain event,
the same in every copy.

**Versions.** A type never changes incompatibly: a breaking change is a new type (\`.v2\`), published beside the
old one. Which types are published is configured (BRIDGE_EVENT_TYPES); this document lists those this ledger
publishes.`;

/** The AsyncAPI 3.0.0 document of the messages `settings` publish. */
export function asyncApiDocument(settings: AsyncApiSettings): Json {
  const published = integrationEventTypes.filter((type) => settings.eventTypes.includes(type));
  const roles = channelRoles.filter((role) => published.some((type) => integrationEvents[type].topic === role));
  const typesOf = (role: TopicRole) => published.filter((type) => integrationEvents[type].topic === role);
  const servers = Object.fromEntries(
    (settings.brokers ?? []).map((host, i) => [
      `broker-${i + 1}`,
      { host, protocol: 'kafka', description: 'A bootstrap broker.' },
    ]),
  );
  return {
    asyncapi: '3.0.0',
    info: { title: 'Ledger integration events', version: documentVersion, description: overview },
    defaultContentType: dataContentType,
    ...(Object.keys(servers).length > 0 && { servers }),
    channels: Object.fromEntries(
      roles.map((role) => [
        role,
        {
          address: settings.topics[role],
          title: settings.topics[role],
          description: channels[role].description,
          messages: Object.fromEntries(typesOf(role).map((type) => [type, messageRef(type)])),
          bindings: {
            kafka: {
              topic: settings.topics[role],
              // A topic the bridge creates when it is missing; an existing one keeps its own.
              partitions: settings.partitions,
              bindingVersion: kafkaBindingVersion,
            },
          },
        },
      ]),
    ),
    operations: Object.fromEntries(
      roles.map((role) => [
        channels[role].operationId,
        {
          action: 'send',
          channel: { $ref: `#/channels/${role}` },
          summary: `The ledger publishes to ${settings.topics[role]}.`,
          messages: typesOf(role).map((type) => ({ $ref: `#/channels/${role}/messages/${type}` })),
        },
      ]),
    ),
    components: {
      schemas: namedEventSchemas('draft-7', (name) => schemaRef(name).$ref),
      messages: Object.fromEntries(published.map((type) => [type, messageObject(type, settings.source)])),
    },
  };
}
