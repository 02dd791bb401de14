/**
 * The broker stopped for about 10 s while the ledger keeps taking transfers, then started
 * again on the same data: the bridge waits, then catches up, and nothing is missing or out
 * of order. The broker is one of this test's own, so stopping it touches no other test.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { loadCheckpoint } from '../../src/db/checkpoints';
import { startBridge } from '../../src/integration/bridge';
import { type KafkaBroker, startKafkaBroker } from '../../src/integration/kafka-broker';
import { bridgeName } from '../../src/integration/settings';
import { readBridgeStatus } from '../../src/integration/status';
import { renderMetrics } from '../../src/metrics/registry';
import { expectEveryEventOnce, transfersAmong, waitForAll } from '../support/bridge';
import { assertOrderedPerKey, collectMessages, testBridgeSettings } from '../support/kafka';
import { createTestLedger, testLogger, type TestLedger } from '../support/ledger';

jest.setTimeout(300_000);

const outageMs = 10_000;

let dataDir: string;
let broker: KafkaBroker;
let ledger: TestLedger;

beforeAll(async () => {
  dataDir = mkdtempSync(path.join(tmpdir(), 'ledger-outage-kafka-'));
  broker = await startKafkaBroker({ dataDir, heapMb: 256 });
  ledger = await createTestLedger();
  ledger.startProcess();
});

afterAll(async () => {
  await ledger?.close();
  await broker?.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

function metric(text: string, name: string): number {
  const match = new RegExp(`^${name} (\\S+)$`, 'm').exec(text);
  return match ? Number(match[1]) : NaN;
}

test('a broker down for 10 s under load: the bridge waits, then delivers everything in order, and its lag returns to zero', async () => {
  const settings = testBridgeSettings({ brokers: [broker.brokers] });
  const bridge = startBridge({ store: ledger.store, pool: ledger.db.pool, logger: testLogger, settings });
  try {
    await transfersAmong(ledger, 12, 500, 'a');
    const beforeOutage = await collectMessages(settings.brokers, Object.values(settings.topics));
    await beforeOutage.waitFor('the bridge under way', (messages) => messages.length > 1_000);
    await beforeOutage.stop();

    await broker.stop();
    const during = transfersAmong(ledger, 12, 1_500, 'b');
    await new Promise((resolve) => setTimeout(resolve, outageMs));
    await during;
    // The API kept taking transfers; the bridge saw the broker go and said so.
    const status = await readBridgeStatus(ledger.db.pool, ledger.store);
    expect(status).toMatchObject({ running: true, brokerUp: false });
    expect(status.lastError).toEqual(expect.any(String));
    expect(BigInt(status.lagPositions)).toBeGreaterThan(0n);
    const metrics = await renderMetrics();
    expect(metric(metrics, 'ledger_bridge_broker_up')).toBe(0);
    expect(metric(metrics, 'ledger_bridge_produce_errors_total')).toBeGreaterThan(0);

    broker = await startKafkaBroker({ dataDir, port: broker.port, controllerPort: broker.controllerPort, heapMb: 256 });
    const after = await collectMessages(settings.brokers, Object.values(settings.topics));
    try {
      const expected = await waitForAll(ledger.db.pool, after, 120_000);
      expectEveryEventOnce(expected, after.messages);
      assertOrderedPerKey(after.messages);
      const head = await ledger.store.headPosition();
      for (let i = 0; (await loadCheckpoint(ledger.db.pool, bridgeName)) < head; i++) {
        if (i > 200) throw new Error('the bridge checkpoint did not reach the head');
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      expect(await readBridgeStatus(ledger.db.pool, ledger.store)).toMatchObject({ brokerUp: true, lagPositions: '0' });
      expect(metric(await renderMetrics(), 'ledger_bridge_broker_up')).toBe(1);
    } finally {
      await after.stop();
    }
  } finally {
    await bridge.stop();
  }
});
