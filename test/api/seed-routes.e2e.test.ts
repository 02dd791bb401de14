import request from 'supertest';
import { expectProblem, startApi, type ApiHarness } from './harness';

describe("the seed system's routes", () => {
  let api: ApiHarness;
  beforeAll(async () => {
    api = await startApi();
    await api.open('seed-a');
    await api.open('seed-b');
    await api.fund('seed-a', '5000.00');
  });
  afterAll(() => api.close());

  it('POST /api/v1/payments/transfer takes the seed body (a JSON number amount, idempotencyKey in the body)', async () => {
    const body = {
      sourceAccount: 'seed-a',
      destinationAccount: 'seed-b',
      amount: 1000.0,
      description: 'seed',
      idempotencyKey: 'seed-key-1',
    };
    const first = await request(api.app).post('/api/v1/payments/transfer').send(body);
    expect(first.status).toBe(202);
    expect(first.headers.location).toBe(`/v1/transfers/${first.body.id}`);
    expect(first.headers['ledger-position']).toMatch(/^[1-9][0-9]*$/);
    expect(first.body).toMatchObject({
      sourceAccount: 'seed-a',
      destinationAccount: 'seed-b',
      amount: '1000.00',
      currency: 'USD',
      description: 'seed',
    });

    const again = await request(api.app).post('/api/v1/payments/transfer').send(body);
    expect(again.status).toBe(202);
    expect(again.headers['idempotent-replayed']).toBe('true');
    expect(again.body.id).toBe(first.body.id);
    // The header carries the same key: the same transfer.
    const viaHeader = await request(api.app)
      .post('/api/v1/payments/transfer')
      .set('Idempotency-Key', 'seed-key-1')
      .send({ ...body, idempotencyKey: undefined });
    expect(viaHeader.body.id).toBe(first.body.id);

    expectProblem(
      await request(api.app)
        .post('/api/v1/payments/transfer')
        .send({ ...body, amount: 999.99 }),
      422,
      'IDEMPOTENCY_KEY_REUSED',
    );
    expectProblem(
      await request(api.app).post('/api/v1/payments/transfer').set('Idempotency-Key', 'other').send(body),
      422,
      'VALIDATION_FAILED',
    );
    expectProblem(
      await request(api.app)
        .post('/api/v1/payments/transfer')
        .send({ ...body, currency: 'USD' }),
      422,
      'VALIDATION_FAILED',
    );
    expectProblem(
      await request(api.app)
        .post('/api/v1/payments/transfer')
        .send({ ...body, sourceAccount: 'ghost', idempotencyKey: 'k2' }),
      404,
      'ACCOUNT_NOT_FOUND',
    );
  });

  it('GET /api/v1/payments/transactions/{txId}/status gives the status, and the reason of a rejection', async () => {
    const ok = await request(api.app)
      .post('/api/v1/payments/transfer')
      .set('Prefer', 'wait=10')
      .send({ sourceAccount: 'seed-a', destinationAccount: 'seed-b', amount: '1.00' });
    expect(ok.status).toBe(201);
    const status = await request(api.app)
      .get(`/api/v1/payments/transactions/${ok.body.id}/status`)
      .set('Ledger-Min-Position', ok.headers['ledger-position']);
    expect(status.status).toBe(200);
    expect(status.body).toEqual({ transactionId: ok.body.id, status: 'COMMITTED' });

    const poor = await request(api.app)
      .post('/api/v1/payments/transfer')
      .set('Prefer', 'wait=10')
      .send({ sourceAccount: 'seed-b', destinationAccount: 'seed-a', amount: '1000000.00' });
    const rejected = await request(api.app)
      .get(`/api/v1/payments/transactions/${poor.body.id}/status`)
      .set('Ledger-Min-Position', poor.headers['ledger-position']);
    expect(rejected.body).toEqual({ transactionId: poor.body.id, status: 'REJECTED', reason: 'INSUFFICIENT_FUNDS' });

    expectProblem(
      await request(api.app).get('/api/v1/payments/transactions/unknown-tx/status'),
      404,
      'TRANSFER_NOT_FOUND',
    );
  });

  it('GET /api/v1/payments/accounts/{id}/balance gives the Balance', async () => {
    await api.sync();
    const res = await request(api.app).get('/api/v1/payments/accounts/seed-b/balance');
    expect(res.status).toBe(200);
    expect(res.body).toEqual({
      accountId: 'seed-b',
      currency: 'USD',
      posted: '1001.00',
      held: '0.00',
      available: '1001.00',
      asOf: expect.any(String),
      position: expect.stringMatching(/^[1-9][0-9]*$/),
    });
    expectProblem(await request(api.app).get('/api/v1/payments/accounts/ghost/balance'), 404, 'ACCOUNT_NOT_FOUND');
  });

  it('GET /api/v1/actuator/health is UP with its components', async () => {
    const res = await request(api.app).get('/api/v1/actuator/health');
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ status: 'UP', components: { db: { status: 'UP' }, eventStore: { status: 'UP' } } });
  });
});
