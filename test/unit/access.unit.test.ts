/**
 * API keys in configuration (API_KEYS), the scope rule, the rate-limit and Redis
 * variables, and `ledger api-key`: every bad form is refused, naming the variable and the
 * entry's position, and never repeating a secret.
 */
import { createHash } from 'node:crypto';
import { Writable } from 'node:stream';
import { type AccessOptions, logAccessPolicy, requiredScope } from '../../src/api/access';
import { type ApiKey, generateApiKey, grants } from '../../src/api/api-keys';
import { run } from '../../src/cli/ledger';
import { loadConfig } from '../../src/config';
import { createLogger } from '../../src/logger';
import { configError } from '../support/config';

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');
const hashA = sha256('key-a');
const hashB = sha256('key-b');

describe('API_KEYS', () => {
  it('is empty when unset or blank: the API is open', () => {
    expect(loadConfig({}).apiKeys).toEqual([]);
    expect(loadConfig({ API_KEYS: '  ' }).apiKeys).toEqual([]);
  });

  it('reads name, scopes and hash of each entry, trimming the space around entries', () => {
    const keys = loadConfig({ API_KEYS: `payouts:read+write:${hashA} , ops.team_1-x:admin:${hashB}` }).apiKeys;
    expect(keys).toEqual([
      { name: 'payouts', scopes: ['read', 'write'], sha256: hashA },
      { name: 'ops.team_1-x', scopes: ['admin'], sha256: hashB },
    ]);
  });

  const secret = generateApiKey();
  const badEntries: [string, string, RegExp][] = [
    ['two fields', `svc:read`, /entry 2: must be <name>:<scopes>:<sha256-hex-of-key>/],
    ['four fields', `svc:read:${hashB}:x`, /entry 2: must be/],
    ['an empty entry', ``, /entry 2: must be/],
    ['an empty name', `:read:${hashB}`, /entry 2: a name is 1 to 64 characters/],
    ['a name with a space', `my svc:read:${hashB}`, /entry 2: a name is 1 to 64 characters/],
    ['a name of 65 characters', `${'n'.repeat(65)}:read:${hashB}`, /entry 2: a name is 1 to 64/],
    ['no scopes', `svc::${hashB}`, /entry 2: scopes are read, write, admin/],
    ['an unknown scope', `svc:read+delete:${hashB}`, /entry 2: scopes are read, write, admin/],
    ['an upper-case scope', `svc:READ:${hashB}`, /entry 2: scopes are/],
    ['a scope given twice', `svc:read+read:${hashB}`, /entry 2: a scope is listed twice/],
    ['an upper-case hash', `svc:read:${hashB.toUpperCase()}`, /entry 2: the key hash must be 64 lowercase hex/],
    ['a short hash', `svc:read:${hashB.slice(1)}`, /entry 2: the key hash must be 64 lowercase hex/],
    ['the key itself instead of its hash', `svc:read:${secret}`, /entry 2: .*not the key itself/],
  ];
  it.each(badEntries)('refuses %s, naming API_KEYS and the position, echoing nothing', (_what, entry, expected) => {
    const message = configError({ API_KEYS: `first:read:${hashA},${entry}` });
    expect(message).toMatch(/API_KEYS: /);
    expect(message).toMatch(expected);
    expect(message).not.toContain(hashA);
    expect(message).not.toContain(hashB);
    expect(message).not.toContain(hashB.toUpperCase());
    expect(message).not.toContain(secret);
    expect(message).not.toContain('svc');
  });

  it('refuses two entries with the same name, or the same hash', () => {
    expect(configError({ API_KEYS: `a:read:${hashA},b:read:${hashB},a:write:${sha256('c')}` })).toMatch(
      /API_KEYS: entries 1 and 3 have the same name/,
    );
    const sameHash = configError({ API_KEYS: `a:read:${hashA},b:write:${hashA}` });
    expect(sameHash).toMatch(/API_KEYS: entries 1 and 2 have the same key hash/);
    expect(sameHash).not.toContain(hashA);
  });

  it('reports every bad entry, not only the first', () => {
    const message = configError({ API_KEYS: `a:read,b:read:${hashB},c:nope:${hashA}` });
    expect(message).toMatch(/entry 1: must be/);
    expect(message).toMatch(/entry 3: scopes are/);
  });
});

