/**
 * Access control (API.md "Access"): Bearer API keys with scopes on every /v1 and /api/v1
 * route, 401 / 403 as problem+json that change nothing, idempotency keys scoped per API
 * key, operations paths public, an open API when no keys are configured, and no key in
 * any log line.
 */
import { Writable } from 'node:stream';
import type { Pool } from 'pg';
import request from 'supertest';
import { type ApiScope, apiKeyEntry, generateApiKey } from '../../src/api/api-keys';
import { createApp } from '../../src/api/app';
import type { TransferCommands } from '../../src/commands/transfer-commands';
import { loadConfig } from '../../src/config';
import type { EventStore } from '../../src/eventstore/port';
import { createLogger } from '../../src/logger';
import { type ApiHarness, expectProblem, startApi } from './harness';

/** Keys made as an operator makes them: `ledger api-key` output, read back through API_KEYS. */
function makeKeys<N extends string>(wanted: Record<N, ApiScope[]>) {
  const secrets = {} as Record<N, string>;
  const entries: string[] = [];
  for (const [name, scopes] of Object.entries(wanted) as [N, ApiScope[]][]) {
    secrets[name] = generateApiKey();
    entries.push(apiKeyEntry(name, scopes, secrets[name]));
  }
  return { secrets, keys: loadConfig({ API_KEYS: entries.join(',') }).apiKeys };
}

const { secrets, keys } = makeKeys({
  reader: ['read'],
  writer: ['write'],
  clerk: ['read', 'write'],
  other: ['read', 'write'],
  root: ['admin'],
});
const bearer = (secret: string) => `Bearer ${secret}`;

let api: ApiHarness;
beforeAll(async () => {
  api = await startApi({ access: { keys }, helperKey: secrets.root });
  await api.open('src');
  await api.open('dst');
  await api.fund('src', '100.00');
});
afterAll(() => api.close());

const transfer = (amount = '1.00') => ({ sourceAccount: 'src', destinationAccount: 'dst', amount });

describe('without a valid API key: 401', () => {
  const unknownKey = generateApiKey();
  it.each([
    ['no Authorization header', undefined, false],
    ['another scheme', `Basic ${Buffer.from('root:secret').toString('base64')}`, false],
    ['an unknown key', bearer(unknownKey), true],
    ['an empty bearer', 'Bearer ', true],
    ['the scheme alone', 'Bearer', true],
    ['a known key with a character more', bearer(`${secrets.root}x`), true],
    ['a known key with something after it', `${bearer(secrets.root)} ${secrets.root}`, true],
    ['a key that is not a token', 'Bearer lk_{}', true],
    ['a very long token', bearer('a'.repeat(300)), true],
  ])('%s → 401 UNAUTHORIZED with WWW-Authenticate', async (_what, authorization, invalidToken) => {
    const req = request(api.app).get('/v1/accounts');
    const res = await (authorization === undefined ? req : req.set('Authorization', authorization));
    expectProblem(res, 401, 'UNAUTHORIZED');
    expect(res.headers['www-authenticate']).toBe(
      invalidToken ? 'Bearer realm="ledger", error="invalid_token"' : 'Bearer realm="ledger"',
    );
    expect(res.text).not.toContain(unknownKey);
    expect(res.text).not.toContain(secrets.root);
  });

  it.each([
    ['GET', '/v1/accounts/src'],
    ['GET', '/v1/accounts/src/balance'],
    ['GET', '/v1/transfers'],
    ['POST', '/v1/accounts'],
    ['POST', '/v1/transfers'],
    ['POST', '/v1/transfers/batch'],
    ['POST', '/v1/accounts/src/freeze'],
    ['GET', '/api/v1/payments/accounts/src/balance'],
    ['POST', '/api/v1/payments/transfer'],
    ['GET', '/api/v1/actuator/health'],
    // Unknown routes too: without a key, nobody learns which routes exist.
    ['GET', '/v1/no-such-route'],
    ['GET', '/V1/accounts'],
    ['GET', '/v1/accounts/'],
    // The queue dashboard, whether or not this instance mounts it.
    ['GET', '/admin/queues'],
    ['GET', '/admin/queues/api/queues'],
    ['POST', '/Admin/Queues/api/queues/reconcile/pause'],
  ])('%s %s needs a key', async (method, path) => {
    const res = await request(api.app)[method === 'GET' ? 'get' : 'post'](path);
    expectProblem(res, 401, 'UNAUTHORIZED');
    expect(res.headers['www-authenticate']).toBe('Bearer realm="ledger"');
  });

  it('changes nothing, even with a valid body', async () => {
    const before = await api.eventCount();
    expectProblem(
      await request(api.app).post('/v1/accounts').send({ id: 'sneaky', currency: 'USD' }),
      401,
      'UNAUTHORIZED',
    );
    expectProblem(
      await request(api.app).post('/v1/transfers').set('Authorization', bearer(unknownKey)).send(transfer()),
      401,
      'UNAUTHORIZED',
    );
    expect(await api.eventCount()).toBe(before);
  });

  it('accepts the scheme in any case', async () => {
    const res = await request(api.app).get('/v1/accounts').set('Authorization', `bEaReR ${secrets.reader}`);
    expect(res.status).toBe(200);
  });
});

