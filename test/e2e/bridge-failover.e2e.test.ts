/**
 * The bridge inside real service processes, on the run's broker: the process killed with
 * SIGKILL mid-stream and started again, then two instances where only the lease holder
 * produces and the other takes over when the holder is killed. Every event reaches Kafka;
 * a message appears twice only if it was in flight when its producer died (after the
 * checkpoint stored then, at or before the last event written then), and per-key order holds.
 */
import type { Pool } from 'pg';
import { loadCheckpoint } from '../../src/db/checkpoints';
import { bridgeName } from '../../src/integration/settings';
import { expectEveryEventOnce, waitForAll } from '../support/bridge';
import { createTestDatabase, type TestDatabase } from '../support/database';
import { assertOrderedPerKey, collectMessages, type Collector, testBridgeSettings } from '../support/kafka';
import { lastWrittenPosition } from '../support/projections';
import { metricSum, type ServiceProcess, startServiceProcess } from '../support/service-process';

jest.setTimeout(420_000);

const accounts = Array.from({ length: 10 }, (_, i) => `fo-${i}`);
const transfersPerBatch = 100;
/** A batch is sent again until one instance takes it, for at most this long. */
const acceptWithinMs = 90_000;

let db: TestDatabase;
let collector: Collector;
let env: Record<string, string>;
/** Every instance started, so a failing test leaves none running. */
const started: ServiceProcess[] = [];

async function startInstance(): Promise<ServiceProcess> {
  const instance = await startServiceProcess(env);
  started.push(instance);
  return instance;
}

beforeAll(async () => {
  db = await createTestDatabase(4);
  const settings = testBridgeSettings();
  env = {
    DATABASE_URL: db.url,
    REDIS_URL: process.env.LEDGER_TEST_REDIS_URL!,
    KAFKA_BROKERS: settings.brokers.join(','),
    KAFKA_TOPIC_TRANSFERS: settings.topics.transfers,
    KAFKA_TOPIC_ACCOUNTS: settings.topics.accounts,
    KAFKA_TOPIC_PARTITIONS: '3',
    BRIDGE_SOURCE: settings.source,
    PG_POOL_MAX: '4',
    RATE_LIMIT_REQUESTS: '0',
  };
  await startInstance();
  collector = await collectMessages(settings.brokers, Object.values(settings.topics));
});

afterAll(async () => {
  await Promise.all(started.map((instance) => instance.kill()));
  await collector?.stop();
  await db?.drop();
});

async function post(urls: string[], path: string, body: unknown): Promise<boolean> {
  for (const url of urls) {
    const ok = await fetch(`${url}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    }).then(
      (res) => res.status < 300,
      () => false,
    );
    if (ok) return true;
  }
  return false;
}

/** `batches` batch requests of transfers among the accounts, sent to the first instance that answers. */
async function load(urls: () => string[], batches: number, tag: string): Promise<void> {
  for (let b = 0; b < batches; b++) {
    const transfers = Array.from({ length: transfersPerBatch }, (_, i) => ({
      id: `${tag}-${b}-${i}`,
      sourceAccount: i % 5 === 0 ? 'fo-funding' : accounts[i % accounts.length],
      destinationAccount: accounts[(i * 3 + b + 1) % accounts.length],
      amount: '1.00',
    }));
    // A batch refused while an instance dies is sent again: its ids make the retry safe. The
    // wait covers a restart: the new process starting (its threads compiled by ts-node) and
    // its transfer process waiting out the killed one's lease.
    const deadline = Date.now() + acceptWithinMs;
    while (!(await post(urls(), '/v1/transfers/batch', { transfers }))) {
      if (Date.now() > deadline) throw new Error(`batch ${tag}-${b} not accepted within ${acceptWithinMs} ms`);
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }
}

/** The positions after which messages may have been in flight when a bridge died. */
async function killWindow(pool: Pool): Promise<{ after: bigint; upTo: bigint }> {
  return { after: await loadCheckpoint(pool, bridgeName), upTo: await lastWrittenPosition(pool) };
}

function expectDuplicatesOnlyIn(windows: { after: bigint; upTo: bigint }[], expected: Map<string, bigint>): number {
  const copies = new Map<string, number>();
  for (const m of collector.messages) copies.set(m.headers.ce_id, (copies.get(m.headers.ce_id) ?? 0) + 1);
  let duplicated = 0;
  for (const [id, count] of copies) {
    if (count === 1) continue;
    duplicated++;
    const position = expected.get(id)!;
    expect(windows.some((w) => position > w.after && position <= w.upTo)).toBe(true);
  }
  return duplicated;
}

test('SIGKILL mid-stream, a restart, then a standby that takes over from a killed lease holder', async () => {
  const [a] = started;
  expect(await post([a.url], '/v1/accounts', { id: 'fo-funding', currency: 'USD', overdraft: 'unlimited' })).toBe(true);
  for (const id of accounts) expect(await post([a.url], '/v1/accounts', { id, currency: 'USD' })).toBe(true);

  // 1. The only instance is killed while the bridge is producing, and started again.
  let alive = [a.url];
  const firstLoad = load(() => alive, 30, 'one');
  await collector.waitFor('the bridge under way', (messages) => messages.length > 1_500);
  await a.kill();
  alive = [];
  const windows = [await killWindow(db.pool)];
  const a2 = await startInstance();
  alive = [a2.url];
  await firstLoad;
  await waitForAll(db.pool, collector, 120_000);

  // 2. A second instance: the first holds the lease and alone produces.
  const b = await startInstance();
  alive = [a2.url, b.url];
  await load(() => [b.url, a2.url], 10, 'two');
  await waitForAll(db.pool, collector, 120_000);
  expect(metricSum(await a2.metrics(), 'ledger_bridge_messages_total')).toBeGreaterThan(0);
  expect(metricSum(await b.metrics(), 'ledger_bridge_messages_total')).toBe(0);

  // 3. The holder is killed mid-stream: the standby takes over within the lease's 10 s.
  const thirdLoad = load(() => [b.url], 20, 'three');
  const before = collector.messages.length;
  await collector.waitFor('the bridge under way', (messages) => messages.length > before + 500);
  await a2.kill();
  const killedAt = Date.now();
  windows.push(await killWindow(db.pool));
  await thirdLoad;
  for (;;) {
    if (metricSum(await b.metrics(), 'ledger_bridge_messages_total') > 0) break;
    if (Date.now() - killedAt > 30_000) throw new Error('the standby did not take the bridge over');
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  const expected = await waitForAll(db.pool, collector, 120_000);
  await b.stop();

  expectEveryEventOnce(expected, collector.messages);
  assertOrderedPerKey(collector.messages);
  expectDuplicatesOnlyIn(windows, expected);
});
