/**
 * Everything a careless or hostile client can send gets the right 4xx, as problem+json,
 * and changes nothing: no event is written, no read model row appears.
 */
import request from 'supertest';
import { expectProblem, startApi, type ApiHarness } from './harness';

const valid = { sourceAccount: 'h-src', destinationAccount: 'h-dst', amount: '1.00' };

type Case = [name: string, send: () => request.Test, status: number, code: string];

describe('hostile input', () => {
  let api: ApiHarness;
  let events: number;
  let accounts: number;

  const rmAccounts = async () =>
    Number((await api.ledger.db.pool.query<{ n: string }>('select count(*)::text as n from rm_accounts')).rows[0].n);
  const postTransfer = (body: unknown) =>
    request(api.app)
      .post('/v1/transfers')
      .send(body as object);
  const postTransferRaw = (json: string) =>
    request(api.app).post('/v1/transfers').set('Content-Type', 'application/json').send(json);
  const postAccount = (body: unknown) =>
    request(api.app)
      .post('/v1/accounts')
      .send(body as object);

  beforeAll(async () => {
    api = await startApi();
    await api.open('h-src');
    await api.open('h-dst');
    await api.fund('h-src', '100.00');
    await api.sync();
    events = await api.eventCount();
    accounts = await rmAccounts();
  });
  afterAll(() => api.close());

  afterEach(async () => {
    expect(await api.eventCount()).toBe(events);
    expect(await rmAccounts()).toBe(accounts);
  });

  const amountCases: [string, unknown][] = [
    ['a boolean', true],
    ['null', null],
    ['an array', ['1.00']],
    ['an object', { value: '1.00' }],
    ['negative', '-1.00'],
    ['negative number', -1],
    ['zero', '0'],
    ['zero with decimals', '0.00'],
    ['zero as a number', 0],
    ['sub-cent', '0.001'],
    ['sub-cent number', 0.001],
    ['a float sum', 0.1 + 0.2],
    ['exponent notation', '1e3'],
    ['a comma', '1,00'],
    ['padded', ' 1.00'],
    ['leading zeros', '007.50'],
    ['full-width digits', '１.００'],
    ['NaN', 'NaN'],
    ['hex', '0x10'],
    ['empty', ''],
    ['above 2^63-1 minor units', '92233720368547758.08'],
    ['65 digits', '9'.repeat(65)],
    ['a huge integer', '9'.repeat(40)],
    ['an unsafe integer number', 2 ** 60],
  ];

  it.each(amountCases)('amount %s → 422 VALIDATION_FAILED on the amount', async (_name, amount) => {
    const res = await postTransfer({ ...valid, amount });
    expectProblem(res, 422, 'VALIDATION_FAILED');
    expect(res.body.errors).toEqual([{ path: 'amount', message: expect.any(String) }]);
  });

  const badIds = [
    'a\u0000b',
    'ä',
    'a b',
    '../etc/passwd',
    'x'.repeat(65),
    "'; drop table rm_accounts; --",
    "h-src' or '1'='1",
    '-leading-dash',
    '',
    'a/b',
    'tab\there',
    '😀',
  ];

  it.each(badIds.map((id) => [JSON.stringify(id), id]))(
    'account id %s → 422 in the body, and in the path',
    async (_name, id) => {
      expectProblem(await postTransfer({ ...valid, sourceAccount: id }), 422, 'VALIDATION_FAILED');
      expectProblem(await postTransfer({ ...valid, destinationAccount: id }), 422, 'VALIDATION_FAILED');
      expectProblem(await postAccount({ id, currency: 'USD' }), 422, 'VALIDATION_FAILED');
      if (id !== '' && !id.includes('/')) {
        expectProblem(await request(api.app).get(`/v1/accounts/${encodeURIComponent(id)}`), 422, 'VALIDATION_FAILED');
        expectProblem(
          await request(api.app).post(`/v1/accounts/${encodeURIComponent(id)}/freeze`),
          422,
          'VALIDATION_FAILED',
        );
        expectProblem(await request(api.app).get(`/v1/transfers/${encodeURIComponent(id)}`), 422, 'VALIDATION_FAILED');
        expectProblem(
          await request(api.app).get(`/api/v1/payments/transactions/${encodeURIComponent(id)}/status`),
          422,
          'VALIDATION_FAILED',
        );
      }
    },
  );

  const bodyCases: Case[] = [
    [
      'missing sourceAccount',
      () => postTransfer({ destinationAccount: 'h-dst', amount: '1.00' }),
      422,
      'VALIDATION_FAILED',
    ],
    [
      'missing amount',
      () => postTransfer({ sourceAccount: 'h-src', destinationAccount: 'h-dst' }),
      422,
      'VALIDATION_FAILED',
    ],
    ['an empty object', () => postTransfer({}), 422, 'VALIDATION_FAILED'],
    ['an unknown field', () => postTransfer({ ...valid, admin: true }), 422, 'VALIDATION_FAILED'],
    ['a numeric account id', () => postTransfer({ ...valid, sourceAccount: 42 }), 422, 'VALIDATION_FAILED'],
    ['an unknown currency', () => postTransfer({ ...valid, currency: 'ZZZ' }), 422, 'VALIDATION_FAILED'],
    ['a lower-case currency', () => postTransfer({ ...valid, currency: 'usd' }), 422, 'VALIDATION_FAILED'],
    [
      'a description over 512',
      () => postTransfer({ ...valid, description: 'x'.repeat(513) }),
      422,
      'VALIDATION_FAILED',
    ],
    ['a description with NUL', () => postTransfer({ ...valid, description: 'a\u0000b' }), 422, 'VALIDATION_FAILED'],
    [
      'a lone surrogate',
      () => postTransferRaw(JSON.stringify({ ...valid, description: 'x' }).replace('"x"', '"\\ud800"')),
      422,
      'VALIDATION_FAILED',
    ],
    ['metadata that is an array', () => postTransfer({ ...valid, metadata: [1] }), 422, 'VALIDATION_FAILED'],
    ['metadata that is null', () => postTransfer({ ...valid, metadata: null }), 422, 'VALIDATION_FAILED'],
    [
      'metadata over 4 KiB',
      () => postTransfer({ ...valid, metadata: { blob: 'x'.repeat(4100) } }),
      422,
      'VALIDATION_FAILED',
    ],
    [
      'metadata nested too deep',
      () => postTransfer({ ...valid, metadata: JSON.parse('{"a":'.repeat(20) + '1' + '}'.repeat(20)) }),
      422,
      'VALIDATION_FAILED',
    ],
    ['metadata with NUL', () => postTransfer({ ...valid, metadata: { k: 'a\u0000' } }), 422, 'VALIDATION_FAILED'],
    [
      'metadata with __proto__',
      () =>
        postTransferRaw(
          `{"sourceAccount":"h-src","destinationAccount":"h-dst","amount":"1.00","metadata":{"__proto__":{"admin":true}}}`,
        ),
      422,
      'VALIDATION_FAILED',
    ],
    ['an unknown mode', () => postTransfer({ ...valid, mode: 'later' }), 422, 'VALIDATION_FAILED'],
    [
      'timeoutSeconds 0',
      () => postTransfer({ ...valid, mode: 'pending', timeoutSeconds: 0 }),
      422,
      'VALIDATION_FAILED',
    ],
    [
      'timeoutSeconds above a week',
      () => postTransfer({ ...valid, mode: 'pending', timeoutSeconds: 604_801 }),
      422,
      'VALIDATION_FAILED',
    ],
    [
      'fractional timeoutSeconds',
      () => postTransfer({ ...valid, mode: 'pending', timeoutSeconds: 1.5 }),
      422,
      'VALIDATION_FAILED',
    ],
    [
      'timeoutSeconds as a string',
      () => postTransfer({ ...valid, mode: 'pending', timeoutSeconds: '60' }),
      422,
      'VALIDATION_FAILED',
    ],
    ['an invalid transfer id', () => postTransfer({ ...valid, id: 'not valid!' }), 422, 'VALIDATION_FAILED'],
    ['a JSON array body', () => postTransfer([valid]), 422, 'VALIDATION_FAILED'],
    [
      'a number too large for a double',
      () => postTransferRaw('{"sourceAccount":"h-src","destinationAccount":"h-dst","amount":1e400}'),
      422,
      'VALIDATION_FAILED',
    ],
    [
      'an integer beyond 2^53',
      () => postTransferRaw('{"sourceAccount":"h-src","destinationAccount":"h-dst","amount":12345678901234567890}'),
      422,
      'VALIDATION_FAILED',
    ],
    ['invalid JSON', () => postTransferRaw('{"sourceAccount": "h-src",'), 400, 'MALFORMED_JSON'],
    ['a JSON scalar', () => postTransferRaw('"h-src"'), 400, 'MALFORMED_JSON'],
    ['JSON null', () => postTransferRaw('null'), 400, 'MALFORMED_JSON'],
    [
      'a text/plain body',
      () => request(api.app).post('/v1/transfers').set('Content-Type', 'text/plain').send(JSON.stringify(valid)),
      400,
      'NOT_JSON',
    ],
    ['a form body', () => request(api.app).post('/v1/transfers').type('form').send(valid), 400, 'NOT_JSON'],
    [
      'a JSON body in Latin-1',
      () =>
        request(api.app)
          .post('/v1/transfers')
          .set('Content-Type', 'application/json; charset=latin1')
          .send(JSON.stringify(valid)),
      400,
      'NOT_JSON',
    ],
    [
      'a 1 MB body',
      () => postTransferRaw(JSON.stringify({ ...valid, description: 'x'.repeat(1_000_000) })),
      413,
      'BODY_TOO_LARGE',
    ],
    [
      'a body just over 64 KiB',
      () => postTransferRaw(JSON.stringify({ ...valid, description: 'x'.repeat(64 * 1024) })),
      413,
      'BODY_TOO_LARGE',
    ],
    [
      'a 1 MB batch',
      () =>
        request(api.app)
          .post('/v1/transfers/batch')
          .set('Content-Type', 'application/json')
          .send(JSON.stringify({ transfers: [{ ...valid, description: 'x'.repeat(1_000_000) }] })),
      413,
      'BODY_TOO_LARGE',
    ],
  ];

  it.each(bodyCases)('POST /v1/transfers with %s', async (_name, send, status, code) => {
    expectProblem(await send(), status, code);
  });

  const headerCases: Case[] = [
    [
      'an Idempotency-Key of 256 characters',
      () => request(api.app).post('/v1/transfers').set('Idempotency-Key', 'k'.repeat(256)).send(valid),
      422,
      'VALIDATION_FAILED',
    ],
    [
      'a non-ASCII Idempotency-Key',
      () => request(api.app).post('/v1/transfers').set('Idempotency-Key', 'caf\u00e9').send(valid),
      422,
      'VALIDATION_FAILED',
    ],
    [
      'Prefer: wait=31',
      () => request(api.app).post('/v1/transfers').set('Prefer', 'wait=31').send(valid),
      422,
      'VALIDATION_FAILED',
    ],
    [
      'Prefer: wait=-1',
      () => request(api.app).post('/v1/transfers').set('Prefer', 'wait=-1').send(valid),
      422,
      'VALIDATION_FAILED',
    ],
    [
      'Prefer: wait=abc',
      () => request(api.app).post('/v1/transfers').set('Prefer', 'wait=abc').send(valid),
      422,
      'VALIDATION_FAILED',
    ],
    [
      'Prefer: wait=1.5',
      () => request(api.app).post('/v1/transfers').set('Prefer', 'wait=1.5').send(valid),
      422,
      'VALIDATION_FAILED',
    ],
    [
      'Ledger-Min-Position: abc',
      () => request(api.app).get('/v1/accounts/h-src').set('Ledger-Min-Position', 'abc'),
      422,
      'VALIDATION_FAILED',
    ],
    [
      'Ledger-Min-Position: -1',
      () => request(api.app).get('/v1/accounts/h-src').set('Ledger-Min-Position', '-1'),
      422,
      'VALIDATION_FAILED',
    ],
    [
      'Ledger-Min-Position beyond 2^63',
      () => request(api.app).get('/v1/accounts/h-src').set('Ledger-Min-Position', '99999999999999999999'),
      422,
      'VALIDATION_FAILED',
    ],
  ];

  it.each(headerCases)('%s', async (_name, send, status, code) => {
    const res = await send();
    expectProblem(res, status, code);
    expect(res.body.errors).toHaveLength(1);
  });

  const accountCases: Case[] = [
    ['no currency', () => postAccount({ id: 'h-new' }), 422, 'VALIDATION_FAILED'],
    ['an unknown currency', () => postAccount({ id: 'h-new', currency: 'XYZ' }), 422, 'VALIDATION_FAILED'],
    ['a currency number', () => postAccount({ id: 'h-new', currency: 840 }), 422, 'VALIDATION_FAILED'],
    [
      'a negative overdraft',
      () => postAccount({ id: 'h-new', currency: 'USD', overdraft: '-1.00' }),
      422,
      'VALIDATION_FAILED',
    ],
    ['a zero overdraft', () => postAccount({ id: 'h-new', currency: 'USD', overdraft: '0' }), 422, 'VALIDATION_FAILED'],
    [
      'an overdraft with too many decimals',
      () => postAccount({ id: 'h-new', currency: 'JPY', overdraft: '1.5' }),
      422,
      'VALIDATION_FAILED',
    ],
    [
      'an overdraft word',
      () => postAccount({ id: 'h-new', currency: 'USD', overdraft: 'sometimes' }),
      422,
      'VALIDATION_FAILED',
    ],
    [
      'metadata that is a string',
      () => postAccount({ id: 'h-new', currency: 'USD', metadata: 'x' }),
      422,
      'VALIDATION_FAILED',
    ],
    [
      'an unknown field',
      () => postAccount({ id: 'h-new', currency: 'USD', balance: '1000000.00' }),
      422,
      'VALIDATION_FAILED',
    ],
    ['no body at all', () => request(api.app).post('/v1/accounts'), 422, 'VALIDATION_FAILED'],
  ];

  it.each(accountCases)('POST /v1/accounts with %s', async (_name, send, status, code) => {
    expectProblem(await send(), status, code);
  });

  it('names each problem field, unknown fields included', async () => {
    const res = await postTransfer({ sourceAccount: 5, amount: '1.00', currency: 'usd', colour: 'red' });
    expectProblem(res, 422, 'VALIDATION_FAILED');
    expect(res.body.errors.map((e: { path: string }) => e.path).sort()).toEqual([
      'colour',
      'currency',
      'destinationAccount',
      'sourceAccount',
    ]);
    const overdraft = await postAccount({ id: 'h-new', currency: 'USD', overdraft: '1.001' });
    expect(overdraft.body.errors).toEqual([{ path: 'overdraft', message: expect.stringContaining('decimal') }]);
  });

  const queryCases: Case[] = [
    ['limit=0', () => request(api.app).get('/v1/accounts?limit=0'), 422, 'VALIDATION_FAILED'],
    ['limit=501', () => request(api.app).get('/v1/accounts?limit=501'), 422, 'VALIDATION_FAILED'],
    ['limit=abc', () => request(api.app).get('/v1/transfers?limit=abc'), 422, 'VALIDATION_FAILED'],
    ['limit=1.5', () => request(api.app).get('/v1/transfers?limit=1.5'), 422, 'VALIDATION_FAILED'],
    ['limit twice', () => request(api.app).get('/v1/accounts?limit=1&limit=2'), 422, 'VALIDATION_FAILED'],
    ['an unknown parameter', () => request(api.app).get('/v1/accounts?sort=id'), 422, 'VALIDATION_FAILED'],
    [
      'a query on a single account',
      () => request(api.app).get('/v1/accounts/h-src?expand=all'),
      422,
      'VALIDATION_FAILED',
    ],
    [
      'a SQL-looking status',
      () => request(api.app).get(`/v1/transfers?status=${encodeURIComponent("COMMITTED' OR '1'='1")}`),
      422,
      'VALIDATION_FAILED',
    ],
    [
      'a SQL-looking cursor',
      () => request(api.app).get(`/v1/transfers?cursor=${encodeURIComponent("' OR 1=1 --")}`),
      422,
      'VALIDATION_FAILED',
    ],
    [
      'a forged cursor',
      () =>
        request(api.app).get(
          `/v1/transfers?cursor=${Buffer.from('{"k":"transfers","at":"x","id":"y"}').toString('base64url')}`,
        ),
      422,
      'VALIDATION_FAILED',
    ],
    [
      'a cursor in year 0',
      () =>
        request(api.app).get(
          `/v1/accounts?cursor=${Buffer.from('{"k":"accounts","at":"0000-01-01T00:00:00Z","id":"y"}').toString('base64url')}`,
        ),
      422,
      'VALIDATION_FAILED',
    ],
    [
      'asOf in year 0',
      () => request(api.app).get('/v1/accounts/h-src/balance?asOf=0000-01-01T00:00:00Z'),
      404,
      'ACCOUNT_NOT_FOUND',
    ],
    [
      'asOf with an impossible date',
      () => request(api.app).get('/v1/accounts/h-src/balance?asOf=2024-02-31T00:00:00Z'),
      422,
      'VALIDATION_FAILED',
    ],
    [
      'an entries cursor that is not a position',
      () =>
        request(api.app).get(
          `/v1/accounts/h-src/entries?cursor=${Buffer.from('{"k":"entries","p":"-1"}').toString('base64url')}`,
        ),
      422,
      'VALIDATION_FAILED',
    ],
    [
      'an entries cursor beyond 64 bits',
      () =>
        request(api.app).get(
          `/v1/accounts/h-src/entries?cursor=${Buffer.from('{"k":"entries","p":"9999999999999999999"}').toString('base64url')}`,
        ),
      422,
      'VALIDATION_FAILED',
    ],
    ['a path that is not valid %-encoding', () => request(api.app).get('/v1/accounts/%E0%A4%A'), 400, 'BAD_REQUEST'],
    ['an unknown route', () => request(api.app).get('/v1/ledgers'), 404, 'ROUTE_NOT_FOUND'],
    ['a method a route does not have', () => request(api.app).delete('/v1/accounts/h-src'), 404, 'ROUTE_NOT_FOUND'],
  ];

  it.each(queryCases)('%s', async (_name, send, status, code) => {
    expectProblem(await send(), status, code);
  });

  it('the read models are intact after all that', async () => {
    const res = await request(api.app).get('/v1/accounts/h-src/balance');
    expect(res.status).toBe(200);
    expect(res.body.posted).toBe('100.00');
  });
});