describe('scopes', () => {
  const as = (name: keyof typeof secrets) => ({ Authorization: bearer(secrets[name]) });

  it.each([
    ['a read route', 'GET', '/v1/accounts/src', 'writer', 'read'],
    ['a read route of the seed', 'GET', '/api/v1/payments/accounts/src/balance', 'writer', 'read'],
    ['a write route', 'POST', '/v1/transfers', 'reader', 'write'],
    ['a write route of the seed', 'POST', '/api/v1/payments/transfer', 'reader', 'write'],
    ['an admin route', 'POST', '/v1/accounts/src/freeze', 'clerk', 'admin'],
    ['an admin route', 'POST', '/v1/accounts/src/close', 'writer', 'admin'],
    ['an admin route spelled in capitals', 'POST', '/V1/Accounts/src/FREEZE', 'clerk', 'admin'],
    ['an admin route with a trailing slash', 'POST', '/v1/accounts/src/unfreeze/', 'clerk', 'admin'],
    ['the queue dashboard', 'GET', '/admin/queues', 'clerk', 'admin'],
    ['the queue dashboard API', 'GET', '/admin/queues/api/queues', 'reader', 'admin'],
    ['the queue dashboard spelled in capitals', 'GET', '/ADMIN/QUEUES/', 'clerk', 'admin'],
  ] as const)('%s (%s %s) as %s → 403 FORBIDDEN: needs %s', async (_what, method, path, who, scope) => {
    const before = await api.eventCount();
    const req = method === 'GET' ? request(api.app).get(path) : request(api.app).post(path).send(transfer());
    const res = await req.set(as(who));
    expectProblem(res, 403, 'FORBIDDEN');
    expect(res.body.detail).toContain(`"${scope}"`);
    expect(res.headers['www-authenticate']).toBe(`Bearer realm="ledger", error="insufficient_scope", scope="${scope}"`);
    expect(await api.eventCount()).toBe(before);
  });

  it('a refused freeze leaves the account open', async () => {
    await request(api.app).post('/v1/accounts/src/freeze').set(as('clerk'));
    await api.sync();
    const res = await request(api.app).get('/v1/accounts/src').set(as('reader'));
    expect({ status: res.status, account: res.body.status }).toEqual({ status: 200, account: 'open' });
  });

  it('each key does what its scopes allow', async () => {
    expect((await request(api.app).get('/v1/accounts/src').set(as('reader'))).status).toBe(200);
    expect((await request(api.app).head('/v1/accounts/src').set(as('reader'))).status).toBe(200);
    expect((await request(api.app).post('/v1/transfers').set(as('writer')).send(transfer())).status).toBe(202);
    expect((await request(api.app).post('/v1/transfers').set(as('clerk')).send(transfer())).status).toBe(202);
    expect((await request(api.app).get('/v1/transfers').set(as('clerk'))).status).toBe(200);
  });

  it('admin does everything: read, write and the account commands', async () => {
    await api.open('adm');
    expect((await request(api.app).get('/v1/accounts/adm').set(as('root'))).status).toBe(200);
    expect((await request(api.app).post('/v1/transfers').set(as('root')).send(transfer())).status).toBe(202);
    const frozen = await request(api.app).post('/v1/accounts/adm/freeze').set(as('root'));
    expect({ status: frozen.status, account: frozen.body.status }).toEqual({ status: 200, account: 'frozen' });
    const unfrozen = await request(api.app).post('/v1/accounts/adm/unfreeze').set(as('root'));
    expect({ status: unfrozen.status, account: unfrozen.body.status }).toEqual({ status: 200, account: 'open' });
    const closed = await request(api.app).post('/v1/accounts/adm/close').set(as('root'));
    expect({ status: closed.status, account: closed.body.status }).toEqual({ status: 200, account: 'closed' });
  });

  it('an admin key gets past access to /admin, where no queue dashboard is mounted without the queues', async () => {
    expectProblem(await request(api.app).get('/admin/queues').set(as('root')), 404, 'ROUTE_NOT_FOUND');
  });
});

