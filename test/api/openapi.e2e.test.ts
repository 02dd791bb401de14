/**
 * The OpenAPI document and Swagger UI: the document validates, lists exactly the routes
 * the app serves with the scopes access control enforces, and describes the responses the
 * running app really sends; /docs works from local assets only.
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import type { Express } from 'express';
import request from 'supertest';
import { type ApiScope, apiKeyEntry, generateApiKey } from '../../src/api/api-keys';
import { createApp } from '../../src/api/app';
import { type Operation, operations } from '../../src/api/openapi-operations';
import { problem } from '../../src/api/responses';
import { loadConfig } from '../../src/config';
import { testLogger } from '../support/ledger';
import { type ApiHarness, startApi } from './harness';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const repoRoot = path.resolve(__dirname, '../..');

/**
 * @seriousme/openapi-schema-validator is an ES module, which jest's CommonJS runtime cannot
 * load: it runs in a child node process, the document on its stdin.
 */
function validateOpenApi(document: unknown): Promise<{ valid: boolean; errors?: unknown }> {
  const script = `
    import { Validator } from '@seriousme/openapi-schema-validator';
    import { text } from 'node:stream/consumers';
    const result = await new Validator().validate(JSON.parse(await text(process.stdin)));
    process.stdout.write(JSON.stringify(result));`;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], { cwd: repoRoot });
    let out = '';
    let err = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      if (code === 0) resolve(JSON.parse(out));
      else reject(new Error(`the validator exited with ${code}: ${err}`));
    });
    child.stdin.end(JSON.stringify(document));
  });
}

interface RouterLayer {
  route?: { path: unknown; methods: Record<string, boolean> };
  handle?: { stack?: RouterLayer[] };
  rawPath?: unknown;
}

/**
 * Every route of the app as `METHOD /path/{param}`, read from express 5's router: route
 * layers, and the routes of routers mounted in it. Middleware (access control, Swagger UI's
 * static files) is not a route.
 */
function servedRoutes(app: Express): string[] {
  const found: string[] = [];
  const walk = (stack: RouterLayer[], prefix: string | null) => {
    for (const layer of stack) {
      if (layer.route) {
        const { path: routePath, methods } = layer.route;
        if (typeof routePath !== 'string' || prefix === null) {
          throw new Error(`a route whose path cannot be read: ${String(routePath)} under ${String(prefix)}`);
        }
        const openApiPath = (prefix + routePath).replace(/:([A-Za-z0-9_]+)/g, '{$1}');
        for (const method of Object.keys(methods)) found.push(`${method.toUpperCase()} ${openApiPath}`);
      } else if (layer.handle?.stack) {
        const mount = layer.rawPath === '/' ? '' : typeof layer.rawPath === 'string' ? layer.rawPath : null;
        walk(layer.handle.stack, prefix === null || mount === null ? null : prefix + mount);
      }
    }
  };
  walk((app as unknown as { router: { stack: RouterLayer[] } }).router.stack, '');
  return found.sort();
}

function documentedRoutes(document: Json): string[] {
  return Object.entries(document.paths as Json)
    .flatMap(([routePath, item]) => Object.keys(item as Json).map((method) => `${method.toUpperCase()} ${routePath}`))
    .sort();
}

const isProtectedPath = (p: string) => /^\/(v1|api\/v1)(\/|$)/.test(p);

/** The rule of API.md "Access", written out here independently of access.ts. */
function expectedScope(method: string, p: string): ApiScope {
  if (p.startsWith('/v1/admin/')) return 'admin';
  if (method === 'get' || method === 'head') return 'read';
  return /^\/v1\/accounts\/\{id\}\/(freeze|unfreeze|close)$/.test(p) ? 'admin' : 'write';
}

function makeKeys<N extends string>(wanted: Record<N, ApiScope[]>) {
  const secrets = {} as Record<N, string>;
  const entries: string[] = [];
  for (const [name, scopes] of Object.entries(wanted) as [N, ApiScope[]][]) {
    secrets[name] = generateApiKey();
    entries.push(apiKeyEntry(name, scopes, secrets[name]));
  }
  return { secrets, keys: loadConfig({ API_KEYS: entries.join(',') }).apiKeys };
}

