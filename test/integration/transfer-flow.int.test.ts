import { freezeAccount, unfreezeAccount } from '../../src/commands/account-commands';
import { transferProcessName } from '../../src/commands/transfer-process';
import { loadCheckpoint } from '../../src/db/checkpoints';
import { accountStream } from '../../src/domain/streams';
import { createTestLedger, type TestLedger } from '../support/ledger';
import { withoutMultiStreamAppend } from '../support/single-stream-store';

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

describe('transfer flow step by step (a store without multi-stream append)', () => {
  it('an account written meanwhile makes the credit step retry, and the retry still credits before the debit', async () => {
    let interpose: (() => Promise<void>) | undefined;
    const ledger = await createTestLedger({
      store: (pg) => {
        const inner = withoutMultiStreamAppend(pg);
        return {
          ...inner,
          // The first credit to `sb-dst`: another writer changes the account just before it, so it conflicts.
          append: async (stream, events, expected) => {
            if (stream === accountStream('sb-dst') && events[0]?.type === 'FundsCredited' && interpose) {
              const change = interpose;
              interpose = undefined;
              await change();
            }
            return inner.append(stream, events, expected);
          },
        };
      },
    });
    try {
      const running = ledger.startProcess({ restartOnError: false });
      await ledger.open('sb-src');
      await ledger.open('sb-dst');
      await ledger.fund('sb-src', 100n);
      interpose = async () => {
        await freezeAccount(ledger.store, 'sb-dst', new Date());
        await unfreezeAccount(ledger.store, 'sb-dst', new Date());
      };
      const t = await ledger.transfers.requestTransfer({
        sourceAccount: 'sb-src',
        destinationAccount: 'sb-dst',
        amountMinor: 60n,
      });
      const [done] = (await ledger.waitForTerminal([t.transferId])).values();
      expect(interpose).toBeUndefined();
      expect(done.status).toBe('COMMITTED');
      expect((await ledger.account('sb-src')).postedMinor).toBe(40n);
      expect((await ledger.account('sb-dst')).postedMinor).toBe(60n);
      // Never a debit without its credit, not even for a moment the process would put right after a restart.
      const { rows } = await ledger.db.pool.query<{ type: string }>(
        `select type from ledger_events where data ->> 'transferId' = $1 and type like 'Funds%' order by position`,
        [t.transferId],
      );
      expect(rows.map((r) => r.type)).toEqual(['FundsHeld', 'FundsCredited', 'FundsDebited']);
      expect(
        await Promise.race([
          running.done.then(
            () => 'stopped',
            () => 'failed',
          ),
          'running',
        ]),
      ).toBe('running');
    } finally {
      await ledger.close();
    }
  });
});