describe('idempotency keys are scoped per API key', () => {
  const send = (who: 'clerk' | 'other') =>
    request(api.app)
      .post('/v1/transfers')
      .set('Authorization', bearer(secrets[who]))
      .set('Idempotency-Key', 'order-42')
      .send(transfer('2.00'));

  it('the same Idempotency-Key from two API keys makes two transfers; from one key, one', async () => {
    const fromClerk = await send('clerk');
    const fromOther = await send('other');
    const clerkAgain = await send('clerk');
    expect([fromClerk.status, fromOther.status, clerkAgain.status]).toEqual([202, 202, 202]);
    expect(fromOther.body.id).not.toBe(fromClerk.body.id);
    expect(fromOther.headers['idempotent-replayed']).toBeUndefined();
    expect(clerkAgain.body.id).toBe(fromClerk.body.id);
    expect(clerkAgain.headers['idempotent-replayed']).toBe('true');
  });
});

describe('outside /v1, /api/v1 and /admin', () => {
  it('operations paths need no key', async () => {
    const res = await request(api.app).get('/health/live');
    expect(res.status).toBe(200);
  });

  it('an unknown path is 404, not 401', async () => {
    expectProblem(await request(api.app).get('/nope'), 404, 'ROUTE_NOT_FOUND');
    expectProblem(await request(api.app).get('/v1x/accounts'), 404, 'ROUTE_NOT_FOUND');
    expectProblem(await request(api.app).get('/administrator'), 404, 'ROUTE_NOT_FOUND');
  });
});

describe('with no API keys configured', () => {
  let open: ApiHarness;
  beforeAll(async () => {
    open = await startApi();
  });
  afterAll(() => open.close());

  it('the API is open: no header needed, and a stray one is ignored', async () => {
    const created = await request(open.app).post('/v1/accounts').send({ id: 'anyone', currency: 'USD' });
    expect(created.status).toBe(201);
    expect((await request(open.app).get('/v1/accounts/anyone')).status).toBe(200);
    const stray = await request(open.app).get('/v1/accounts/anyone').set('Authorization', 'Bearer whatever');
    expect(stray.status).toBe(200);
  });
});

describe('logs', () => {
  it('never carry the API key or the Authorization header', async () => {
    const lines: string[] = [];
    const logger = createLogger(
      'trace',
      new Writable({
        write: (chunk, _enc, done) => {
          lines.push(String(chunk));
          done();
        },
      }),
    );
    // A pool that fails makes the request a logged 500, the path that logs the most.
    const failingPool = { query: () => Promise.reject(new Error('connection terminated')) } as unknown as Pool;
    const app = createApp({
      store: { headPosition: () => Promise.resolve(0n) } as unknown as EventStore,
      pool: failingPool,
      transfers: {} as TransferCommands,
      logger,
      access: { keys },
    });
    expect((await request(app).get('/v1/accounts').set('Authorization', bearer(secrets.reader))).status).toBe(500);
    expect(
      (
        await request(app)
          .get('/v1/accounts')
          .set('Authorization', bearer(`${secrets.reader}x`))
      ).status,
    ).toBe(401);
    expect((await request(app).post('/v1/accounts/a/freeze').set('Authorization', bearer(secrets.clerk))).status).toBe(
      403,
    );
    expect(lines.some((line) => JSON.parse(line).msg === 'request failed')).toBe(true);
    const all = lines.join('');
    expect(all).not.toContain(secrets.reader);
    expect(all).not.toContain(secrets.clerk);
    expect(all).not.toMatch(/bearer/i);
  });
});
