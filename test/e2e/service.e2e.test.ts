/**
 * The whole service as `npm start` composes it (startLedger), over real HTTP: the API,
 * the transfer process and the projections together, and a graceful stop that lets a
 * request in flight finish.
 */
import { type RunningLedger } from '../../src/main';
import { startTestService, type TestService } from '../support/service';

let service: TestService;
let ledger: RunningLedger;

beforeAll(async () => {
  service = await startTestService();
  ledger = service.ledger;
});

afterAll(() => service.close());

async function call(method: string, path: string, body?: unknown, headers: Record<string, string> = {}) {
  const res = await fetch(`${ledger.url}${path}`, {
    method,
    headers: { ...(body !== undefined && { 'content-type': 'application/json' }), ...headers },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, headers: res.headers, body: (await res.json()) as Record<string, unknown> };
}

test('opens accounts, moves money to COMMITTED and reads the balance back, over HTTP', async () => {
  expect(
    (await call('POST', '/v1/accounts', { id: 'svc-funding', currency: 'EUR', overdraft: 'unlimited' })).status,
  ).toBe(201);
  expect((await call('POST', '/v1/accounts', { id: 'svc-alice', currency: 'EUR' })).status).toBe(201);
  const transfer = await call(
    'POST',
    '/v1/transfers',
    { sourceAccount: 'svc-funding', destinationAccount: 'svc-alice', amount: '12.34' },
    { Prefer: 'wait=20' },
  );
  expect({ status: transfer.status, transferStatus: transfer.body.status }).toEqual({
    status: 201,
    transferStatus: 'COMMITTED',
  });
  const position = transfer.headers.get('ledger-position');
  expect(position).toMatch(/^\d+$/);
  const balance = await call('GET', '/v1/accounts/svc-alice/balance', undefined, {
    'Ledger-Min-Position': position as string,
  });
  expect(balance.body).toEqual(expect.objectContaining({ posted: '12.34', available: '12.34', currency: 'EUR' }));
});

test('the transfer process and the projections run in worker threads whose metrics /metrics includes', async () => {
  const metrics = await (await fetch(`${ledger.url}/metrics`)).text();
  // Only the transfer process appends TransferCommitted, and it runs in its own thread.
  expect(metrics).toMatch(/^ledger_transfers_total\{status="COMMITTED",reason="none"\} 1$/m);
  expect(metrics).toMatch(/^ledger_worker_restarts_total\{role="transfer-process"\} 0$/m);
  expect(metrics).toMatch(/^ledger_worker_restarts_total\{role="projections"\} 0$/m);
});

test('ingress counts the transfer it accepted as backlog until the transfer process has read it', async () => {
  const backlog = async () =>
    /^ledger_ingress_backlog_transfers (\d+)$/m.exec(await (await fetch(`${ledger.url}/metrics`)).text())?.[1];
  const deadline = Date.now() + 5_000;
  while ((await backlog()) !== '0' && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  expect(await backlog()).toBe('0');
});

test('a stop lets a request in flight finish, then refuses new connections', async () => {
  // A read that asks for a position nobody has written waits its full bound (5 s) before answering 503.
  const inFlight = call('GET', '/v1/accounts/svc-alice', undefined, { 'Ledger-Min-Position': '999999999' });
  await new Promise((resolve) => setTimeout(resolve, 300));
  const stopped = ledger.stop();
  const answered = await inFlight;
  expect({ status: answered.status, code: answered.body.code }).toEqual({ status: 503, code: 'PROJECTION_BEHIND' });
  await stopped;
  await expect(fetch(`${ledger.url}/v1/accounts/svc-alice`)).rejects.toThrow();
});
