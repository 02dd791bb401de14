/**
 * The Kafka bridge against the real broker: every integration event type end to end
 * (headers, key, payload, schema), balances equal to the read model's, order per key over
 * thousands of transfers on three partitions, and a bridge thread killed mid-stream.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import Ajv2020, { type ValidateFunction } from 'ajv/dist/2020';
import addFormats from 'ajv-formats';
import { closeAccount, freezeAccount, openAccount, unfreezeAccount } from '../../src/commands/account-commands';
import { evolveAccount, initialAccountState } from '../../src/domain/account';
import { parseAccountEvent } from '../../src/domain/events';
import { formatAmount } from '../../src/domain/money';
import { accountStream } from '../../src/domain/streams';
import { loadCheckpoint } from '../../src/db/checkpoints';
import type { LeasedWork } from '../../src/db/lease';
import { startBridge } from '../../src/integration/bridge';
import { integrationEvents, integrationEventTypes, isIntegrationEventType } from '../../src/integration/messages';
import { type BridgeSettings, bridgeName } from '../../src/integration/settings';
import { startBackgroundWorker } from '../../src/workers/supervisor';
import {
  assertOrderedPerKey,
  collectMessages,
  type Collector,
  firstCopies,
  testBridgeSettings,
} from '../support/kafka';
import { expectEveryEventOnce, transfersAmong, waitForAll } from '../support/bridge';
import { createTestLedger, testLogger, type TestLedger } from '../support/ledger';
import { startReadSide, syncReadSide } from '../support/projections';

jest.setTimeout(180_000);

/** The committed JSON Schema files, as a consumer would load them. */
function schemaValidators(): Map<string, ValidateFunction> {
  const ajv = new Ajv2020({ strict: true });
  addFormats(ajv);
  const directory = path.resolve(__dirname, '../../schemas/events');
  return new Map(
    integrationEventTypes.map((type) => [
      type,
      ajv.compile(JSON.parse(readFileSync(path.join(directory, `${type}.json`), 'utf8')) as object),
    ]),
  );
}

describe('every integration event type, end to end', () => {
  let ledger: TestLedger;
  let settings: BridgeSettings;
  let bridge: LeasedWork;
  let collector: Collector;
  let readSide: { stop(): Promise<void> };

  beforeAll(async () => {
    ledger = await createTestLedger();
    ledger.startProcess();
    readSide = startReadSide(ledger);
    settings = testBridgeSettings();
    bridge = startBridge({ store: ledger.store, pool: ledger.db.pool, logger: testLogger, settings });
    collector = await collectMessages(settings.brokers, Object.values(settings.topics));
  });

  afterAll(async () => {
    await collector.stop();
    await bridge.stop();
    await readSide.stop();
    await ledger.close();
  });

  it('publishes each type with its headers, key and payload, and balances equal to the read model', async () => {
    const now = () => ledger.clock.now;
    await ledger.open('alice', 'EUR');
    await ledger.open('bob', 'EUR');
    await ledger.fund('alice', 10_000n, 'EUR');
    const pay = async (
      id: string,
      from: string,
      to: string,
      amountMinor: bigint,
      mode: 'immediate' | 'pending' = 'immediate',
    ) =>
      ledger.transfers.requestTransfer({
        transferId: id,
        sourceAccount: from,
        destinationAccount: to,
        amountMinor,
        mode,
      });
    await pay('t-commit', 'alice', 'bob', 1_250n);
    await pay('t-reject', 'bob', 'alice', 100_000n);
    await pay('t-partial', 'alice', 'bob', 1_000n, 'pending');
    await pay('t-void', 'alice', 'bob', 500n, 'pending');
    await ledger.waitForStatus('t-partial', 'HELD');
    await ledger.waitForStatus('t-void', 'HELD');
    await ledger.transfers.commitTransfer('t-partial', 400n);
    await ledger.transfers.voidTransfer('t-void');
    await ledger.waitForTerminal(['t-commit', 't-reject', 't-partial', 't-void']);
    await freezeAccount(ledger.store, 'bob', now());
    await unfreezeAccount(ledger.store, 'bob', now());
    await openAccount(ledger.store, { accountId: 'carol', currency: 'EUR', overdraft: { kind: 'none' }, now: now() });
    await closeAccount(ledger.store, 'carol', now());

    const expected = await waitForAll(ledger.db.pool, collector);
    const messages = collector.messages;
    expectEveryEventOnce(expected, messages);
    expect(new Set(messages.map((m) => m.headers.ce_type))).toEqual(new Set(integrationEventTypes));

    const { rows: events } = await ledger.db.pool.query<{
      event_id: string;
      stream_name: string;
      revision: string;
      position: string;
      created_at: Date;
    }>('select event_id, stream_name, revision::text, position::text, created_at from ledger_events');
    const byId = new Map(events.map((e) => [e.event_id, e]));
    const validators = schemaValidators();
    for (const m of messages) {
      const type = m.headers.ce_type;
      if (!isIntegrationEventType(type)) throw new Error(`unknown type ${type}`);
      const spec = integrationEvents[type];
      const source = byId.get(m.headers.ce_id)!;
      const isTransfer = spec.topic === 'transfers';
      const subject = isTransfer ? (m.data.id as string) : ((m.data.accountId ?? m.data.id) as string);
      expect(m.topic).toBe(settings.topics[spec.topic]);
      expect(m.key).toBe(isTransfer ? m.data.sourceAccount : subject);
      expect(m.headers).toEqual({
        'content-type': 'application/json',
        ce_specversion: '1.0',
        ce_id: source.event_id,
        ce_type: type,
        ce_source: '/ledger-test',
        ce_subject: subject,
        ce_time: source.created_at.toISOString(),
        ledger_stream: source.stream_name,
        ledger_revision: source.revision,
        ledger_position: source.position,
      });
      expect(spec.data.safeParse(m.data).error).toBeUndefined();
      const validate = validators.get(type)!;
      expect({ type, valid: validate(m.data), errors: validate.errors ?? null }).toEqual({
        type,
        valid: true,
        errors: null,
      });
    }

    // The committed partial transfer, as the API shows it, steps and all.
    const committed = messages.find(
      (m) => m.headers.ce_type === 'ledger.transfer.committed.v1' && m.data.id === 't-partial',
    )!;
    expect(committed.data).toMatchObject({
      status: 'COMMITTED',
      amount: '10.00',
      mode: 'pending',
      sourceAccount: 'alice',
    });
    expect((committed.data.steps as { status: string }[]).map((s) => s.status)).toEqual([
      'REQUESTED',
      'HELD',
      'CREDITED',
      'COMMITTED',
    ]);
    const debit = messages.find((m) => m.data.movement === 'debited' && m.data.transferId === 't-partial')!;
    expect(debit.data).toMatchObject({ amount: '4.00', released: '6.00' });

    // Each balance equals the account folded (by the domain's own code) up to that event...
    for (const m of messages.filter((x) => x.headers.ce_type === 'ledger.account.balance-changed.v1')) {
      let state = initialAccountState();
      for (const e of await ledger.store.readStream(m.headers.ledger_stream, {
        maxCount: Number(m.headers.ledger_revision) + 1,
      })) {
        state = evolveAccount(state, parseAccountEvent(e));
      }
      expect([m.data.posted, m.data.held]).toEqual([
        formatAmount(state.postedMinor, 'EUR'),
        formatAmount(state.heldMinor, 'EUR'),
      ]);
    }
    // ...and each account's last message shows what the read model shows at that position.
    await syncReadSide(ledger);
    const { rows: accounts } = await ledger.db.pool.query<{
      id: string;
      posted: string;
      held: string;
      position: string;
    }>('select id, posted::text, held::text, position::text from rm_accounts');
    for (const row of accounts) {
      const last = messages.filter((m) => m.headers.ledger_stream === accountStream(row.id)).at(-1)!;
      const balance = (last.data.balance ?? last.data) as Record<string, string>;
      expect({ posted: balance.posted, held: balance.held, position: balance.position }).toEqual({
        posted: formatAmount(BigInt(row.posted), 'EUR'),
        held: formatAmount(BigInt(row.held), 'EUR'),
        position: row.position,
      });
    }
  });
});

