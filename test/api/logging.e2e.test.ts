import request from 'supertest';
import { hashApiKey } from '../../src/api/api-keys';
import { createApp } from '../../src/api/app';
import { createLogger } from '../../src/logger';
import { startApi, type ApiHarness } from './harness';

type LogLine = Record<string, unknown>;

/** The service's logger, configured as in production, writing into memory. */
function capturedLogger() {
  const written: string[] = [];
  const logger = createLogger('info', { write: (chunk: string) => void written.push(chunk) });
  const lines = (): LogLine[] => written.map((chunk) => JSON.parse(chunk) as LogLine);
  return { logger, written, lines };
}

describe('logs', () => {
  let api: ApiHarness;
  beforeAll(async () => {
    api = await startApi();
    await api.open('log-a');
    await api.open('log-b');
    await api.fund('log-a', '50.00');
  });
  afterAll(() => api.close());

  function appWith(logger: ReturnType<typeof createLogger>, apiKeySecret?: string) {
    return createApp({
      store: api.ledger.store,
      pool: api.ledger.db.pool,
      transfers: api.ledger.transfers,
      clock: () => api.ledger.clock.now,
      logger,
      ...(apiKeySecret !== undefined && {
        access: { keys: [{ name: 'log-test', scopes: ['read', 'write'], sha256: hashApiKey(apiKeySecret) }] },
      }),
    });
  }

  const accessLine = (lines: LogLine[], requestId: string): LogLine => {
    const found = lines.filter((l) => l.msg === 'request' && l.requestId === requestId);
    expect(found).toHaveLength(1);
    return found[0];
  };

  it('each request has one access line with its request id, route and status, and the transfer it is about', async () => {
    const { logger, lines } = capturedLogger();
    const app = appWith(logger);

    const posted = await request(app)
      .post('/v1/transfers')
      .set('X-Request-Id', 'log-req-1')
      .set('Prefer', 'wait=20')
      .send({ sourceAccount: 'log-a', destinationAccount: 'log-b', amount: '5.00' });
    expect(posted.status).toBe(201);
    expect(accessLine(lines(), 'log-req-1')).toMatchObject({
      component: 'http',
      method: 'POST',
      route: '/v1/transfers',
      status: 201,
      transferId: posted.body.id,
      durationMs: expect.any(Number),
    });

    await request(app).get(`/v1/transfers/${posted.body.id}`).set('X-Request-Id', 'log-req-2').expect(200);
    expect(accessLine(lines(), 'log-req-2')).toMatchObject({
      route: '/v1/transfers/:id',
      status: 200,
      transferId: posted.body.id,
    });

    // A refusal about a transfer names it too.
    await request(app)
      .post(`/v1/transfers/${posted.body.id}/void`)
      .set('X-Request-Id', 'log-req-3')
      .send({})
      .expect(409);
    expect(accessLine(lines(), 'log-req-3')).toMatchObject({
      route: '/v1/transfers/:id/void',
      status: 409,
      transferId: posted.body.id,
    });

    // Without a usable X-Request-Id the service makes one, and the line carries what the client was told.
    const unknown = await request(app).get('/no/such/route').set('X-Request-Id', 'not a token!');
    expect(unknown.status).toBe(404);
    const generated = unknown.headers['x-request-id'];
    expect(generated).toMatch(/^[0-9a-f-]{36}$/);
    const line = accessLine(lines(), generated);
    expect(line).toMatchObject({ route: 'unmatched', status: 404 });
    expect(line).not.toHaveProperty('transferId');
  });

  it('never writes an API key or an Authorization header, accepted or refused', async () => {
    const { logger, written } = capturedLogger();
    const app = appWith(logger, 'secret-value');

    const accepted = await request(app)
      .post('/v1/transfers')
      .set('Authorization', 'Bearer secret-value')
      .set('X-Request-Id', 'log-auth-1')
      .send({ sourceAccount: 'log-a', destinationAccount: 'log-b', amount: '1.00' });
    expect(accepted.status).toBe(202);
    const refused = await request(app)
      .get('/v1/accounts/log-a')
      .set('Authorization', 'Bearer other-secret-value')
      .set('X-Request-Id', 'log-auth-2');
    expect(refused.status).toBe(401);
    // Anything that logs a request's headers or a credential by name is redacted, at any depth used.
    logger.info(
      {
        authorization: 'Bearer secret-value',
        headers: { authorization: 'Bearer secret-value', 'x-api-key': 'secret-value', cookie: 'session=secret-value' },
        req: { headers: { authorization: 'Bearer secret-value', 'x-api-key': 'secret-value' } },
        config: { apiKey: 'secret-value', password: 'secret-value' },
      },
      'a careless log line',
    );

    expect(written.find((line) => line.includes('"requestId":"log-auth-1"'))).toContain('"apiKeyName":"log-test"');
    expect(written.join('')).toContain('log-auth-2');
    expect(written.join('')).toContain('a careless log line');
    expect(written.filter((line) => line.includes('secret-value'))).toEqual([]);
  });
});
