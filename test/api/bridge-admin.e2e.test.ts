/**
 * The Kafka bridge as operators see it through the API: GET /v1/admin/bridge (admin scope
 * only) and the bridge's line in /health/ready, which never makes the service unready.
 */
import request from 'supertest';
import { type ApiScope, apiKeyEntry, generateApiKey } from '../../src/api/api-keys';
import * as responses from '../../src/api/responses';
import { loadConfig } from '../../src/config';
import type { LeasedWork } from '../../src/db/lease';
import { startBridge } from '../../src/integration/bridge';
import { collectMessages, testBridgeSettings } from '../support/kafka';
import { testLogger } from '../support/ledger';
import { type ApiHarness, expectProblem, startApi } from './harness';

jest.setTimeout(120_000);

const secrets: Record<'reader' | 'root', string> = { reader: generateApiKey(), root: generateApiKey() };
const scopes: Record<keyof typeof secrets, ApiScope[]> = { reader: ['read'], root: ['admin'] };
const keys = loadConfig({
  API_KEYS: Object.entries(secrets)
    .map(([name, secret]) => apiKeyEntry(name, scopes[name as keyof typeof secrets], secret))
    .join(','),
}).apiKeys;

const settings = testBridgeSettings();
let api: ApiHarness;
let bridge: LeasedWork | undefined;

beforeAll(async () => {
  api = await startApi({ access: { keys }, helperKey: secrets.root, bridge: settings });
});

afterAll(async () => {
  await bridge?.stop();
  await api.close();
});

const admin = (path: string, secret = secrets.root) =>
  request(api.app).get(path).set('Authorization', `Bearer ${secret}`);

test('only the admin scope reads the bridge', async () => {
  expectProblem(await request(api.app).get('/v1/admin/bridge'), 401, 'UNAUTHORIZED');
  expectProblem(await admin('/v1/admin/bridge', secrets.reader), 403, 'FORBIDDEN');
  expectProblem(await admin('/v1/admin/bridge?verbose=1'), 422, 'VALIDATION_FAILED');
});

test('a bridge nobody runs: DOWN in readiness, which stays UP; the admin view says why', async () => {
  const ready = await request(api.app).get('/health/ready');
  expect(ready.status).toBe(200);
  expect(ready.body.status).toBe('UP');
  expect(ready.body.components.bridge).toEqual({
    status: 'DOWN',
    durationMs: expect.any(Number),
    error: 'UNAVAILABLE',
  });
  const actuator = await admin('/api/v1/actuator/health');
  expect(actuator.body).toMatchObject({ status: 'UP', components: { kafka: { status: 'DOWN' } } });

  const res = await admin('/v1/admin/bridge');
  expect(res.status).toBe(200);
  expect(responses.bridgeStatus.safeParse(res.body).error).toBeUndefined();
  expect(res.body).toMatchObject({ enabled: true, running: false, owner: null, checkpoint: '0', brokerUp: null });
});

test('a running bridge: UP, its owner, and a checkpoint that reaches the head', async () => {
  await api.open('alice', 'EUR');
  bridge = startBridge({ store: api.ledger.store, pool: api.ledger.db.pool, logger: testLogger, settings });
  const consumer = await collectMessages(settings.brokers, Object.values(settings.topics));
  try {
    await consumer.waitFor('the account opened', (messages) => messages.length >= 1);
  } finally {
    await consumer.stop();
  }
  const head = (await api.ledger.store.headPosition()).toString();
  for (let i = 0; ; i++) {
    const res = await admin('/v1/admin/bridge');
    if (res.body.checkpoint === head) {
      expect(responses.bridgeStatus.safeParse(res.body).error).toBeUndefined();
      expect(res.body).toMatchObject({
        enabled: true,
        running: true,
        brokerUp: true,
        lagPositions: '0',
        lastError: null,
      });
      expect(res.body.owner).toEqual(expect.any(String));
      break;
    }
    if (i > 100) throw new Error(`the checkpoint stayed at ${res.body.checkpoint}, the head is ${head}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  const ready = await request(api.app).get('/health/ready');
  expect(ready.body.components.bridge).toEqual({ status: 'UP', durationMs: expect.any(Number) });
});