describe('order and delivery at volume', () => {
  let ledger: TestLedger;

  beforeEach(async () => {
    ledger = await createTestLedger();
    ledger.startProcess();
  });

  afterEach(() => ledger.close());

  it('keeps every key in order over thousands of transfers on three partitions', async () => {
    const settings = testBridgeSettings({ partitions: 3 });
    const bridge = startBridge({ store: ledger.store, pool: ledger.db.pool, logger: testLogger, settings });
    const collector = await collectMessages(settings.brokers, Object.values(settings.topics));
    try {
      await transfersAmong(ledger, 24, 3_000, 'o');
      const expected = await waitForAll(ledger.db.pool, collector);
      expectEveryEventOnce(expected, collector.messages);
      expect(new Set(collector.messages.map((m) => m.partition)).size).toBe(3);
      expect(assertOrderedPerKey(collector.messages)).toBeGreaterThanOrEqual(24 * 2);
    } finally {
      await collector.stop();
      await bridge.stop();
    }
  });

  it('a bridge thread killed mid-stream is restarted: every event arrives, duplicates only past the checkpoint', async () => {
    const settings = testBridgeSettings();
    const worker = await startBackgroundWorker(
      {
        role: 'bridge',
        databaseUrl: ledger.db.url,
        eventStoreUrl: undefined,
        pgPoolMax: 3,
        logLevel: 'silent',
        bridge: settings,
      },
      testLogger,
      { firstRestartDelayMs: 100 },
    );
    const collector = await collectMessages(settings.brokers, Object.values(settings.topics));
    try {
      const load = transfersAmong(ledger, 12, 2_000, 'k');
      await collector.waitFor('the bridge under way', (messages) => messages.length > 2_000);
      await worker.kill();
      const checkpointAtKill = await loadCheckpoint(ledger.db.pool, bridgeName);
      await load;
      const expected = await waitForAll(ledger.db.pool, collector);
      expectEveryEventOnce(expected, collector.messages);
      const copies = new Map<string, number>();
      for (const m of collector.messages) copies.set(m.headers.ce_id, (copies.get(m.headers.ce_id) ?? 0) + 1);
      for (const [id, count] of copies) if (count > 1) expect(expected.get(id)!).toBeGreaterThan(checkpointAtKill);
      assertOrderedPerKey(collector.messages);
      expect(firstCopies(collector.messages).length).toBe(expected.size);
    } finally {
      await collector.stop();
      await worker.stop();
    }
  });
});
