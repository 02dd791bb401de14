/**
 * examples/balance-consumer.ts against the real broker: the balances it keeps from the
 * bridge's messages are the balances the API shows, account by account.
 */
import request from 'supertest';
import type { LeasedWork } from '../../src/db/lease';
import { startBridge } from '../../src/integration/bridge';
import { type BalanceConsumer, startBalanceConsumer } from '../../examples/balance-consumer';
import { testBridgeSettings, topicsCreated } from '../support/kafka';
import { testLogger } from '../support/ledger';
import { type ApiHarness, startApi } from './harness';

jest.setTimeout(120_000);

const accounts = ['ex-alice', 'ex-bob', 'ex-carol'];
let api: ApiHarness;
let bridge: LeasedWork;
let consumer: BalanceConsumer;

beforeAll(async () => {
  api = await startApi();
  const settings = testBridgeSettings();
  bridge = startBridge({ store: api.ledger.store, pool: api.ledger.db.pool, logger: testLogger, settings });
  for (const id of accounts) await api.open(id, 'EUR');
  await topicsCreated(settings.brokers, Object.values(settings.topics));
  consumer = await startBalanceConsumer({ brokers: settings.brokers, topic: settings.topics.accounts, groupId: 'ex' });
});

afterAll(async () => {
  await consumer.stop();
  await bridge.stop();
  await api.close();
});

test("the example consumer's balances are the API's", async () => {
  await api.fund('ex-alice', '500.00', 'EUR');
  const pay = (from: string, to: string, amount: string, extra: object = {}) =>
    request(api.app)
      .post('/v1/transfers')
      .set('Prefer', 'wait=20')
      .send({ sourceAccount: from, destinationAccount: to, amount, ...extra });
  expect((await pay('ex-alice', 'ex-bob', '120.00')).body.status).toBe('COMMITTED');
  expect((await pay('ex-bob', 'ex-carol', '20.50')).body.status).toBe('COMMITTED');
  expect((await pay('ex-carol', 'ex-alice', '999.00')).body.status).toBe('REJECTED');
  // A hold left open: held and available differ.
  expect((await pay('ex-alice', 'ex-carol', '30.00', { mode: 'pending' })).body.status).toBe('HELD');
  await api.sync();

  for (const id of accounts) {
    const balance = (await request(api.app).get(`/v1/accounts/${id}/balance`)).body as Record<string, string>;
    const deadline = Date.now() + 60_000;
    while ((consumer.balances.get(id)?.position ?? 0n) < BigInt(balance.position)) {
      if (Date.now() > deadline) throw new Error(`${id}: the consumer never reached position ${balance.position}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    const kept = consumer.balances.get(id)!;
    expect({
      id,
      posted: kept.posted,
      held: kept.held,
      available: kept.available,
      position: kept.position.toString(),
    }).toEqual({
      id,
      posted: balance.posted,
      held: balance.held,
      available: balance.available,
      position: balance.position,
    });
  }
  expect(consumer.balances.get('ex-alice')).toMatchObject({ posted: '380.00', held: '30.00', available: '350.00' });
});
