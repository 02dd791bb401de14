import { randomUUID } from 'node:crypto';
import { loadTransfer } from '../../src/commands/aggregates';
import { ProcessBacklog } from '../../src/commands/process-backlog';
import { TransferCommands } from '../../src/commands/transfer-commands';
import { transferProcessName } from '../../src/commands/transfer-process';
import { loadCheckpoint } from '../../src/db/checkpoints';
import { createTestLedger, testLogger, type TestLedger } from '../support/ledger';

/** Ingress admission control against the real transfer process and its checkpoint. */
describe('ingress waits while the transfer process is behind', () => {
  let ledger: TestLedger;
  beforeEach(async () => {
    ledger = await createTestLedger();
    await ledger.open('src');
    await ledger.open('dst');
  });
  afterEach(() => ledger.close());

  const gated = (limit: number, maxWaitMs: number) => {
    const backlog = new ProcessBacklog({
      limit,
      logger: testLogger,
      maxWaitMs,
      pollMs: 5,
      processedUpTo: () => loadCheckpoint(ledger.db.pool, transferProcessName),
    });
    return { backlog, transfers: new TransferCommands(ledger.store, { backlog }) };
  };
  const request = (transfers: TransferCommands, transferId = randomUUID()) =>
    transfers.requestTransfer({ transferId, sourceAccount: 'src', destinationAccount: 'dst', amountMinor: 1n });

  it('with no process to make room, a write is refused with OVERLOADED and stores nothing', async () => {
    const { backlog, transfers } = gated(2, 300);
    const accepted = await transfers.requestTransfers(
      [1, 2].map(() => ({ sourceAccount: 'src', destinationAccount: 'dst', amountMinor: 1n })),
    );
    expect(accepted.every((o) => o.ok)).toBe(true);
    expect(backlog.backlog).toBe(2);

    const refusedId = randomUUID();
    await expect(request(transfers, refusedId)).rejects.toMatchObject({ code: 'OVERLOADED' });
    expect((await loadTransfer(ledger.store, refusedId)).state.status).toBe('NONE');

    // Once the process reads the backlog, writes are admitted again.
    ledger.startProcess();
    const later = await ledger.waitForTerminal(accepted.map((o) => (o.ok ? o.transfer.transferId : '')));
    expect([...later.values()].map((s) => s.status)).toEqual(['REJECTED', 'REJECTED']); // src holds nothing
    // The process saves its checkpoint after its appends; ingress sees it at its next look.
    const deadline = Date.now() + 5_000;
    while (backlog.backlog > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    expect(backlog.backlog).toBe(0);
    const admittedId = randomUUID();
    await expect(request(transfers, admittedId)).resolves.toMatchObject({ transferId: admittedId });
    backlog.close();
  });

  it('a waiting write goes as soon as the process makes room, and every transfer settles once', async () => {
    ledger.startProcess();
    await ledger.fund('src', 1_000n);
    await ledger.stopProcesses();
    const { backlog, transfers } = gated(1, 20_000);
    const first = await request(transfers);
    const waiting = request(transfers);
    let settled = false;
    void waiting.then(() => (settled = true));
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(settled).toBe(false);
    expect((await ledger.account('src')).holds.size).toBe(0);

    ledger.startProcess();
    const second = await waiting;
    const done = await ledger.waitForTerminal([first.transferId, second.transferId]);
    expect([...done.values()].map((s) => s.status)).toEqual(['COMMITTED', 'COMMITTED']);
    expect(await ledger.available('src')).toBe(998n);
    backlog.close();
  });
});
