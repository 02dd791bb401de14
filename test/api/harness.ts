/**
 * The API on a test ledger of its own: real PostgreSQL store (instrumented, as the service
 * runs it), transfer process and projections, the express app driven in-process by supertest.
 */
import type { JobQueues } from '../../src/jobs/queues';
import type { Express } from 'express';
import type { Redis } from 'ioredis';
import request from 'supertest';
import type { AccessOptions } from '../../src/api/access';
import { createApp } from '../../src/api/app';
import { instrumentEventStore } from '../../src/eventstore/instrumented';
import type { BridgeSettings } from '../../src/integration/settings';
import { watchSubscriberLag } from '../../src/metrics/subscriber-lag';
import { startProjections } from '../../src/projections';
import { createTestLedger, type TestLedger, testLogger } from '../support/ledger';
import { syncReadSide } from '../support/projections';

export interface ApiHarness {
  ledger: TestLedger;
  app: Express;
  /** Opens an account through the API (201 or 200 expected). */
  open(id: string, currency?: string, overdraft?: string): Promise<void>;
  /** Moves `amount` from an unlimited funding account in the same currency, and waits for COMMITTED. */
  fund(id: string, amount: string, currency?: string): Promise<void>;
  /** Events in the store: what "nothing changed" is checked against. */
  eventCount(): Promise<number>;
  /** Waits until the read models have applied every event written so far. */
  sync(): Promise<bigint>;
  close(): Promise<void>;
}

export interface ApiOptions {
  /** API keys and rate limit; absent: the API is open and not rate limited. */
  access?: AccessOptions;
  /** Where the rate limiter counts; absent: in memory. */
  redis?: Redis;
  /** The API key the harness's own helpers (open, fund) send when access control is on. */
  helperKey?: string;
  /** The Kafka bridge's settings, as the service passes them (the bridge itself is not started). */
  bridge?: BridgeSettings;
  /** The reconciler's queues (no reconciler runs). */
  jobs?: JobQueues;
}

export async function startApi(options: ApiOptions = {}): Promise<ApiHarness> {
  const ledger = await createTestLedger({ store: instrumentEventStore });
  ledger.startProcess();
  const subscriberLag = watchSubscriberLag({ store: ledger.store, pool: ledger.db.pool, logger: testLogger });
  const projections = startProjections(ledger.store, ledger.db.pool, testLogger);
  const app = createApp({
    store: ledger.store,
    pool: ledger.db.pool,
    transfers: ledger.transfers,
    clock: () => ledger.clock.now,
    logger: testLogger,
    ...(options.access !== undefined && { access: options.access }),
    ...(options.redis !== undefined && { redis: options.redis }),
    ...(options.bridge !== undefined && { bridge: options.bridge }),
    ...(options.jobs !== undefined && { jobs: options.jobs }),
  });
  const asHelper = (req: request.Test) =>
    options.helperKey === undefined ? req : req.set('Authorization', `Bearer ${options.helperKey}`);
  let funded = 0;
  const harness: ApiHarness = {
    ledger,
    app,
    async open(id, currency = 'USD', overdraft) {
      const res = await asHelper(request(app).post('/v1/accounts')).send({
        id,
        currency,
        ...(overdraft !== undefined && { overdraft }),
      });
      if (res.status !== 201 && res.status !== 200)
        throw new Error(`open ${id}: ${res.status} ${JSON.stringify(res.body)}`);
    },
    async fund(id, amount, currency = 'USD') {
      await harness.open(`funding-${currency}`, currency, 'unlimited');
      const res = await asHelper(request(app).post('/v1/transfers'))
        .set('Prefer', 'wait=20')
        .send({ id: `fund-${id}-${funded++}`, sourceAccount: `funding-${currency}`, destinationAccount: id, amount });
      if (res.status !== 201 || res.body.status !== 'COMMITTED')
        throw new Error(`fund ${id}: ${res.status} ${JSON.stringify(res.body)}`);
    },
    async eventCount() {
      const { rows } = await ledger.db.pool.query<{ n: string }>('select count(*)::text as n from ledger_events');
      return Number(rows[0].n);
    },
    sync: () => syncReadSide(ledger),
    async close() {
      subscriberLag.stop();
      await projections.stop();
      await ledger.close();
    },
  };
  return harness;
}

/** The problem+json every error must be: the stable fields, and nothing that leaks internals. */
export function expectProblem(res: request.Response, status: number, code: string): void {
  expect({ status: res.status, code: res.body.code }).toEqual({ status, code });
  expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
  expect(res.body).toEqual(
    expect.objectContaining({
      type: expect.any(String),
      title: expect.any(String),
      status,
      detail: expect.any(String),
      code,
    }),
  );
  const allowed = new Set(['type', 'title', 'status', 'detail', 'code', 'errors']);
  expect(Object.keys(res.body).filter((k) => !allowed.has(k))).toEqual([]);
  expect(res.text).not.toMatch(/\bat .+\.(ts|js):\d+|node_modules|select |insert into|postgres/i);
}
