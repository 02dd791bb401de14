/** The general variables; the access ones are in access.unit.test.ts. */
import { loadConfig } from '../../src/config';
import { integrationEventTypes } from '../../src/integration/messages';
import { configError } from '../support/config';

test('defaults', () => {
  expect(loadConfig({})).toMatchObject({
    databaseUrl: undefined,
    eventStoreUrl: undefined,
    ingressMaxBacklog: 1_000,
    dataDir: '.data',
    pgPoolMax: 10,
    httpHost: '127.0.0.1',
    httpPort: 8081,
    logLevel: 'info',
    nodeEnv: 'development',
  });
});

test('whole numbers within their range are taken; empty means the default', () => {
  expect(
    loadConfig({ INGRESS_MAX_BACKLOG: '0', PG_POOL_MAX: '200', HTTP_PORT: '0', LOG_LEVEL: 'silent' }),
  ).toMatchObject({ ingressMaxBacklog: 0, pgPoolMax: 200, httpPort: 0, logLevel: 'silent' });
  expect(loadConfig({ INGRESS_MAX_BACKLOG: '', PG_POOL_MAX: '', HTTP_PORT: '' })).toMatchObject({
    ingressMaxBacklog: 1_000,
    pgPoolMax: 10,
    httpPort: 8081,
  });
});

test.each([
  ['INGRESS_MAX_BACKLOG', '-1'],
  ['INGRESS_MAX_BACKLOG', '2e3'],
  ['INGRESS_MAX_BACKLOG', '1000001'],
  ['INGRESS_MAX_BACKLOG', 'lots'],
  ['PG_POOL_MAX', '0'],
  ['PG_POOL_MAX', '201'],
  ['PG_POOL_MAX', '1e1'],
  ['PG_POOL_MAX', '0x10'],
  ['HTTP_PORT', '65536'],
  ['HTTP_PORT', '80.5'],
  ['HTTP_PORT', '-1'],
  ['LOG_LEVEL', 'verbose'],
  ['NODE_ENV', 'staging'],
  ['DATABASE_URL', 'mysql://localhost/ledger'],
  ['EVENTSTORE_URL', 'http://localhost:2113'],
])('refuses %s=%s, naming it', (name, value) => {
  expect(configError({ [name]: value })).toContain(`${name}: `);
});

test('every bad variable is named in one error', () => {
  const message = configError({ PG_POOL_MAX: '0', HTTP_PORT: 'x', INGRESS_MAX_BACKLOG: '-5' });
  for (const name of ['PG_POOL_MAX', 'HTTP_PORT', 'INGRESS_MAX_BACKLOG']) expect(message).toContain(`${name}: `);
});

describe('the Kafka bridge', () => {
  test('is off without KAFKA_BROKERS (unset or empty)', () => {
    expect(loadConfig({}).bridge).toBeUndefined();
    expect(loadConfig({ KAFKA_BROKERS: ' ' }).bridge).toBeUndefined();
  });

  test('is on with brokers, with its defaults', () => {
    expect(loadConfig({ KAFKA_BROKERS: 'kafka-1:9092, kafka-2:9093' }).bridge).toEqual({
      brokers: ['kafka-1:9092', 'kafka-2:9093'],
      clientId: 'ledger',
      topics: { transfers: 'ledger.transfers', accounts: 'ledger.accounts' },
      partitions: 6,
      replicationFactor: 1,
      eventTypes: integrationEventTypes,
      source: '/ledger',
    });
  });

  test('takes its topics, partitions and the types to publish', () => {
    expect(
      loadConfig({
        KAFKA_BROKERS: '127.0.0.1:9092',
        KAFKA_TOPIC_TRANSFERS: 'payments.transfers',
        KAFKA_TOPIC_ACCOUNTS: 'payments.accounts',
        KAFKA_TOPIC_PARTITIONS: '12',
        KAFKA_REPLICATION_FACTOR: '3',
        BRIDGE_EVENT_TYPES: 'ledger.transfer.committed.v1, ledger.account.balance-changed.v1',
        BRIDGE_SOURCE: '//ledger.example.com/eu-1',
      }).bridge,
    ).toMatchObject({
      topics: { transfers: 'payments.transfers', accounts: 'payments.accounts' },
      partitions: 12,
      replicationFactor: 3,
      eventTypes: ['ledger.transfer.committed.v1', 'ledger.account.balance-changed.v1'],
      source: '//ledger.example.com/eu-1',
    });
  });

  test.each([
    ['KAFKA_BROKERS', 'kafka'],
    ['KAFKA_BROKERS', 'kafka:9092,'],
    ['KAFKA_BROKERS', 'kafka:port'],
    ['KAFKA_TOPIC_TRANSFERS', 'has space'],
    ['KAFKA_TOPIC_ACCOUNTS', '..'],
    ['KAFKA_TOPIC_ACCOUNTS', 'x'.repeat(250)],
    ['KAFKA_TOPIC_PARTITIONS', '0'],
    ['KAFKA_TOPIC_PARTITIONS', '10001'],
    ['KAFKA_REPLICATION_FACTOR', '0'],
    ['BRIDGE_EVENT_TYPES', 'ledger.transfer.committed.v1,TransferCommitted'],
    ['BRIDGE_SOURCE', ' '],
  ])('refuses %s=%s, naming it', (name, value) => {
    expect(configError({ KAFKA_BROKERS: '127.0.0.1:9092', [name]: value })).toContain(`${name}: `);
  });
});
