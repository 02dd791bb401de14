import request from 'supertest';
import { expectProblem, startApi, type ApiHarness } from './harness';

describe('accounts API', () => {
  let api: ApiHarness;
  beforeAll(async () => {
    api = await startApi();
  });
  afterAll(() => api.close());

  describe('POST /v1/accounts', () => {
    it('opens an account: 201, Location, Ledger-Position and the Account', async () => {
      const res = await request(api.app)
        .post('/v1/accounts')
        .send({ id: 'acc-open-1', currency: 'USD', metadata: { owner: { name: 'Ada' }, tags: ['a'] } });
      expect(res.status).toBe(201);
      expect(res.headers['content-type']).toMatch(/^application\/json/);
      expect(res.headers.location).toBe('/v1/accounts/acc-open-1');
      expect(res.headers['ledger-position']).toMatch(/^[1-9][0-9]*$/);
      expect(res.body).toEqual({
        id: 'acc-open-1',
        currency: 'USD',
        status: 'open',
        overdraft: 'none',
        balance: {
          accountId: 'acc-open-1',
          currency: 'USD',
          posted: '0.00',
          held: '0.00',
          available: '0.00',
          asOf: expect.any(String),
          position: res.headers['ledger-position'],
        },
        metadata: { owner: { name: 'Ada' }, tags: ['a'] },
        createdAt: api.ledger.clock.now.toISOString(),
        version: 0,
      });
    });

    it('answers 200 with the same account when it is opened again identically, 409 when differently', async () => {
      const body = { id: 'acc-twice', currency: 'EUR', overdraft: '50.00', metadata: { k: 1 } };
      expect((await request(api.app).post('/v1/accounts').send(body)).status).toBe(201);
      const before = await api.eventCount();
      const again = await request(api.app)
        .post('/v1/accounts')
        .send({ ...body, metadata: { k: 1 } });
      expect(again.status).toBe(200);
      expect(again.headers.location).toBeUndefined();
      expect(again.headers['ledger-position']).toMatch(/^[1-9][0-9]*$/);
      expect(again.body).toMatchObject({ id: 'acc-twice', currency: 'EUR', overdraft: '50.00', metadata: { k: 1 } });
      for (const other of [
        { currency: 'USD' },
        { overdraft: 'none' },
        { overdraft: '50.01' },
        { metadata: { k: 2 } },
      ]) {
        expectProblem(
          await request(api.app)
            .post('/v1/accounts')
            .send({ ...body, ...other }),
          409,
          'ACCOUNT_EXISTS',
        );
      }
      expect(await api.eventCount()).toBe(before);
    });

    it('generates a UUID id when none is given', async () => {
      const res = await request(api.app).post('/v1/accounts').send({ currency: 'USD' });
      expect(res.status).toBe(201);
      expect(res.body.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
      expect(res.headers.location).toBe(`/v1/accounts/${res.body.id}`);
    });

    it('prints amounts at the currency scale: JPY 0, KWD 3 decimals; overdraft none, unlimited or a limit', async () => {
      const jpy = await request(api.app)
        .post('/v1/accounts')
        .send({ id: 'acc-jpy', currency: 'JPY', overdraft: '1000' });
      expect(jpy.body).toMatchObject({ overdraft: '1000', balance: { posted: '0', held: '0', available: '0' } });
      const kwd = await request(api.app).post('/v1/accounts').send({ id: 'acc-kwd', currency: 'KWD', overdraft: 1.5 });
      expect(kwd.body).toMatchObject({ overdraft: '1.500', balance: { posted: '0.000' } });
      const unlimited = await request(api.app)
        .post('/v1/accounts')
        .send({ id: 'acc-unl', currency: 'USD', overdraft: 'unlimited' });
      expect(unlimited.body.overdraft).toBe('unlimited');
    });
  });

  describe('GET /v1/accounts/{id}', () => {
    it('returns the Account from the read model, with its balance', async () => {
      await api.open('acc-get');
      await api.fund('acc-get', '12.34');
      await api.sync();
      const res = await request(api.app).get('/v1/accounts/acc-get');
      expect(res.status).toBe(200);
      expect(res.headers['cache-control']).toBe('no-store');
      expect(res.body).toMatchObject({
        id: 'acc-get',
        currency: 'USD',
        status: 'open',
        overdraft: 'none',
        balance: { accountId: 'acc-get', currency: 'USD', posted: '12.34', held: '0.00', available: '12.34' },
        metadata: {},
        version: 1,
      });
      expect(BigInt(res.body.balance.position)).toBeGreaterThan(0n);
    });

    it('finds an account the read model has not reached yet, from its stream', async () => {
      const opened = await request(api.app).post('/v1/accounts').send({ id: 'acc-fresh', currency: 'USD' });
      const res = await request(api.app).get('/v1/accounts/acc-fresh');
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({ id: 'acc-fresh', balance: { posted: '0.00' } });
      expect(opened.status).toBe(201);
    });

    it('404 ACCOUNT_NOT_FOUND for an account that does not exist', async () => {
      expectProblem(await request(api.app).get('/v1/accounts/nobody'), 404, 'ACCOUNT_NOT_FOUND');
      expectProblem(await request(api.app).get('/v1/accounts/nobody/balance'), 404, 'ACCOUNT_NOT_FOUND');
      expectProblem(await request(api.app).get('/v1/accounts/nobody/entries'), 404, 'ACCOUNT_NOT_FOUND');
    });
  });

  describe('GET /v1/accounts', () => {
    it('pages newest first with a stable cursor until nextCursor is null', async () => {
      for (let i = 0; i < 5; i++) await api.open(`list-${i}`);
      await api.sync();
      const all = await request(api.app).get('/v1/accounts?limit=500');
      expect(all.status).toBe(200);
      expect(all.body.nextCursor).toBeNull();
      const ids: string[] = all.body.items.map((a: { id: string }) => a.id);
      expect(ids).toEqual(expect.arrayContaining(['list-0', 'list-4']));

      const paged: string[] = [];
      let cursor: string | null = null;
      let pages = 0;
      do {
        const res: request.Response = await request(api.app)
          .get('/v1/accounts')
          .query({ limit: 2, ...(cursor !== null && { cursor }) });
        expect(res.status).toBe(200);
        expect(res.body.items.length).toBeLessThanOrEqual(2);
        paged.push(...res.body.items.map((a: { id: string }) => a.id));
        cursor = res.body.nextCursor;
        pages++;
      } while (cursor !== null && pages < 100);
      expect(paged).toEqual(ids);

      // The same cursor gives the same page, even after more accounts are opened.
      const first = await request(api.app).get('/v1/accounts?limit=2');
      api.ledger.clock.now = new Date(api.ledger.clock.now.getTime() + 1_000);
      await api.open('list-late');
      await api.sync();
      const second = await request(api.app).get('/v1/accounts').query({ limit: 2, cursor: first.body.nextCursor });
      const again = await request(api.app).get('/v1/accounts').query({ limit: 2, cursor: first.body.nextCursor });
      expect(second.body.items).toEqual(again.body.items);
      expect(second.body.items.map((a: { id: string }) => a.id)).toEqual(ids.slice(2, 4));
    });

    it('422 for a cursor it did not issue, or one of another list', async () => {
      expectProblem(await request(api.app).get('/v1/accounts?cursor=garbage'), 422, 'VALIDATION_FAILED');
      const transfers = Buffer.from(
        JSON.stringify({ k: 'transfers', at: '2024-01-01T00:00:00.000000Z', id: 'x' }),
      ).toString('base64url');
      const res = await request(api.app).get('/v1/accounts').query({ cursor: transfers });
      expectProblem(res, 422, 'VALIDATION_FAILED');
      expect(res.body.errors).toEqual([{ path: 'cursor', message: expect.any(String) }]);
    });
  });

  describe('GET /v1/accounts/{id}/balance', () => {
    it('returns the Balance; with asOf, the balance as it stood then, from the events', async () => {
      const t0 = new Date(api.ledger.clock.now.getTime() + 60_000);
      api.ledger.clock.now = t0;
      await api.open('acc-asof');
      api.ledger.clock.now = new Date(t0.getTime() + 60_000);
      await api.fund('acc-asof', '10.00');
      api.ledger.clock.now = new Date(t0.getTime() + 120_000);
      await api.fund('acc-asof', '5.25');
      await api.sync();

      const now = await request(api.app).get('/v1/accounts/acc-asof/balance');
      expect(now.status).toBe(200);
      expect(now.body).toEqual({
        accountId: 'acc-asof',
        currency: 'USD',
        posted: '15.25',
        held: '0.00',
        available: '15.25',
        asOf: expect.any(String),
        position: expect.stringMatching(/^[1-9][0-9]*$/),
      });

      const at = (ms: number) => new Date(t0.getTime() + ms).toISOString();
      const before = await request(api.app)
        .get('/v1/accounts/acc-asof/balance')
        .query({ asOf: at(90_000) });
      expect(before.status).toBe(200);
      expect(before.body).toMatchObject({
        accountId: 'acc-asof',
        posted: '10.00',
        available: '10.00',
        asOf: at(90_000),
      });
      const opened = await request(api.app)
        .get('/v1/accounts/acc-asof/balance')
        .query({ asOf: at(0) });
      expect(opened.body.posted).toBe('0.00');
      // An offset other than Z is the same instant.
      const offset = new Date(t0.getTime() + 90_000 + 2 * 3600_000).toISOString().replace('Z', '+02:00');
      expect((await request(api.app).get('/v1/accounts/acc-asof/balance').query({ asOf: offset })).body.posted).toBe(
        '10.00',
      );

      expectProblem(
        await request(api.app)
          .get('/v1/accounts/acc-asof/balance')
          .query({ asOf: at(-1) }),
        404,
        'ACCOUNT_NOT_FOUND',
      );
      expectProblem(
        await request(api.app)
          .get('/v1/accounts/acc-asof/balance')
          .query({ asOf: at(10 * 86_400_000) }),
        422,
        'VALIDATION_FAILED',
      );
      expectProblem(
        await request(api.app).get('/v1/accounts/acc-asof/balance').query({ asOf: 'yesterday' }),
        422,
        'VALIDATION_FAILED',
      );
    });
  });

  describe('GET /v1/accounts/{id}/entries', () => {
    it('is the statement, newest first, with descriptions and a position cursor', async () => {
      await api.open('st-a');
      await api.open('st-b');
      await api.fund('st-a', '100.00');
      for (const [amount, description] of [
        ['1.00', 'first'],
        ['2.00', 'second'],
        ['3.00', 'third'],
      ]) {
        const res = await request(api.app)
          .post('/v1/transfers')
          .set('Prefer', 'wait=10')
          .send({ sourceAccount: 'st-a', destinationAccount: 'st-b', amount, description });
        expect(res.body.status).toBe('COMMITTED');
      }
      await api.sync();
      const res = await request(api.app).get('/v1/accounts/st-a/entries');
      expect(res.status).toBe(200);
      expect(res.body.nextCursor).toBeNull();
      expect(
        res.body.items.map(
          (e: { amount: string; direction: string; balanceAfter: string; description: string | null }) => [
            e.direction,
            e.amount,
            e.balanceAfter,
            e.description,
          ],
        ),
      ).toEqual([
        ['debit', '3.00', '94.00', 'third'],
        ['debit', '2.00', '97.00', 'second'],
        ['debit', '1.00', '99.00', 'first'],
        ['credit', '100.00', '100.00', null],
      ]);
      expect(res.body.items[0]).toEqual({
        transferId: expect.any(String),
        direction: 'debit',
        amount: '3.00',
        balanceAfter: '94.00',
        description: 'third',
        at: expect.any(String),
        position: expect.stringMatching(/^[1-9][0-9]*$/),
      });

      const page1 = await request(api.app).get('/v1/accounts/st-a/entries?limit=3');
      expect(page1.body.items).toHaveLength(3);
      const page2 = await request(api.app)
        .get('/v1/accounts/st-a/entries')
        .query({ limit: 3, cursor: page1.body.nextCursor });
      expect(page2.body.items.map((e: { amount: string }) => e.amount)).toEqual(['100.00']);
      expect(page2.body.nextCursor).toBeNull();

      const credits = await request(api.app).get('/v1/accounts/st-b/entries');
      expect(
        credits.body.items.map((e: { direction: string; balanceAfter: string }) => [e.direction, e.balanceAfter]),
      ).toEqual([
        ['credit', '6.00'],
        ['credit', '3.00'],
        ['credit', '1.00'],
      ]);
      expectProblem(await request(api.app).get('/v1/accounts/st-a/entries?limit=501'), 422, 'VALIDATION_FAILED');
    });
  });

  describe('freeze, unfreeze, close', () => {
    it('freezes and unfreezes (idempotently), and a frozen account neither sends nor receives', async () => {
      await api.open('fz-a');
      await api.open('fz-b');
      await api.fund('fz-a', '10.00');
      const frozen = await request(api.app).post('/v1/accounts/fz-a/freeze');
      expect(frozen.status).toBe(200);
      expect(frozen.headers['ledger-position']).toMatch(/^[1-9][0-9]*$/);
      expect(frozen.body).toMatchObject({ id: 'fz-a', status: 'frozen', balance: { posted: '10.00' } });
      expect((await request(api.app).post('/v1/accounts/fz-a/freeze').send({})).body.status).toBe('frozen');

      const send = await request(api.app)
        .post('/v1/transfers')
        .set('Prefer', 'wait=10')
        .send({ sourceAccount: 'fz-a', destinationAccount: 'fz-b', amount: '1.00' });
      expect(send.status).toBe(201);
      expect(send.body).toMatchObject({ status: 'REJECTED', reason: 'ACCOUNT_FROZEN' });

      const unfrozen = await request(api.app).post('/v1/accounts/fz-a/unfreeze');
      expect(unfrozen.body.status).toBe('open');
      const again = await request(api.app)
        .post('/v1/transfers')
        .set('Prefer', 'wait=10')
        .send({ sourceAccount: 'fz-a', destinationAccount: 'fz-b', amount: '1.00' });
      expect(again.body.status).toBe('COMMITTED');

      const readBack = await request(api.app)
        .get('/v1/accounts/fz-a')
        .set('Ledger-Min-Position', unfrozen.headers['ledger-position']);
      expect(readBack.body.status).toBe('open');
    });

    it('closes an empty account; 409 ACCOUNT_NOT_EMPTY with money in it; 409 ACCOUNT_CLOSED to freeze it after', async () => {
      await api.open('cl-full');
      await api.fund('cl-full', '0.01');
      const before = await api.eventCount();
      expectProblem(await request(api.app).post('/v1/accounts/cl-full/close'), 409, 'ACCOUNT_NOT_EMPTY');
      expect(await api.eventCount()).toBe(before);

      await api.open('cl-empty');
      const closed = await request(api.app).post('/v1/accounts/cl-empty/close');
      expect(closed.status).toBe(200);
      expect(closed.body.status).toBe('closed');
      expectProblem(await request(api.app).post('/v1/accounts/cl-empty/freeze'), 409, 'ACCOUNT_CLOSED');
    });

    it('404 for an account that does not exist, 422 for a body', async () => {
      for (const action of ['freeze', 'unfreeze', 'close']) {
        expectProblem(await request(api.app).post(`/v1/accounts/ghost/${action}`), 404, 'ACCOUNT_NOT_FOUND');
      }
      await api.open('fz-body');
      expectProblem(
        await request(api.app).post('/v1/accounts/fz-body/freeze').send({ reason: 'x' }),
        422,
        'VALIDATION_FAILED',
      );
    });
  });
});