/** Headers the ledger sets on purpose: each one a response carries must be documented for it. */
const ledgerHeaders = [
  'x-request-id',
  'cache-control',
  'location',
  'ledger-position',
  'idempotent-replayed',
  'preference-applied',
  'retry-after',
  'www-authenticate',
  'ratelimit-limit',
  'ratelimit-remaining',
  'ratelimit-reset',
  'ratelimit-policy',
];

describe('the OpenAPI document and Swagger UI', () => {
  let api: ApiHarness;
  let document: Json;

  const deps = () => ({
    store: api.ledger.store,
    pool: api.ledger.db.pool,
    transfers: api.ledger.transfers,
    clock: () => api.ledger.clock.now,
    logger: testLogger,
  });

  beforeAll(async () => {
    api = await startApi();
    const res = await request(api.app).get('/openapi.json');
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/^application\/json/);
    document = res.body;
  });
  afterAll(() => api.close());

  const resolve = (node: Json): Json => {
    if (typeof node.$ref !== 'string') return node;
    const target = (node.$ref as string)
      .replace(/^#\//, '')
      .split('/')
      .reduce((at: Json, key) => at[key], document);
    return resolve(target);
  };

  describe('GET /openapi.json', () => {
    it('is an OpenAPI 3.1 document that validates', async () => {
      expect(document.openapi).toBe('3.1.0');
      const result = await validateOpenApi(document);
      expect(result.errors ?? []).toEqual([]);
      expect(result.valid).toBe(true);
    });

    it('a broken document does not validate (the check can fail)', async () => {
      const broken = structuredClone(document);
      delete broken.info.version;
      broken.paths['/v1/accounts'].get.responses['200'] = { content: {} };
      const result = await validateOpenApi(broken);
      expect(result.valid).toBe(false);
      expect(JSON.stringify(result.errors)).toMatch(/version|description/);
    });

    it('lists exactly the routes the app serves', () => {
      expect(documentedRoutes(document)).toEqual(servedRoutes(api.app));
      expect(documentedRoutes(document)).toContain('GET /v1/accounts/{id}/balance');
    });

    it('a route added without documentation breaks the comparison', () => {
      const app = createApp(deps());
      app.get('/v1/undocumented/:id', (_req, res) => {
        res.end();
      });
      expect(servedRoutes(app)).toContain('GET /v1/undocumented/{id}');
      expect(servedRoutes(app)).not.toEqual(documentedRoutes(document));
    });

    it('has unique operation ids, and the table lists each route once', () => {
      const ids = operations.map((op) => op.operationId);
      expect(new Set(ids).size).toBe(ids.length);
      const routes = operations.map((op) => `${op.method} ${op.path}`);
      expect(new Set(routes).size).toBe(routes.length);
    });

    it('asks every /v1 and /api/v1 operation for a bearer key with its scope; the rest are public', () => {
      for (const [routePath, item] of Object.entries(document.paths as Json)) {
        for (const [method, operation] of Object.entries(item as Json)) {
          const where = `${method.toUpperCase()} ${routePath}`;
          if (!isProtectedPath(routePath)) {
            expect({ where, security: operation.security }).toEqual({ where, security: [] });
            continue;
          }
          const scope = expectedScope(method, routePath);
          expect({ where, security: operation.security }).toEqual({ where, security: [{ bearer: [scope] }] });
          for (const status of ['401', '403', '429']) {
            expect({ where, status, documented: status in operation.responses }).toEqual({
              where,
              status,
              documented: true,
            });
          }
          const tooMany = resolve(operation.responses['429']);
          expect(Object.keys(tooMany.headers)).toEqual(
            expect.arrayContaining(['Retry-After', 'RateLimit-Limit', 'RateLimit-Remaining', 'RateLimit-Reset']),
          );
        }
      }
      expect(document.components.securitySchemes.bearer).toMatchObject({ type: 'http', scheme: 'bearer' });
    });

    it('lists 400, 413 and 422 where a route takes a body, 422 where it takes parameters', () => {
      for (const op of operations) {
        const statuses = Object.keys(document.paths[op.path][op.method].responses);
        const where = `${op.method.toUpperCase()} ${op.path}`;
        if (op.body)
          expect({ where, statuses }).toEqual({ where, statuses: expect.arrayContaining(['400', '413', '422']) });
        if (op.params || op.query)
          expect({ where, statuses }).toEqual({ where, statuses: expect.arrayContaining(['422']) });
        expect({ where, statuses }).toEqual({ where, statuses: expect.arrayContaining(['500']) });
      }
    });

    it('states the limits from the code', () => {
      const schemas = document.components.schemas;
      expect(schemas.TransferBatchRequest.properties.transfers).toMatchObject({ minItems: 1, maxItems: 1000 });
      expect(schemas.IdempotencyKey).toMatchObject({ minLength: 1, maxLength: 255 });
      expect(schemas.AccountId.pattern).toBe('^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$');
      expect(schemas.CurrencyCode.enum).toEqual(expect.arrayContaining(['USD', 'JPY', 'KWD']));
      expect(schemas.CurrencyCode.enum).not.toContain('XAU');
      expect(document.paths['/v1/transfers/batch'].post.requestBody.description).toMatch(/512 KiB/);
      expect(document.paths['/v1/transfers'].post.requestBody.description).toMatch(/64 KiB/);
      expect(document.components.parameters['Ledger-Min-Position'].description).toMatch(/5 s/);
      expect(document.servers).toContainEqual(
        expect.objectContaining({ variables: { port: expect.objectContaining({ default: '8081' }) } }),
      );
    });
  });

  describe('the scopes it lists are the ones access control enforces', () => {
    const { secrets, keys } = makeKeys({
      reader: ['read'],
      writer: ['write'],
      clerk: ['read', 'write'],
      root: ['admin'],
    });
    const withScope: Record<ApiScope, string> = { read: secrets.reader, write: secrets.writer, admin: secrets.root };
    const without: Record<ApiScope, string> = { read: secrets.writer, write: secrets.reader, admin: secrets.clerk };
    const protectedOps = operations.filter((op) => isProtectedPath(op.path));
    let secured: Express;
    beforeAll(() => {
      secured = createApp({ ...deps(), access: { keys } });
    });

    const send = (op: Operation, secret: string) => {
      const url = op.path.replace(/\{[^}]+\}/g, 'openapi-nobody');
      const req = request(secured)[op.method](url).set('Authorization', `Bearer ${secret}`);
      return op.method === 'post' ? req.send({}) : req;
    };

    it.each(protectedOps.map((op) => [`${op.method.toUpperCase()} ${op.path}`, op] as const))(
      '%s',
      async (_name, op) => {
        const scope = document.paths[op.path][op.method].security[0].bearer[0] as ApiScope;
        const refused = await send(op, without[scope]);
        expect({ status: refused.status, code: refused.body.code }).toEqual({ status: 403, code: 'FORBIDDEN' });
        const allowed = await send(op, withScope[scope]);
        expect([401, 403]).not.toContain(allowed.status);
      },
    );
  });

  describe('/docs', () => {
    it('serves Swagger UI whose scripts and styles all come from this server, under a strict CSP', async () => {
      const res = await request(api.app).get('/docs');
      expect(res.status).toBe(200);
      expect(res.headers['content-type']).toMatch(/^text\/html/);
      const csp: string = res.headers['content-security-policy'];
      expect(csp).toMatch(/script-src 'self'(;|$)/);
      expect(csp).toMatch(/style-src 'self'(;|$)/);
      expect(csp).not.toMatch(/unsafe-inline|unsafe-eval|https?:/);
      expect(res.text).not.toMatch(/(src|href)\s*=\s*["']?(https?:)?\/\//i);
      expect(res.text).not.toMatch(/<style|style=/i);
      // Every script is a file: no inline code.
      const scripts = [...res.text.matchAll(/<script\b([^>]*)>([\s\S]*?)<\/script>/gi)];
      expect(scripts.length).toBeGreaterThanOrEqual(2);
      for (const [, attributes, body] of scripts) {
        expect(attributes).toMatch(/\bsrc="/);
        expect(body.trim()).toBe('');
      }

      const assets = [...res.text.matchAll(/\b(?:src|href)="([^"]+)"/g)].map((m) => m[1]);
      const expectedType: Record<string, RegExp> = {
        js: /^(text|application)\/javascript/,
        css: /^text\/css/,
        png: /^image\/png/,
      };
      expect(assets.map((a) => path.extname(a).slice(1)).sort()).toEqual(['css', 'css', 'js', 'js', 'png', 'png']);
      for (const asset of assets) {
        expect(asset).toMatch(/^\/docs\//);
        const got = await request(api.app).get(asset);
        expect({ asset, status: got.status }).toEqual({ asset, status: 200 });
        expect(got.headers['content-type']).toMatch(expectedType[path.extname(asset).slice(1)]);
        expect(got.headers['x-content-type-options']).toBe('nosniff');
      }

      const initializer = await request(api.app).get(assets.find((a) => a.endsWith('ledger-docs.js'))!);
      expect(initializer.text).toContain('"/openapi.json"');
      expect(initializer.text).toContain('validatorUrl: null');
      expect(initializer.text).not.toMatch(/https?:/);
    });

    it('serves none of the package files the page does not use', async () => {
      for (const file of [
        '/docs/index.html',
        '/docs/swagger-initializer.js',
        '/docs/package.json',
        '/docs/../package.json',
      ]) {
        expect({ file, status: (await request(api.app).get(file)).status }).toEqual({ file, status: 404 });
      }
    });
  });

  describe('real responses conform to the documented schemas', () => {
    const byId = new Map(operations.map((op) => [op.operationId, op]));

    /** The response is documented for its operation and status; its body parses with the schema documented. */
    const expectDocumented = (res: request.Response, operationId: string) => {
      const op = byId.get(operationId);
      if (!op) throw new Error(`no operation ${operationId}`);
      const where = `${operationId} ${res.status}`;
      const responseNode = document.paths[op.path][op.method].responses[String(res.status)];
      expect({ where, documented: responseNode !== undefined }).toEqual({ where, documented: true });
      const documented = resolve(responseNode);
      const mediaType = String(res.headers['content-type']).split(';')[0];
      const mediaTypes = Object.keys(documented.content);
      expect({ where, mediaType, documented: mediaTypes.includes(mediaType) }).toEqual({
        where,
        mediaType,
        documented: true,
      });
      if (mediaType === 'application/problem+json') {
        expect({ where, issues: problem.safeParse(res.body).error?.issues ?? [] }).toEqual({ where, issues: [] });
        const codes: string[] = documented.content[mediaType].schema.allOf[1].properties.code.enum;
        expect({ where, code: res.body.code, documented: codes.includes(res.body.code) }).toEqual({
          where,
          code: res.body.code,
          documented: true,
        });
      } else if (mediaType === 'application/json') {
        const schema = op.responses[res.status].body!;
        expect({ where, issues: schema.safeParse(res.body).error?.issues ?? [] }).toEqual({ where, issues: [] });
      }
      const documentedHeaders = Object.keys(documented.headers).map((h) => h.toLowerCase());
      for (const header of ledgerHeaders) {
        if (res.headers[header] !== undefined) {
          expect({ where, header, documented: documentedHeaders.includes(header) }).toEqual({
            where,
            header,
            documented: true,
          });
        }
      }
    };

    beforeAll(async () => {
      await api.open('oa-src');
      await api.open('oa-dst');
      await api.open('oa-empty', 'EUR');
      await api.fund('oa-src', '100.00');
    });

    it('accounts, balances and statements', async () => {
      const app = request(api.app);
      expectDocumented(
        await app.post('/v1/accounts').send({ id: 'oa-new', currency: 'KWD', overdraft: '1.5', metadata: { a: 1 } }),
        'openAccount',
      );
      expectDocumented(
        await app.post('/v1/accounts').send({ id: 'oa-new', currency: 'KWD', overdraft: '1.5', metadata: { a: 1 } }),
        'openAccount',
      );
      expectDocumented(await app.post('/v1/accounts').send({ id: 'oa-new', currency: 'USD' }), 'openAccount');
      await api.sync();
      expectDocumented(await app.get('/v1/accounts/oa-src'), 'getAccount');
      expectDocumented(await app.get('/v1/accounts?limit=2'), 'listAccounts');
      expectDocumented(await app.get('/v1/accounts/oa-src/balance'), 'getBalance');
      expectDocumented(
        await app.get(`/v1/accounts/oa-src/balance?asOf=${api.ledger.clock.now.toISOString()}`),
        'getBalance',
      );
      const entries = await app.get('/v1/accounts/oa-src/entries?limit=1');
      expect(entries.body.items).toHaveLength(1);
      expectDocumented(entries, 'listEntries');
      expectDocumented(await app.post('/v1/accounts/oa-empty/freeze'), 'freezeAccount');
      expectDocumented(await app.post('/v1/accounts/oa-empty/unfreeze').send({}), 'unfreezeAccount');
      expectDocumented(await app.post('/v1/accounts/oa-src/close'), 'closeAccount');
      expectDocumented(await app.post('/v1/accounts/oa-empty/close'), 'closeAccount');
      expectDocumented(await app.get('/v1/accounts/oa-ghost'), 'getAccount');
      expectDocumented(await app.get('/v1/accounts/oa-src?expand=all'), 'getAccount');
      expectDocumented(await app.get('/v1/accounts/%E0%A4%A'), 'getAccount');
      expectDocumented(
        await app.post('/v1/accounts').set('Content-Type', 'application/json').send('{"currency":'),
        'openAccount',
      );
      expectDocumented(
        await app.post('/v1/accounts').send({ currency: 'USD', metadata: { blob: 'x'.repeat(70_000) } }),
        'openAccount',
      );
    });

    it('transfers, one by one and in a batch', async () => {
      const app = request(api.app);
      const accepted = await app
        .post('/v1/transfers')
        .set('Idempotency-Key', 'oa-key-1')
        .send({ sourceAccount: 'oa-src', destinationAccount: 'oa-dst', amount: '1.50', metadata: { k: 'v' } });
      expect(accepted.status).toBe(202);
      expectDocumented(accepted, 'requestTransfer');
      const replayed = await app
        .post('/v1/transfers')
        .set('Idempotency-Key', 'oa-key-1')
        .send({ sourceAccount: 'oa-src', destinationAccount: 'oa-dst', amount: '1.50', metadata: { k: 'v' } });
      expect(replayed.headers['idempotent-replayed']).toBe('true');
      expectDocumented(replayed, 'requestTransfer');
      const rejected = await app
        .post('/v1/transfers')
        .set('Prefer', 'wait=20')
        .send({ sourceAccount: 'oa-src', destinationAccount: 'oa-dst', amount: '5000.00', description: 'too much' });
      expect({ status: rejected.status, state: rejected.body.status }).toEqual({ status: 201, state: 'REJECTED' });
      expectDocumented(rejected, 'requestTransfer');

      const held = await app
        .post('/v1/transfers')
        .set('Prefer', 'wait=20')
        .send({ sourceAccount: 'oa-src', destinationAccount: 'oa-dst', amount: '2.00', mode: 'pending' });
      expect(held.body.status).toBe('HELD');
      expectDocumented(held, 'requestTransfer');
      const committed = await app
        .post(`/v1/transfers/${held.body.id}/commit`)
        .set('Prefer', 'wait=20')
        .send({ amount: '1.00' });
      expect({ status: committed.status, state: committed.body.status }).toEqual({ status: 200, state: 'COMMITTED' });
      expectDocumented(committed, 'commitTransfer');
      expectDocumented(await app.post(`/v1/transfers/${held.body.id}/void`), 'voidTransfer');
      const pending = await app
        .post('/v1/transfers')
        .set('Prefer', 'wait=20')
        .send({ sourceAccount: 'oa-src', destinationAccount: 'oa-dst', amount: '2.00', mode: 'pending' });
      expectDocumented(await app.post(`/v1/transfers/${pending.body.id}/void`), 'voidTransfer');
      expectDocumented(await app.post(`/v1/transfers/${accepted.body.id}/commit`), 'commitTransfer');

      const batch = await app.post('/v1/transfers/batch').send({
        transfers: [
          { sourceAccount: 'oa-src', destinationAccount: 'oa-dst', amount: '0.10' },
          { id: 'oa-ghost', sourceAccount: 'oa-ghost', destinationAccount: 'oa-dst', amount: '0.10' },
          { sourceAccount: 'oa-src', destinationAccount: 'oa-dst', amount: '0.001', colour: 'red' },
          42,
        ],
      });
      expect(batch.body.items.map((i: { error?: { code: string } }) => i.error?.code)).toEqual([
        undefined,
        'ACCOUNT_NOT_FOUND',
        'VALIDATION_FAILED',
        'VALIDATION_FAILED',
      ]);
      expectDocumented(batch, 'requestTransferBatch');

      await api.ledger.waitForTerminal([accepted.body.id]);
      await api.sync();
      const page = await app.get('/v1/transfers?limit=3&account=oa-src');
      expect(page.body.items).toHaveLength(3);
      expectDocumented(page, 'listTransfers');
      expectDocumented(await app.get(`/v1/transfers/${held.body.id}`), 'getTransfer');
      expectDocumented(await app.get(`/v1/transfers/${rejected.body.id}`), 'getTransfer');
      expectDocumented(await app.get('/v1/transfers/oa-nothing'), 'getTransfer');
      expectDocumented(
        await app.post('/v1/transfers').send({ sourceAccount: 'oa-src', destinationAccount: 'oa-src', amount: '1' }),
        'requestTransfer',
      );
      expectDocumented(await app.post('/v1/transfers').set('Content-Type', 'text/plain').send('hi'), 'requestTransfer');
    });

    it("the seed system's routes", async () => {
      const app = request(api.app);
      const transfer = await app
        .post('/api/v1/payments/transfer')
        .send({ sourceAccount: 'oa-src', destinationAccount: 'oa-dst', amount: 1.25, idempotencyKey: 'oa-seed' });
      expectDocumented(transfer, 'seedTransfer');
      expectDocumented(await app.get('/api/v1/payments/accounts/oa-src/balance'), 'seedBalance');
      expectDocumented(
        await app.get(`/api/v1/payments/transactions/${transfer.body.id}/status`),
        'seedTransactionStatus',
      );
      expectDocumented(await app.get('/api/v1/payments/transactions/oa-nothing/status'), 'seedTransactionStatus');
      expectDocumented(await app.get('/api/v1/actuator/health'), 'seedHealth');
    });

    it('operations', async () => {
      const app = request(api.app);
      expectDocumented(await app.get('/health/live'), 'liveness');
      expectDocumented(await app.get('/health/ready'), 'readiness');
      const metrics = await app.get('/metrics');
      expect(metrics.headers['content-type']).toMatch(/^text\/plain/);
      expectDocumented(metrics, 'metrics');
      expectDocumented(await app.get('/openapi.json'), 'openApiDocument');
      expectDocumented(await app.get('/docs'), 'apiDocs');
    });

    it('refusals of access control and the rate limit', async () => {
      const { secrets, keys } = makeKeys({ reader: ['read'] });
      const secured = createApp({
        ...deps(),
        access: { keys, rateLimit: { requests: 2, windowSeconds: 60 } },
      });
      expectDocumented(await request(secured).get('/v1/accounts/oa-src'), 'getAccount');
      expectDocumented(
        await request(secured).post('/v1/transfers').set('Authorization', `Bearer ${secrets.reader}`).send({}),
        'requestTransfer',
      );
      const read = await request(secured).get('/v1/accounts/oa-src').set('Authorization', `Bearer ${secrets.reader}`);
      expect(read.status).toBe(200);
      expectDocumented(read, 'getAccount');
      const limited = await request(secured)
        .get('/v1/accounts/oa-src')
        .set('Authorization', `Bearer ${secrets.reader}`);
      expect(limited.status).toBe(429);
      expectDocumented(limited, 'getAccount');
    });
  });
});