describe('RATE_LIMIT_REQUESTS, RATE_LIMIT_WINDOW_SECONDS, REDIS_URL', () => {
  it('default to 1000 requests per 1 second, and no REDIS_URL', () => {
    const config = loadConfig({});
    expect(config.rateLimit).toEqual({ requests: 1000, windowSeconds: 1 });
    expect(config.redisUrl).toBeUndefined();
    expect(loadConfig({ RATE_LIMIT_REQUESTS: '', RATE_LIMIT_WINDOW_SECONDS: '' }).rateLimit).toEqual({
      requests: 1000,
      windowSeconds: 1,
    });
  });

  it('take whole numbers; 0 requests turns the limit off', () => {
    expect(loadConfig({ RATE_LIMIT_REQUESTS: '0', RATE_LIMIT_WINDOW_SECONDS: '60' }).rateLimit).toEqual({
      requests: 0,
      windowSeconds: 60,
    });
  });

  it.each([
    ['RATE_LIMIT_REQUESTS', '-1'],
    ['RATE_LIMIT_REQUESTS', '1.5'],
    ['RATE_LIMIT_REQUESTS', '1e3'],
    ['RATE_LIMIT_REQUESTS', '1000001'],
    ['RATE_LIMIT_WINDOW_SECONDS', '0'],
    ['RATE_LIMIT_WINDOW_SECONDS', '3601'],
    ['RATE_LIMIT_WINDOW_SECONDS', 'one'],
  ])('refuse %s=%s', (name, value) => {
    expect(configError({ [name]: value })).toContain(`${name}: `);
  });

  it('REDIS_URL is a redis:// or rediss:// URL, and a bad one is not echoed', () => {
    expect(loadConfig({ REDIS_URL: 'rediss://:pw@cache.internal:6380/2' }).redisUrl).toBe(
      'rediss://:pw@cache.internal:6380/2',
    );
    const message = configError({ REDIS_URL: 'http://user:hunter2@cache:6379' });
    expect(message).toContain('REDIS_URL: must be a redis:// or rediss:// URL');
    expect(message).not.toContain('hunter2');
  });
});

describe('the scope a request needs', () => {
  it.each([
    ['GET', '/v1/accounts', 'read'],
    ['HEAD', '/v1/accounts/a/balance', 'read'],
    ['GET', '/v1/accounts/a/freeze', 'read'],
    ['GET', '/api/v1/payments/accounts/a/balance', 'read'],
    ['POST', '/v1/accounts', 'write'],
    ['POST', '/v1/transfers', 'write'],
    ['POST', '/v1/transfers/batch', 'write'],
    ['POST', '/v1/transfers/t/commit', 'write'],
    ['POST', '/v1/transfers/t/void', 'write'],
    ['POST', '/api/v1/payments/transfer', 'write'],
    ['POST', '/v1/accounts/a/freeze', 'admin'],
    ['POST', '/v1/accounts/a/unfreeze', 'admin'],
    ['POST', '/v1/accounts/a/close', 'admin'],
    // The router matches paths case-insensitively and with a trailing slash: so does the rule.
    ['post', '/V1/Accounts/a/FREEZE/', 'admin'],
    ['POST', '/v1/accounts/a/closed', 'write'],
    ['DELETE', '/v1/accounts/a', 'write'],
    ['GET', '/v1/admin/bridge', 'admin'],
    // The queue dashboard: its page, its assets and its API, read or written.
    ['GET', '/admin/queues', 'admin'],
    ['GET', '/admin/queues/static/js/main.js', 'admin'],
    ['GET', '/admin/queues/api/queues', 'admin'],
    ['PUT', '/admin/queues/api/queues/reconcile/pause', 'admin'],
    ['get', '/ADMIN/Queues/', 'admin'],
    ['GET', '/admin', 'admin'],
    ['GET', '/administrator', 'read'],
    ['GET', '/v1/accounts/admin', 'read'],
  ])('%s %s needs %s', (method, path, scope) => {
    expect(requiredScope(method, path)).toBe(scope);
  });

  it('admin grants every scope; write does not imply read', () => {
    const key = (scopes: ApiKey['scopes']): ApiKey => ({ name: 'k', scopes, sha256: hashA });
    expect(['read', 'write', 'admin'].map((s) => grants(key(['admin']), s as 'read'))).toEqual([true, true, true]);
    expect(grants(key(['write']), 'read')).toBe(false);
    expect(grants(key(['write']), 'admin')).toBe(false);
    expect(grants(key(['read']), 'write')).toBe(false);
    expect(grants(key(['read', 'write']), 'write')).toBe(true);
  });
});

