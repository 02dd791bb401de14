import { randomUUID } from 'node:crypto';
import { withoutMultiStreamAppend } from '../support/single-stream-store';
import { createTestLedger, type TestLedger } from '../support/ledger';

describe.each([
  ['multi-stream append', undefined],
  ['stream-by-stream append', withoutMultiStreamAppend],
])('ingress and idempotency (%s)', (_, store) => {
  let ledger: TestLedger;
  beforeAll(async () => {
    ledger = await createTestLedger({ store });
    await ledger.open('src');
    await ledger.open('dst');
    await ledger.open('eur', 'EUR');
  });
  afterAll(() => ledger.close());

  const body = { sourceAccount: 'src', destinationAccount: 'dst', amountMinor: 100n };

  it('rejects synchronously what it can know: unknown accounts, currencies, same account', async () => {
    await expect(ledger.transfers.requestTransfer({ ...body, sourceAccount: 'nobody' })).rejects.toMatchObject({
      code: 'ACCOUNT_NOT_FOUND',
    });
    await expect(ledger.transfers.requestTransfer({ ...body, destinationAccount: 'eur' })).rejects.toMatchObject({
      code: 'CURRENCY_MISMATCH',
    });
    await expect(ledger.transfers.requestTransfer({ ...body, currency: 'EUR' })).rejects.toMatchObject({
      code: 'CURRENCY_MISMATCH',
    });
    await expect(ledger.transfers.requestTransfer({ ...body, destinationAccount: 'src' })).rejects.toMatchObject({
      code: 'SAME_ACCOUNT',
    });
  });

  it('same key, same body: the same transfer, replayed', async () => {
    const key = randomUUID();
    const first = await ledger.transfers.requestTransfer({ ...body, idempotencyKey: key });
    const again = await ledger.transfers.requestTransfer({ ...body, idempotencyKey: key });
    expect(first.replayed).toBe(false);
    expect(again.replayed).toBe(true);
    expect(again.transferId).toBe(first.transferId);
  });

  it('same key, other body: IDEMPOTENCY_KEY_REUSED, nothing stored', async () => {
    const key = randomUUID();
    await ledger.transfers.requestTransfer({ ...body, idempotencyKey: key });
    const other = randomUUID();
    await expect(
      ledger.transfers.requestTransfer({ ...body, transferId: other, amountMinor: 101n, idempotencyKey: key }),
    ).rejects.toMatchObject({ code: 'IDEMPOTENCY_KEY_REUSED' });
    expect(await ledger.transfers.getTransfer(other)).toBeNull();
  });

  it('keys are scoped: the same key in another scope is another transfer', async () => {
    const key = randomUUID();
    const a = await ledger.transfers.requestTransfer({ ...body, idempotencyKey: key }, 'client-a');
    const b = await ledger.transfers.requestTransfer({ ...body, idempotencyKey: key }, 'client-b');
    expect(a.transferId).not.toBe(b.transferId);
  });

  it('the same key sent concurrently: exactly one transfer; others get it or IDEMPOTENCY_KEY_IN_USE', async () => {
    const key = randomUUID();
    const results = await Promise.allSettled(
      Array.from({ length: 20 }, () => ledger.transfers.requestTransfer({ ...body, idempotencyKey: key })),
    );
    const ids = new Set(results.filter((r) => r.status === 'fulfilled').map((r) => r.value.transferId));
    expect(ids.size).toBe(1);
    for (const r of results) {
      if (r.status === 'rejected') expect(r.reason).toMatchObject({ code: 'IDEMPOTENCY_KEY_IN_USE' });
    }
    expect(results.filter((r) => r.status === 'fulfilled' && !r.value.replayed)).toHaveLength(1);
  });

  it('re-submitting a transfer id returns that transfer, never a second one', async () => {
    const transferId = randomUUID();
    const first = await ledger.transfers.requestTransfer({ ...body, transferId });
    const again = await ledger.transfers.requestTransfer({ ...body, transferId, amountMinor: 5n });
    expect(again.replayed).toBe(true);
    expect(again.state.request?.amountMinor).toBe(100n);
    expect(again.transferId).toBe(first.transferId);
  });

  it('a batch: each item on its own, stored together, with conflicts and rejections in place', async () => {
    const existing = randomUUID();
    await ledger.transfers.requestTransfer({ ...body, transferId: existing });
    const fresh = [randomUUID(), randomUUID()];
    const outcomes = await ledger.transfers.requestTransfers([
      { ...body, transferId: fresh[0] },
      { ...body, sourceAccount: 'ghost' },
      { ...body, transferId: existing },
      { ...body, transferId: fresh[1], idempotencyKey: randomUUID() },
    ]);
    expect(outcomes.map((o) => o.ok)).toEqual([true, false, true, true]);
    expect(outcomes[1]).toMatchObject({ ok: false, error: { code: 'ACCOUNT_NOT_FOUND' } });
    expect(outcomes[2]).toMatchObject({ ok: true, transfer: { transferId: existing, replayed: true } });
    for (const id of fresh) expect((await ledger.transfers.getTransfer(id))?.state.status).toBe('REQUESTED');
  });

  it('a batch naming one transfer id twice stores it once; the second item gets the first', async () => {
    const transferId = randomUUID();
    const outcomes = await ledger.transfers.requestTransfers([
      { ...body, transferId },
      { ...body, transferId, amountMinor: 7n },
    ]);
    expect(outcomes).toMatchObject([
      { ok: true, transfer: { transferId, replayed: false } },
      { ok: true, transfer: { transferId, replayed: true } },
    ]);
    expect((await ledger.transfers.getTransfer(transferId))?.state.request?.amountMinor).toBe(100n);
  });

  it('concurrent requests each get their own transfer, and a request id shared between them is stored once', async () => {
    const shared = randomUUID();
    const results = await Promise.all([
      ...Array.from({ length: 30 }, () => ledger.transfers.requestTransfer(body)),
      ...Array.from({ length: 5 }, () => ledger.transfers.requestTransfer({ ...body, transferId: shared })),
    ]);
    expect(new Set(results.map((r) => r.transferId)).size).toBe(31);
    expect(results.filter((r) => r.transferId === shared && !r.replayed)).toHaveLength(1);
    for (const r of results) expect((await ledger.transfers.getTransfer(r.transferId))?.state.status).toBeDefined();
  });

  it('refuses an empty or oversized batch', async () => {
    await expect(ledger.transfers.requestTransfers([])).rejects.toMatchObject({ code: 'INVALID_COMMAND' });
    await expect(ledger.transfers.requestTransfers(Array.from({ length: 1001 }, () => body))).rejects.toMatchObject({
      code: 'INVALID_COMMAND',
    });
  });
});
