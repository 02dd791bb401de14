import request from 'supertest';
import type { EventStore } from '../../src/eventstore/port';
import { WrongExpectedRevision } from '../../src/eventstore/port';
import { lagSampleTimeoutMs, watchSubscriberLag } from '../../src/metrics/subscriber-lag';
import { allProjections } from '../../src/projections';
import { checkpointName } from '../../src/projections/runner';
import { testLogger } from '../support/ledger';
import { eventually } from '../support/projections';
import { startApi, type ApiHarness } from './harness';

/** One sample line of the Prometheus text format. */
interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

function parseExposition(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const match = /^([A-Za-z_:][A-Za-z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!match) throw new Error(`not a sample line: ${line}`);
    const labels: Record<string, string> = {};
    for (const [, name, value] of (match[2] ?? '').matchAll(/([A-Za-z_][A-Za-z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) {
      labels[name] = value;
    }
    samples.push({ name: match[1], labels, value: Number(match[3]) });
  }
  return samples;
}

/** The samples of `name` whose labels include `labels`. */
function matching(samples: Sample[], name: string, labels: Record<string, string> = {}): Sample[] {
  return samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
}

/** Their sum; 0 when there is none (a counter not yet incremented). */
function total(samples: Sample[], name: string, labels: Record<string, string> = {}): number {
  return matching(samples, name, labels).reduce((sum, s) => sum + s.value, 0);
}

/** The one sample of `name` with exactly these labels, if present. */
function single(samples: Sample[], name: string, labels: Record<string, string>): number | undefined {
  const found = matching(samples, name, labels);
  if (found.length > 1) throw new Error(`${found.length} samples of ${name} match ${JSON.stringify(labels)}`);
  return found[0]?.value;
}

describe('GET /metrics', () => {
  let api: ApiHarness;
  beforeAll(async () => {
    api = await startApi();
    await api.open('met-a');
    await api.open('met-b');
    await api.fund('met-a', '100.00');
  });
  afterAll(() => api.close());

  async function scrape(): Promise<Sample[]> {
    const res = await request(api.app).get('/metrics');
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toBe('text/plain; version=0.0.4; charset=utf-8');
    return parseExposition(res.text);
  }

  /** How much each counter moved across `act`. */
  async function across(act: () => Promise<void>): Promise<(name: string, labels?: Record<string, string>) => number> {
    const before = await scrape();
    await act();
    const after = await scrape();
    return (name, labels = {}) => total(after, name, labels) - total(before, name, labels);
  }

  const transferRequest = { sourceAccount: 'met-a', destinationAccount: 'met-b' };

  it('counts a committed transfer: its request by route and status, its steps, its events and their appends', async () => {
    let id = '';
    const delta = await across(async () => {
      const res = await request(api.app)
        .post('/v1/transfers')
        .set('Prefer', 'wait=20')
        .send({ ...transferRequest, amount: '10.00' });
      expect({ status: res.status, transfer: res.body.status }).toEqual({ status: 201, transfer: 'COMMITTED' });
      id = res.body.id;
    });
    const posted = { method: 'POST', route: '/v1/transfers', status: '201' };
    expect(delta('http_request_duration_seconds_count', posted)).toBe(1);
    expect(delta('http_request_duration_seconds_sum', posted)).toBeGreaterThan(0);
    expect(delta('http_request_duration_seconds_bucket', { ...posted, le: '+Inf' })).toBe(1);
    for (const status of ['REQUESTED', 'HELD', 'CREDITED', 'COMMITTED']) {
      expect({ status, delta: delta('ledger_transfers_total', { status, reason: 'none' }) }).toEqual({
        status,
        delta: 1,
      });
    }
    expect(delta('ledger_transfers_total', { status: 'REJECTED' })).toBe(0);
    for (const type of ['TransferRequested', 'FundsHeld', 'FundsCredited', 'FundsDebited', 'TransferCommitted']) {
      expect({ type, delta: delta('ledger_events_appended_total', { type }) }).toEqual({ type, delta: 1 });
    }
    // The request and the transfer process's batch, at least: each an append that succeeded.
    expect(delta('ledger_eventstore_append_duration_seconds_count', { outcome: 'ok' })).toBeGreaterThanOrEqual(2);
    expect(delta('ledger_eventstore_append_duration_seconds_sum', { outcome: 'ok' })).toBeGreaterThan(0);

    const read = await across(async () => {
      expect((await request(api.app).get(`/v1/transfers/${id}`)).status).toBe(200);
    });
    expect(
      read('http_request_duration_seconds_count', { method: 'GET', route: '/v1/transfers/:id', status: '200' }),
    ).toBe(1);
    expect(
      matching(await scrape(), 'http_request_duration_seconds_count').filter((s) => s.labels.route.includes(id)),
    ).toEqual([]);
  });

  it('counts a rejected transfer under its reason', async () => {
    const delta = await across(async () => {
      const res = await request(api.app)
        .post('/v1/transfers')
        .set('Prefer', 'wait=20')
        .send({ ...transferRequest, amount: '1000000.00' });
      expect(res.body).toMatchObject({ status: 'REJECTED', reason: 'INSUFFICIENT_FUNDS' });
    });
    expect(delta('ledger_transfers_total', { status: 'REJECTED', reason: 'INSUFFICIENT_FUNDS' })).toBe(1);
    expect(delta('ledger_transfers_total', { status: 'REQUESTED', reason: 'none' })).toBe(1);
    expect(delta('ledger_transfers_total', { status: 'HELD' })).toBe(0);
    expect(delta('ledger_transfers_total', { status: 'COMMITTED' })).toBe(0);
  });

  it('times an append that conflicts as a conflict, and counts nothing of it', async () => {
    const delta = await across(async () => {
      await expect(
        api.ledger.store.append(
          'account-met-a',
          [{ id: 'f0b4a3a8-6a0b-4c43-9c3c-1d7e2f1b9a10', type: 'AccountFrozen', data: {} }],
          0n,
        ),
      ).rejects.toBeInstanceOf(WrongExpectedRevision);
    });
    expect(delta('ledger_eventstore_append_duration_seconds_count', { operation: 'append', outcome: 'conflict' })).toBe(
      1,
    );
    expect(delta('ledger_eventstore_append_duration_seconds_count', { outcome: 'ok' })).toBe(0);
    expect(delta('ledger_events_appended_total', { type: 'AccountFrozen' })).toBe(0);
  });

  it('labels a path no route matches as unmatched, so raw paths never become labels', async () => {
    const delta = await across(async () => {
      expect((await request(api.app).get('/no/such/path-4711')).status).toBe(404);
    });
    expect(delta('http_request_duration_seconds_count', { method: 'GET', route: 'unmatched', status: '404' })).toBe(1);
    const routes = new Set(matching(await scrape(), 'http_request_duration_seconds_count').map((s) => s.labels.route));
    expect([...routes].filter((r) => r.includes('4711'))).toEqual([]);
  });

  it('shows how far each checkpointed subscriber is behind', async () => {
    await api.sync();
    const samples = await scrape();
    for (const { name } of allProjections) {
      expect({ name, lag: single(samples, 'ledger_projection_lag_positions', { projection: name }) }).toEqual({
        name,
        lag: expect.any(Number),
      });
      expect(single(samples, 'ledger_projection_lag_seconds', { projection: name })).toEqual(expect.any(Number));
    }

    const caughtUp = { process: 'transfer-process' };
    await eventually(async () => {
      const s = await scrape();
      const lag = [
        single(s, 'ledger_transfer_process_lag_positions', caughtUp),
        single(s, 'ledger_transfer_process_lag_seconds', caughtUp),
      ];
      return lag[0] === 0 && lag[1] === 0 ? lag : undefined;
    }, 'the transfer process to be caught up');

    // Stopped, the process falls behind the request written meanwhile, and the lag shows it.
    await api.ledger.stopProcesses();
    const waiting = await request(api.app)
      .post('/v1/transfers')
      .send({ ...transferRequest, amount: '1.00' });
    expect(waiting.status).toBe(202);
    const behind = await eventually(async () => {
      const s = await scrape();
      const positions = single(s, 'ledger_transfer_process_lag_positions', caughtUp) ?? 0;
      const seconds = single(s, 'ledger_transfer_process_lag_seconds', caughtUp) ?? 0;
      return positions >= 1 && seconds > 0 ? { positions, seconds } : undefined;
    }, 'the lag of a stopped transfer process');
    expect(behind.seconds).toBeLessThan(60);

    api.ledger.startProcess();
    await api.ledger.waitForStatus(waiting.body.id, 'COMMITTED');
    await eventually(async () => {
      const s = await scrape();
      return single(s, 'ledger_transfer_process_lag_positions', caughtUp) === 0 ? true : undefined;
    }, 'the restarted transfer process to catch up');
  });

  it("reads a projection's lag from its stored checkpoint, so one that stopped shows it", async () => {
    await api.sync();
    const name = allProjections[0].name;
    const checkpoint = checkpointName(allProjections[0]);
    const { rows } = await api.ledger.db.pool.query<{ position: string }>(
      'select position from ledger_checkpoints where name = $1',
      [checkpoint],
    );
    // As if the projection had stopped at the very start: everything is still to apply.
    await api.ledger.db.pool.query('update ledger_checkpoints set position = 0 where name = $1', [checkpoint]);
    try {
      const samples = await scrape();
      expect(single(samples, 'ledger_projection_lag_positions', { projection: name })).toBe(Number(rows[0].position));
      expect(single(samples, 'ledger_projection_lag_seconds', { projection: name })).toBeGreaterThan(0);
    } finally {
      await api.ledger.db.pool.query('update ledger_checkpoints set position = $2 where name = $1', [
        checkpoint,
        rows[0].position,
      ]);
    }
  });

  it('answers within its time limit when the lag cannot be read, leaving that series out', async () => {
    const hanging: EventStore = Object.assign(Object.create(api.ledger.store) as EventStore, {
      headPosition: () => new Promise<bigint>(() => undefined),
    });
    const watch = watchSubscriberLag({
      store: hanging,
      pool: api.ledger.db.pool,
      logger: testLogger,
      processName: 'stuck-process',
    });
    try {
      const started = Date.now();
      const samples = await scrape();
      expect(Date.now() - started).toBeLessThan(lagSampleTimeoutMs + 1_500);
      expect(single(samples, 'ledger_transfer_process_lag_positions', { process: 'stuck-process' })).toBeUndefined();
      expect(single(samples, 'ledger_transfer_process_lag_positions', { process: 'transfer-process' })).toEqual(
        expect.any(Number),
      );
    } finally {
      watch.stop();
    }
  });

  it("exposes Node's process metrics", async () => {
    const samples = await scrape();
    expect(single(samples, 'process_cpu_seconds_total', {})).toBeGreaterThan(0);
    expect(matching(samples, 'nodejs_eventloop_lag_seconds').length).toBe(1);
  });
});
