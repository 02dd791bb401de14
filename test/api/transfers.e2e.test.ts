import request from 'supertest';
import { expectProblem, startApi, type ApiHarness } from './harness';

const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

describe('transfers API', () => {
  let api: ApiHarness;
  const transfersRequested = async () => {
    const { rows } = await api.ledger.db.pool.query<{ n: string }>(
      `select count(*)::text as n from ledger_events where type = 'TransferRequested'`,
    );
    return Number(rows[0].n);
  };
  const balance = async (id: string) => {
    await api.sync();
    return (await request(api.app).get(`/v1/accounts/${id}/balance`)).body;
  };

  beforeAll(async () => {
    api = await startApi();
    await api.open('src');
    await api.open('dst');
    await api.fund('src', '1000.00');
  });
  afterAll(() => api.close());

  describe('POST /v1/transfers', () => {
    it('accepts: 202, Location, Ledger-Position and the Transfer; read back with Ledger-Min-Position', async () => {
      const res = await request(api.app)
        .post('/v1/transfers')
        .send({
          sourceAccount: 'src',
          destinationAccount: 'dst',
          amount: '10.5',
          description: 'rent',
          metadata: { invoice: 7 },
        });
      expect(res.status).toBe(202);
      expect(res.body.id).toMatch(uuid);
      expect(res.headers.location).toBe(`/v1/transfers/${res.body.id}`);
      expect(res.headers['ledger-position']).toMatch(/^[1-9][0-9]*$/);
      expect(res.headers['idempotent-replayed']).toBeUndefined();
      expect(res.body).toEqual({
        id: res.body.id,
        sourceAccount: 'src',
        destinationAccount: 'dst',
        amount: '10.50',
        currency: 'USD',
        mode: 'immediate',
        status: 'REQUESTED',
        description: 'rent',
        metadata: { invoice: 7 },
        createdAt: api.ledger.clock.now.toISOString(),
        updatedAt: api.ledger.clock.now.toISOString(),
        steps: [{ status: 'REQUESTED', at: api.ledger.clock.now.toISOString() }],
      });

      const read = await request(api.app)
        .get(res.headers.location)
        .set('Ledger-Min-Position', res.headers['ledger-position']);
      expect(read.status).toBe(200);
      expect(read.body).toMatchObject({
        id: res.body.id,
        amount: '10.50',
        description: 'rent',
        metadata: { invoice: 7 },
      });
      expect(['REQUESTED', 'HELD', 'CREDITED', 'COMMITTED']).toContain(read.body.status);
    });

    it('Prefer: wait=N answers 201 once the transfer is settled', async () => {
      const res = await request(api.app)
        .post('/v1/transfers')
        .set('Prefer', 'respond-async, wait=10')
        .send({ sourceAccount: 'src', destinationAccount: 'dst', amount: 1 });
      expect(res.status).toBe(201);
      expect(res.headers['preference-applied']).toBe('wait=10');
      expect(res.body.status).toBe('COMMITTED');
      expect(res.body.steps.map((s: { status: string }) => s.status)).toEqual([
        'REQUESTED',
        'HELD',
        'CREDITED',
        'COMMITTED',
      ]);

      // Its Ledger-Position is the settled state's, so a read at that position sees it settled.
      const read = await request(api.app)
        .get(`/v1/transfers/${res.body.id}`)
        .set('Ledger-Min-Position', res.headers['ledger-position']);
      expect(read.body.status).toBe('COMMITTED');
    });

    it('Prefer: wait=N answers 202 when the transfer is not settled within N seconds', async () => {
      await api.ledger.stopProcesses();
      try {
        const started = Date.now();
        const res = await request(api.app)
          .post('/v1/transfers')
          .set('Prefer', 'wait=1')
          .send({ sourceAccount: 'src', destinationAccount: 'dst', amount: '1.00' });
        expect(res.status).toBe(202);
        expect(res.body.status).toBe('REQUESTED');
        expect(Date.now() - started).toBeGreaterThanOrEqual(900);
      } finally {
        api.ledger.startProcess();
      }
    });

    it('ends REJECTED with a reason when the source cannot pay; balances unchanged', async () => {
      await api.open('poor');
      const res = await request(api.app)
        .post('/v1/transfers')
        .set('Prefer', 'wait=10')
        .send({ sourceAccount: 'poor', destinationAccount: 'dst', amount: '0.01' });
      expect(res.status).toBe(201);
      expect(res.body).toMatchObject({ status: 'REJECTED', reason: 'INSUFFICIENT_FUNDS' });
      expect((await balance('poor')).posted).toBe('0.00');
    });

    it('refuses synchronously, writing nothing: unknown accounts 404, same account / currency 422', async () => {
      await api.open('eur-1', 'EUR');
      const before = await api.eventCount();
      const cases: [object, number, string][] = [
        [{ sourceAccount: 'ghost', destinationAccount: 'dst', amount: '1.00' }, 404, 'ACCOUNT_NOT_FOUND'],
        [{ sourceAccount: 'src', destinationAccount: 'ghost', amount: '1.00' }, 404, 'ACCOUNT_NOT_FOUND'],
        [{ sourceAccount: 'ghost', destinationAccount: 'ghost-2', amount: '1.00' }, 404, 'ACCOUNT_NOT_FOUND'],
        [{ sourceAccount: 'src', destinationAccount: 'src', amount: '1.00' }, 422, 'SAME_ACCOUNT'],
        [
          { sourceAccount: 'src', destinationAccount: 'dst', amount: '1.00', currency: 'EUR' },
          422,
          'CURRENCY_MISMATCH',
        ],
        [{ sourceAccount: 'src', destinationAccount: 'eur-1', amount: '1.00' }, 422, 'CURRENCY_MISMATCH'],
        [{ sourceAccount: 'src', destinationAccount: 'dst', amount: '1.001' }, 422, 'VALIDATION_FAILED'],
      ];
      for (const [body, status, code] of cases) {
        const res = await request(api.app)
          .post('/v1/transfers')
          .set('Idempotency-Key', `refused-${code}-${status}`)
          .send(body);
        expectProblem(res, status, code);
      }
      expect(await api.eventCount()).toBe(before);
    });
  });

  describe('idempotency', () => {
    const body = { sourceAccount: 'src', destinationAccount: 'dst', amount: '2.00', description: 'idem' };

    it('same key and body: the same transfer, Idempotent-Replayed, same status class; other body: 422', async () => {
      const first = await request(api.app).post('/v1/transfers').set('Idempotency-Key', 'key-1').send(body);
      expect(first.status).toBe(202);
      const count = await transfersRequested();
      const again = await request(api.app)
        .post('/v1/transfers')
        .set('Idempotency-Key', 'key-1')
        .send({ ...body });
      expect(again.status).toBe(202);
      expect(again.headers['idempotent-replayed']).toBe('true');
      expect(again.body.id).toBe(first.body.id);
      expect(again.headers.location).toBe(first.headers.location);

      // A number that is the same amount is the same request.
      const asNumber = await request(api.app)
        .post('/v1/transfers')
        .set('Idempotency-Key', 'key-1')
        .send({ ...body, amount: 2 });
      expect(asNumber.body.id).toBe(first.body.id);

      expectProblem(
        await request(api.app)
          .post('/v1/transfers')
          .set('Idempotency-Key', 'key-1')
          .send({ ...body, amount: '2.01' }),
        422,
        'IDEMPOTENCY_KEY_REUSED',
      );
      expect(await transfersRequested()).toBe(count);
    });

    it('the same key sent concurrently makes exactly one transfer', async () => {
      const before = await transfersRequested();
      const responses = await Promise.all(
        Array.from({ length: 12 }, () =>
          request(api.app).post('/v1/transfers').set('Idempotency-Key', 'key-race').send(body),
        ),
      );
      const accepted = responses.filter((r) => r.status === 202);
      for (const r of responses.filter((r) => r.status !== 202)) expectProblem(r, 409, 'IDEMPOTENCY_KEY_IN_USE');
      expect(accepted.length).toBeGreaterThan(0);
      expect(new Set(accepted.map((r) => r.body.id)).size).toBe(1);
      expect(await transfersRequested()).toBe(before + 1);
    });

    it('re-submitting a transfer id returns that transfer; a rejected one stays rejected', async () => {
      await api.open('broke');
      const rejected = await request(api.app)
        .post('/v1/transfers')
        .set('Prefer', 'wait=10')
        .send({ id: 'tr-fixed-id', sourceAccount: 'broke', destinationAccount: 'dst', amount: '5.00' });
      expect(rejected.body.status).toBe('REJECTED');
      await api.fund('broke', '10.00');
      const again = await request(api.app)
        .post('/v1/transfers')
        .set('Prefer', 'wait=10')
        .send({ id: 'tr-fixed-id', sourceAccount: 'broke', destinationAccount: 'dst', amount: '5.00' });
      expect(again.status).toBe(201);
      expect(again.headers['idempotent-replayed']).toBe('true');
      expect(again.body).toMatchObject({ id: 'tr-fixed-id', status: 'REJECTED', reason: 'INSUFFICIENT_FUNDS' });
    });
  });

  describe('pending transfers', () => {
    it('holds (201 HELD with wait), then commits part (200 COMMITTED with wait) and releases the rest', async () => {
      await api.open('p-src');
      await api.fund('p-src', '100.00');
      const held = await request(api.app).post('/v1/transfers').set('Prefer', 'wait=10').send({
        sourceAccount: 'p-src',
        destinationAccount: 'dst',
        amount: '60.00',
        mode: 'pending',
        timeoutSeconds: 3600,
      });
      expect(held.status).toBe(201);
      expect(held.body).toMatchObject({ mode: 'pending', status: 'HELD' });
      expect(new Date(held.body.expiresAt).getTime() - new Date(held.body.createdAt).getTime()).toBe(3_600_000);
      expect(await balance('p-src')).toMatchObject({ posted: '100.00', held: '60.00', available: '40.00' });

      expectProblem(
        await request(api.app).post(`/v1/transfers/${held.body.id}/commit`).send({ amount: '60.01' }),
        422,
        'INVALID_COMMAND',
      );
      expectProblem(
        await request(api.app).post(`/v1/transfers/${held.body.id}/commit`).send({ amount: '1.001' }),
        422,
        'VALIDATION_FAILED',
      );
      expectProblem(
        await request(api.app).post(`/v1/transfers/${held.body.id}/commit`).send({ amount: '0' }),
        422,
        'VALIDATION_FAILED',
      );

      const committed = await request(api.app)
        .post(`/v1/transfers/${held.body.id}/commit`)
        .set('Prefer', 'wait=10')
        .send({ amount: '25.00' });
      expect(committed.status).toBe(200);
      expect(committed.headers['ledger-position']).toMatch(/^[1-9][0-9]*$/);
      expect(committed.body).toMatchObject({ id: held.body.id, status: 'COMMITTED', amount: '60.00' });
      expect(await balance('p-src')).toMatchObject({ posted: '75.00', held: '0.00', available: '75.00' });

      expectProblem(await request(api.app).post(`/v1/transfers/${held.body.id}/commit`), 409, 'TRANSFER_NOT_PENDING');
      expectProblem(await request(api.app).post(`/v1/transfers/${held.body.id}/void`), 409, 'TRANSFER_NOT_PENDING');
    });

    it('commit without wait answers 202 with the transfer still HELD, and the process finishes it', async () => {
      const held = await request(api.app)
        .post('/v1/transfers')
        .set('Prefer', 'wait=10')
        .send({ sourceAccount: 'src', destinationAccount: 'dst', amount: '3.00', mode: 'pending' });
      expect(held.body.status).toBe('HELD');
      const committed = await request(api.app).post(`/v1/transfers/${held.body.id}/commit`).send({});
      expect(committed.status).toBe(202);
      expect(committed.body.status).toBe('HELD');
      await api.ledger.waitForStatus(held.body.id, 'COMMITTED');
    });

    it('void releases the hold: CANCELLED, reason VOIDED', async () => {
      const held = await request(api.app)
        .post('/v1/transfers')
        .set('Prefer', 'wait=10')
        .send({ sourceAccount: 'src', destinationAccount: 'dst', amount: '7.00', mode: 'pending' });
      expect(held.body.status).toBe('HELD');
      const voided = await request(api.app).post(`/v1/transfers/${held.body.id}/void`).set('Prefer', 'wait=10');
      expect(voided.status).toBe(200);
      expect(voided.body).toMatchObject({ status: 'CANCELLED', reason: 'VOIDED' });
      expectProblem(await request(api.app).post(`/v1/transfers/${held.body.id}/void`), 409, 'TRANSFER_NOT_PENDING');
    });

    it('commit or void: 409 on an immediate transfer, 404 on an unknown one', async () => {
      const done = await request(api.app)
        .post('/v1/transfers')
        .set('Prefer', 'wait=10')
        .send({ sourceAccount: 'src', destinationAccount: 'dst', amount: '1.00' });
      expectProblem(await request(api.app).post(`/v1/transfers/${done.body.id}/commit`), 409, 'TRANSFER_NOT_PENDING');
      expectProblem(await request(api.app).post(`/v1/transfers/${done.body.id}/void`), 409, 'TRANSFER_NOT_PENDING');
      expectProblem(await request(api.app).post('/v1/transfers/nope/commit'), 404, 'TRANSFER_NOT_FOUND');
      expectProblem(
        await request(api.app).post('/v1/transfers/nope/commit').send({ amount: '1.00' }),
        404,
        'TRANSFER_NOT_FOUND',
      );
      expectProblem(await request(api.app).post('/v1/transfers/nope/void'), 404, 'TRANSFER_NOT_FOUND');
    });
  });

  describe('POST /v1/transfers/batch', () => {
    it('accepts or rejects each item on its own', async () => {
      const before = await transfersRequested();
      const res = await request(api.app)
        .post('/v1/transfers/batch')
        .send({
          transfers: [
            { id: 'batch-ok-1', sourceAccount: 'src', destinationAccount: 'dst', amount: '1.00' },
            { sourceAccount: 'src', destinationAccount: 'dst', amount: '-1.00' },
            { id: 'batch-ghost', sourceAccount: 'ghost', destinationAccount: 'dst', amount: '1.00' },
            { sourceAccount: 'src', destinationAccount: 'dst', amount: '2.00', extra: true },
            'not an object',
            { sourceAccount: 'src', destinationAccount: 'dst', amount: '3.00' },
          ],
        });
      expect(res.status).toBe(202);
      expect(res.headers['ledger-position']).toMatch(/^[1-9][0-9]*$/);
      const items = res.body.items;
      expect(items).toHaveLength(6);
      expect(items[0]).toEqual({ index: 0, id: 'batch-ok-1', status: 'REQUESTED' });
      expect(items[1]).toMatchObject({
        index: 1,
        error: { status: 422, code: 'VALIDATION_FAILED', errors: [{ path: 'amount', message: expect.any(String) }] },
      });
      expect(items[2]).toMatchObject({
        index: 2,
        id: 'batch-ghost',
        error: { status: 404, code: 'ACCOUNT_NOT_FOUND' },
      });
      expect(items[3]).toMatchObject({
        index: 3,
        error: { code: 'VALIDATION_FAILED', errors: [{ path: 'extra', message: 'is not a known field' }] },
      });
      expect(items[4]).toMatchObject({ index: 4, error: { code: 'VALIDATION_FAILED' } });
      expect(items[5]).toEqual({ index: 5, id: expect.stringMatching(uuid), status: 'REQUESTED' });
      expect(await transfersRequested()).toBe(before + 2);
      const done = await api.ledger.waitForTerminal(['batch-ok-1', items[5].id]);
      expect([...done.values()].map((s) => s.status)).toEqual(['COMMITTED', 'COMMITTED']);
    });

    it('with an Idempotency-Key, a repeated batch gets the same transfers', async () => {
      const batch = {
        transfers: [1, 2, 3].map((n) => ({ sourceAccount: 'src', destinationAccount: 'dst', amount: `${n}.00` })),
      };
      const first = await request(api.app).post('/v1/transfers/batch').set('Idempotency-Key', 'batch-key').send(batch);
      const count = await transfersRequested();
      const again = await request(api.app).post('/v1/transfers/batch').set('Idempotency-Key', 'batch-key').send(batch);
      expect(again.status).toBe(202);
      expect(again.headers['idempotent-replayed']).toBe('true');
      expect(again.body.items.map((i: { id: string }) => i.id)).toEqual(
        first.body.items.map((i: { id: string }) => i.id),
      );
      expect(await transfersRequested()).toBe(count);
      const changed = await request(api.app)
        .post('/v1/transfers/batch')
        .set('Idempotency-Key', 'batch-key')
        .send({ transfers: [batch.transfers[0], { ...batch.transfers[1], amount: '9.00' }] });
      expect(changed.body.items[0].id).toBe(first.body.items[0].id);
      expect(changed.body.items[1]).toMatchObject({ index: 1, error: { status: 422, code: 'IDEMPOTENCY_KEY_REUSED' } });
    });

    it('two items with the same id make one transfer', async () => {
      const before = await transfersRequested();
      const item = { id: 'batch-dup', sourceAccount: 'src', destinationAccount: 'dst', amount: '1.00' };
      const res = await request(api.app)
        .post('/v1/transfers/batch')
        .send({ transfers: [item, item] });
      expect(res.status).toBe(202);
      expect(res.body.items).toEqual([
        { index: 0, id: 'batch-dup', status: expect.any(String) },
        { index: 1, id: 'batch-dup', status: expect.any(String) },
      ]);
      expect(await transfersRequested()).toBe(before + 1);
    });

    it('takes 1 to 1000 transfers', async () => {
      const item = {
        sourceAccount: 'src',
        destinationAccount: 'dst',
        amount: '0.01',
        description: 'bulk payout #0001',
      };
      const thousand = await request(api.app)
        .post('/v1/transfers/batch')
        .send({ transfers: Array.from({ length: 1000 }, () => item) });
      expect(thousand.status).toBe(202);
      expect(thousand.body.items.filter((i: { status?: string }) => i.status === 'REQUESTED')).toHaveLength(1000);
      const before = await transfersRequested();
      expectProblem(
        await request(api.app)
          .post('/v1/transfers/batch')
          .send({ transfers: Array.from({ length: 1001 }, () => item) }),
        422,
        'VALIDATION_FAILED',
      );
      expectProblem(
        await request(api.app).post('/v1/transfers/batch').send({ transfers: [] }),
        422,
        'VALIDATION_FAILED',
      );
      expectProblem(await request(api.app).post('/v1/transfers/batch').send({}), 422, 'VALIDATION_FAILED');
      expectProblem(await request(api.app).post('/v1/transfers/batch').send([item]), 422, 'VALIDATION_FAILED');
      expect(await transfersRequested()).toBe(before);
    });
  });

  describe('GET /v1/transfers', () => {
    it('lists newest first, by account and status, page by page', async () => {
      await api.open('l-a');
      await api.open('l-b');
      await api.open('l-c');
      await api.fund('l-a', '10.00');
      const ids: string[] = [];
      for (const [source, destination, amount] of [
        ['l-a', 'l-b', '1.00'],
        ['l-b', 'l-c', '0.50'],
        ['l-a', 'l-c', '99.00'],
        ['l-a', 'l-b', '2.00'],
      ]) {
        api.ledger.clock.now = new Date(api.ledger.clock.now.getTime() + 1_000);
        const res = await request(api.app)
          .post('/v1/transfers')
          .set('Prefer', 'wait=10')
          .send({ sourceAccount: source, destinationAccount: destination, amount });
        ids.push(res.body.id);
      }
      await api.sync();

      const forB = await request(api.app).get('/v1/transfers').query({ account: 'l-b' });
      expect(forB.status).toBe(200);
      expect(forB.body.items.map((t: { id: string }) => t.id)).toEqual([ids[3], ids[1], ids[0]]);
      expect(forB.body.nextCursor).toBeNull();

      const rejected = await request(api.app).get('/v1/transfers').query({ account: 'l-a', status: 'REJECTED' });
      expect(rejected.body.items).toEqual([
        expect.objectContaining({ id: ids[2], status: 'REJECTED', reason: 'INSUFFICIENT_FUNDS' }),
      ]);

      const seen: string[] = [];
      let cursor: string | null = null;
      for (let pages = 0; pages < 10; pages++) {
        const res: request.Response = await request(api.app)
          .get('/v1/transfers')
          .query({ account: 'l-a', limit: 1, ...(cursor !== null && { cursor }) });
        seen.push(...res.body.items.map((t: { id: string }) => t.id));
        cursor = res.body.nextCursor;
        if (cursor === null) break;
      }
      expect(seen).toHaveLength(4);
      expect(seen.slice(0, 3)).toEqual([ids[3], ids[2], ids[0]]);
      expect(seen[3]).toMatch(/^fund-l-a-/);

      const all = await request(api.app).get('/v1/transfers?limit=3');
      expect(all.body.items).toHaveLength(3);
      expect(all.body.items[0].id).toBe(ids[3]);
      expectProblem(await request(api.app).get('/v1/transfers?status=DONE'), 422, 'VALIDATION_FAILED');
      expectProblem(await request(api.app).get('/v1/transfers?account=%00'), 422, 'VALIDATION_FAILED');
    });

    it('GET /v1/transfers/{id}: 404 TRANSFER_NOT_FOUND when unknown', async () => {
      expectProblem(
        await request(api.app).get('/v1/transfers/00000000-0000-0000-0000-000000000000'),
        404,
        'TRANSFER_NOT_FOUND',
      );
    });
  });

  describe('read your writes', () => {
    it('a balance read with Ledger-Min-Position reflects the write', async () => {
      await api.open('ryw-dst');
      const res = await request(api.app)
        .post('/v1/transfers')
        .set('Prefer', 'wait=10')
        .send({ sourceAccount: 'src', destinationAccount: 'ryw-dst', amount: '4.44' });
      expect(res.body.status).toBe('COMMITTED');
      const read = await request(api.app)
        .get('/v1/accounts/ryw-dst/balance')
        .set('Ledger-Min-Position', res.headers['ledger-position']);
      expect(read.status).toBe(200);
      expect(read.body.posted).toBe('4.44');
      const statement = await request(api.app)
        .get('/v1/accounts/ryw-dst/entries')
        .set('Ledger-Min-Position', res.headers['ledger-position']);
      expect(statement.body.items).toEqual([
        expect.objectContaining({ transferId: res.body.id, direction: 'credit', amount: '4.44' }),
      ]);
    });

    it('503 PROJECTION_BEHIND with Retry-After when the read model does not reach the position in 5 s', async () => {
      const res = await request(api.app).get('/v1/accounts/src').set('Ledger-Min-Position', '9000000000000000000');
      expectProblem(res, 503, 'PROJECTION_BEHIND');
      expect(res.headers['retry-after']).toBe('1');
    }, 15_000);
  });
});
