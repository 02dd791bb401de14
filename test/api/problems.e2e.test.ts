/**
 * Failures the client did not cause: a 500 (or 503) as problem+json that says nothing about
 * the cause, which goes to the log instead. No database: the app's dependencies fail.
 */
import { Writable } from 'node:stream';
import pino from 'pino';
import type { Pool } from 'pg';
import request from 'supertest';
import { createApp } from '../../src/api/app';
import type { TransferCommands } from '../../src/commands/transfer-commands';
import { InvariantViolation } from '../../src/domain/errors';
import type { EventStore } from '../../src/eventstore/port';
import { expectProblem } from './harness';

const leakyMessage = 'relation "rm_accounts" does not exist: select * from rm_accounts where password = \'hunter2\'';

function brokenApp() {
  const lines: string[] = [];
  const logger = pino(
    { level: 'info' },
    new Writable({
      write: (chunk, _enc, done) => {
        lines.push(String(chunk));
        done();
      },
    }),
  );
  const pool = { query: () => Promise.reject(new Error(leakyMessage)) } as unknown as Pool;
  const store = {
    readStream: () => Promise.resolve([]),
    headPosition: () => Promise.reject(new Error('connect ECONNREFUSED 10.0.0.7:2113')),
  } as unknown as EventStore;
  const transfers = {
    requestTransfer: () => Promise.reject(new InvariantViolation('account a: available -5 below floor 0')),
    requestTransfers: () => Promise.reject('a string, not an Error'),
    commitTransfer: () => Promise.reject(Object.assign(new Error('upstream said 404'), { status: 404 })),
  } as unknown as TransferCommands;
  return { app: createApp({ store, pool, transfers, logger }), lines };
}

describe('problems the client did not cause', () => {
  it('a database failure is a 500 that leaks nothing, and is logged', async () => {
    const { app, lines } = brokenApp();
    const res = await request(app).get('/v1/accounts');
    expectProblem(res, 500, 'INTERNAL_ERROR');
    expect(res.text).not.toContain('rm_accounts');
    expect(res.text).not.toContain('hunter2');
    expect(res.headers['x-request-id']).toBeDefined();
    const logged = lines.map((l) => JSON.parse(l)).find((l) => l.msg === 'request failed');
    expect(logged).toMatchObject({ level: 50, requestId: res.headers['x-request-id'], err: { message: leakyMessage } });
  });

  it('a broken invariant is a 500 without its message', async () => {
    const { app } = brokenApp();
    const res = await request(app)
      .post('/v1/transfers')
      .send({ sourceAccount: 'a', destinationAccount: 'b', amount: '1.00', currency: 'USD' });
    expectProblem(res, 500, 'INTERNAL_ERROR');
    expect(res.text).not.toContain('floor');
  });

  it('something thrown that is not even an Error is a 500', async () => {
    const { app } = brokenApp();
    const res = await request(app)
      .post('/v1/transfers/batch')
      .send({ transfers: [{ sourceAccount: 'a', destinationAccount: 'b', amount: '1.00', currency: 'USD' }] });
    expectProblem(res, 500, 'INTERNAL_ERROR');
  });

  it('an internal error that carries an HTTP status is still a 500', async () => {
    const { app } = brokenApp();
    expectProblem(await request(app).post('/v1/transfers/t-1/commit'), 500, 'INTERNAL_ERROR');
  });

  it('health is DOWN (503) per failing component, without the reason', async () => {
    const { app } = brokenApp();
    const res = await request(app).get('/api/v1/actuator/health');
    expect(res.status).toBe(503);
    expect(res.body).toEqual({
      status: 'DOWN',
      components: { db: { status: 'DOWN' }, eventStore: { status: 'DOWN' } },
    });
  });

  it('echoes a safe X-Request-Id and replaces an unsafe one', async () => {
    const { app } = brokenApp();
    expect((await request(app).get('/v1/nothing').set('X-Request-Id', 'trace-123')).headers['x-request-id']).toBe(
      'trace-123',
    );
    expect(
      (await request(app).get('/v1/nothing').set('X-Request-Id', 'bad id <script>')).headers['x-request-id'],
    ).not.toContain('<');
  });
});