describe('ledger api-key', () => {
  let out: string[];
  let err: string[];
  beforeEach(() => {
    out = [];
    err = [];
    jest.spyOn(process.stdout, 'write').mockImplementation((chunk) => out.push(String(chunk)) > 0);
    jest.spyOn(process.stderr, 'write').mockImplementation((chunk) => err.push(String(chunk)) > 0);
  });
  afterEach(() => jest.restoreAllMocks());

  it('prints a new key once and the API_KEYS entry that holds only its hash', async () => {
    expect(await run(['api-key', 'payouts', 'read+write'])).toBe(0);
    const text = out.join('');
    const keys: string[] = text.match(/lk_[A-Za-z0-9_-]{43}\b/g) ?? [];
    expect(keys).toHaveLength(1);
    const entry = `payouts:read+write:${sha256(keys[0])}`;
    expect(text).toContain(entry);
    expect(loadConfig({ API_KEYS: entry }).apiKeys).toEqual([
      { name: 'payouts', scopes: ['read', 'write'], sha256: sha256(keys[0]) },
    ]);
  });

  it('makes a different key each time', async () => {
    await run(['api-key', 'a', 'read']);
    await run(['api-key', 'a', 'read']);
    const keys = out.join('').match(/lk_[A-Za-z0-9_-]{43}\b/g) ?? [];
    expect(new Set(keys).size).toBe(2);
  });

  it.each([
    [['api-key'], /takes a name and scopes/],
    [['api-key', 'payouts'], /takes a name and scopes/],
    [['api-key', 'payouts', 'read', 'extra'], /takes a name and scopes/],
    [['api-key', 'bad name', 'read'], /invalid API key name: a name is 1 to 64 characters/],
    [['api-key', 'payouts', 'read+delete'], /invalid scopes: scopes are read, write, admin/],
    [['api-key', 'payouts', 'read+read'], /invalid scopes: a scope is listed twice/],
    [['api-key', 'payouts', 'read', '--force'], /Unknown option/],
  ])('refuses %j with exit code 2 and prints no key', async (argv, expected) => {
    expect(await run(argv)).toBe(2);
    expect(err.join('')).toMatch(expected);
    expect(out.join('')).not.toMatch(/lk_/);
  });

  it('is listed in the help text', async () => {
    expect(await run(['help'])).toBe(0);
    expect(out.join('')).toMatch(/api-key <name> <scopes>/);
  });
});

describe('the start-up log about access', () => {
  function logged(options: AccessOptions): Record<string, unknown>[] {
    const lines: Record<string, unknown>[] = [];
    const logger = createLogger(
      'info',
      new Writable({
        write: (chunk, _enc, done) => {
          lines.push(JSON.parse(String(chunk)));
          done();
        },
      }),
    );
    logAccessPolicy(options, logger);
    return lines;
  }

  it('warns that an API without keys is open, and that a rate limit of 0 is none', () => {
    expect(logged({ keys: [], rateLimit: { requests: 0, windowSeconds: 1 } })).toEqual([
      expect.objectContaining({ level: 40, msg: 'no API keys configured: the API is open to anyone who can reach it' }),
      expect.objectContaining({ level: 40, msg: 'rate limiting is disabled (RATE_LIMIT_REQUESTS=0)' }),
    ]);
  });

  it('names the configured keys, never their hashes, at info', () => {
    const keys = loadConfig({ API_KEYS: `payouts:read:${hashA}` }).apiKeys;
    const lines = logged({ keys, rateLimit: { requests: 10, windowSeconds: 1 } });
    expect(lines).toEqual([
      expect.objectContaining({ level: 30, apiKeys: ['payouts'] }),
      expect.objectContaining({ level: 30, requests: 10, windowSeconds: 1 }),
    ]);
    expect(JSON.stringify(lines)).not.toContain(hashA);
  });
});
