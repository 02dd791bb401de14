import { freezeAccount } from '../../src/commands/account-commands';
import { transferProcessName } from '../../src/commands/transfer-process';
import { loadCheckpoint } from '../../src/db/checkpoints';
import { createTestLedger, type TestLedger } from '../support/ledger';

describe('transfer flow on PostgreSQL', () => {
  let ledger: TestLedger;
  beforeAll(async () => {
    ledger = await createTestLedger();
    ledger.startProcess();
  });
  afterAll(() => ledger.close());

  it('moves money: hold, credit, commit, with every step on the transfer stream', async () => {
    await ledger.open('alice');
    await ledger.open('bob');
    await ledger.fund('alice', 10_000n);
    const t = await ledger.transfers.requestTransfer({
      sourceAccount: 'alice',
      destinationAccount: 'bob',
      amountMinor: 2_500n,
    });
    expect(t.state.status).toBe('REQUESTED');
    const [done] = (await ledger.waitForTerminal([t.transferId])).values();
    expect(done.status).toBe('COMMITTED');
    expect(done.steps.map((s) => s.status)).toEqual(['REQUESTED', 'HELD', 'CREDITED', 'COMMITTED']);
    expect((await ledger.account('alice')).postedMinor).toBe(7_500n);
    expect((await ledger.account('bob')).postedMinor).toBe(2_500n);
    expect((await ledger.account('alice')).heldMinor).toBe(0n);
  });

  it('rejects for insufficient funds without touching balances', async () => {
    await ledger.open('poor');
    await ledger.open('rich');
    const t = await ledger.transfers.requestTransfer({
      sourceAccount: 'poor',
      destinationAccount: 'rich',
      amountMinor: 1n,
    });
    const [done] = (await ledger.waitForTerminal([t.transferId])).values();
    expect(done.status).toBe('REJECTED');
    expect(done.reason).toBe('INSUFFICIENT_FUNDS');
    expect((await ledger.account('poor')).postedMinor).toBe(0n);
  });

  it('cancels with CREDIT_FAILED and releases the hold when the destination is frozen', async () => {
    await ledger.open('payer');
    await ledger.open('frozen-payee');
    await ledger.fund('payer', 500n);
    await freezeAccount(ledger.store, 'frozen-payee', new Date());
    const t = await ledger.transfers.requestTransfer({
      sourceAccount: 'payer',
      destinationAccount: 'frozen-payee',
      amountMinor: 100n,
    });
    const [done] = (await ledger.waitForTerminal([t.transferId])).values();
    expect(done.status).toBe('CANCELLED');
    expect(done.reason).toBe('CREDIT_FAILED');
    expect(await ledger.available('payer')).toBe(500n);
  });

  it('pending: holds, then commits part and releases the rest', async () => {
    await ledger.open('p-src');
    await ledger.open('p-dst');
    await ledger.fund('p-src', 1_000n);
    const t = await ledger.transfers.requestTransfer({
      sourceAccount: 'p-src',
      destinationAccount: 'p-dst',
      amountMinor: 600n,
      mode: 'pending',
    });
    await ledger.waitForStatus(t.transferId, 'HELD');
    expect(await ledger.available('p-src')).toBe(400n);
    await ledger.transfers.commitTransfer(t.transferId, 250n);
    const done = await ledger.waitForStatus(t.transferId, 'COMMITTED');
    expect(done.committedMinor).toBe(250n);
    expect((await ledger.account('p-src')).postedMinor).toBe(750n);
    expect(await ledger.available('p-src')).toBe(750n);
    expect((await ledger.account('p-dst')).postedMinor).toBe(250n);
    await expect(ledger.transfers.commitTransfer(t.transferId)).rejects.toMatchObject({ code: 'TRANSFER_NOT_PENDING' });
  });

  it('pending: void releases the hold', async () => {
    await ledger.open('v-src');
    await ledger.open('v-dst');
    await ledger.fund('v-src', 1_000n);
    const t = await ledger.transfers.requestTransfer({
      sourceAccount: 'v-src',
      destinationAccount: 'v-dst',
      amountMinor: 600n,
      mode: 'pending',
    });
    await ledger.waitForStatus(t.transferId, 'HELD');
    await ledger.transfers.voidTransfer(t.transferId);
    const done = await ledger.waitForStatus(t.transferId, 'CANCELLED');
    expect(done.reason).toBe('VOIDED');
    expect(await ledger.available('v-src')).toBe(1_000n);
  });

  it('pending: expires after its timeout and releases the hold', async () => {
    await ledger.open('e-src');
    await ledger.open('e-dst');
    await ledger.fund('e-src', 100n);
    const t = await ledger.transfers.requestTransfer({
      sourceAccount: 'e-src',
      destinationAccount: 'e-dst',
      amountMinor: 100n,
      mode: 'pending',
      timeoutSeconds: 60,
    });
    await ledger.waitForStatus(t.transferId, 'HELD');
    expect((await ledger.transfers.expireTransfer(t.transferId)).replayed).toBe(true);
    ledger.clock.now = new Date(ledger.clock.now.getTime() + 61_000);
    expect((await ledger.transfers.expireTransfer(t.transferId)).replayed).toBe(false);
    expect((await ledger.transfers.expireTransfer(t.transferId)).replayed).toBe(true);
    const done = await ledger.waitForStatus(t.transferId, 'CANCELLED');
    expect(done.reason).toBe('EXPIRED');
    expect(await ledger.available('e-src')).toBe(100n);
    ledger.clock.now = new Date();
  });
});

test('an idle transfer process has its checkpoint at the head, past a last batch of its own events', async () => {
  const ledger = await createTestLedger();
  try {
    await ledger.open('i-src', 'USD', { kind: 'unlimited' });
    await ledger.open('i-dst');
    // Batches of 6: the process's own 6 events of the transfer fill a batch that holds no
    // work, and nothing comes after it.
    ledger.startProcess({ maxBatchSize: 6 });
    const t = await ledger.transfers.requestTransfer({
      sourceAccount: 'i-src',
      destinationAccount: 'i-dst',
      amountMinor: 5n,
    });
    expect((await ledger.waitForTerminal([t.transferId])).get(t.transferId)?.status).toBe('COMMITTED');
    // The head counts only final events: a transaction open anywhere on the server (another
    // test's) may hold it back a moment after the commit is readable.
    const head = t.position + 6n;
    const deadline = Date.now() + 5_000;
    while ((await ledger.store.headPosition()) < head && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 20));
    expect(await ledger.store.headPosition()).toBe(head);
    while ((await loadCheckpoint(ledger.db.pool, transferProcessName)) < head && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 50));
    expect(await loadCheckpoint(ledger.db.pool, transferProcessName)).toBe(head);
  } finally {
    await ledger.close();
  }
});
