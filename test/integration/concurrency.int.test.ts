import { randomUUID } from 'node:crypto';
import { availableMinor } from '../../src/domain/account';
import { createTestLedger, type TestLedger } from '../support/ledger';

describe('invariant 2 under concurrency: one source, more demand than money', () => {
  let ledger: TestLedger;
  beforeAll(async () => {
    ledger = await createTestLedger();
    ledger.startProcess();
  });
  afterAll(() => ledger.close());

  it('200 concurrent transfers against a balance covering exactly 100: 100 commit, 100 reject, nothing left', async () => {
    await ledger.open('hot');
    await ledger.open('sink');
    await ledger.fund('hot', 100n * 7n);
    const ids = Array.from({ length: 200 }, () => randomUUID());
    await Promise.all(
      ids.map((transferId) =>
        ledger.transfers.requestTransfer({
          transferId,
          sourceAccount: 'hot',
          destinationAccount: 'sink',
          amountMinor: 7n,
        }),
      ),
    );
    const done = await ledger.waitForTerminal(ids, 60_000);
    const statuses = [...done.values()];
    expect(statuses.filter((s) => s.status === 'COMMITTED')).toHaveLength(100);
    const rejected = statuses.filter((s) => s.status === 'REJECTED');
    expect(rejected).toHaveLength(100);
    expect(new Set(rejected.map((s) => s.reason))).toEqual(new Set(['INSUFFICIENT_FUNDS']));
    const hot = await ledger.account('hot');
    expect(availableMinor(hot)).toBe(0n);
    expect(hot.heldMinor).toBe(0n);
    expect((await ledger.account('sink')).postedMinor).toBe(700n);
  });

  it('a second process stands by on the lease and takes over when the first dies, applying each transfer once', async () => {
    const crash = new Error('simulated crash');
    let batches = 0;
    // The running process (from beforeAll) is stopped; this one dies after its first batch.
    await ledger.stopProcesses();
    const first = ledger.startProcess({
      restartOnError: false,
      leaseTtlMs: 1_000,
      faults: {
        check: (point) => {
          if (point === 'after-record' && ++batches === 2) throw crash;
        },
      },
    });
    await ledger.open('race-src');
    await ledger.open('race-dst');
    await ledger.fund('race-src', 1_000n); // worked by `first`, which therefore holds the lease
    const standby = ledger.startProcess({ leaseTtlMs: 1_000 });
    const ids = Array.from({ length: 50 }, () => randomUUID());
    await Promise.all(
      ids.map((transferId) =>
        ledger.transfers.requestTransfer({
          transferId,
          sourceAccount: 'race-src',
          destinationAccount: 'race-dst',
          amountMinor: 30n,
        }),
      ),
    );
    await expect(first.done).rejects.toBe(crash);
    const done = await ledger.waitForTerminal(ids, 60_000);
    const committed = [...done.values()].filter((s) => s.status === 'COMMITTED').length;
    expect(committed).toBe(33);
    expect((await ledger.account('race-dst')).postedMinor).toBe(33n * 30n);
    expect((await ledger.account('race-src')).postedMinor).toBe(1_000n - 33n * 30n);
    expect((await ledger.account('race-src')).heldMinor).toBe(0n);
    await standby.stop();
  });
});
