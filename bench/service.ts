/**
 * The service under load, for the benchmarks that drive it over HTTP (bench:http,
 * bench:bridge): started as `npm start` runs it, its accounts opened and funded, and the
 * event store read to see when the transfers requested have settled.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Pool } from 'pg';
import { freePort } from '../src/net';
import { accountId, fmt, randomInt } from './common';

export const drainLimitMs = 120_000;
const setupConcurrency = 32;
const fundingBatch = 1_000;

export interface Service {
  url: string;
  child: ChildProcess;
}

/** The service as `npm start` runs it (dist/src/main.js), on the scratch database; `env` adds to its environment. */
export async function startService(databaseUrl: string, env: Record<string, string> = {}): Promise<Service> {
  const port = await freePort();
  // BENCH_SERVICE_NODE_ARGS: extra node flags for the service, e.g. --cpu-prof to profile it.
  const nodeArgs = (process.env.BENCH_SERVICE_NODE_ARGS ?? '').split(' ').filter(Boolean);
  const child = spawn(process.execPath, [...nodeArgs, path.join(__dirname, '..', 'src', 'main.js')], {
    env: {
      ...process.env,
      DATABASE_URL: databaseUrl,
      HTTP_HOST: '127.0.0.1',
      HTTP_PORT: String(port),
      PG_POOL_MAX: '20',
      RATE_LIMIT_REQUESTS: '0',
      API_KEYS: '',
      LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn',
      ...env,
    },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  const url = `http://127.0.0.1:${port}`;
  for (let waited = 0; waited < 60_000; waited += 200) {
    if (child.exitCode !== null) throw new Error(`the service exited with ${child.exitCode}`);
    const ready = await fetch(`${url}/health/ready`).then(
      (r) => r.ok,
      () => false,
    );
    if (ready) return { url, child };
    await sleep(200);
  }
  child.kill('SIGKILL');
  throw new Error('the service did not become ready within 60 s');
}

export async function post(url: string, body: unknown, headers: Record<string, string> = {}): Promise<unknown> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  });
  if (res.status >= 300) throw new Error(`POST ${url}: ${res.status} ${await res.text()}`);
  return res.json();
}

/** Opens a funding account, a hot account and `accountCount` others, and funds them all. */
export async function setUp(url: string, pool: Pool, accountCount: number): Promise<void> {
  const started = performance.now();
  await post(`${url}/v1/accounts`, { id: 'funding', currency: 'EUR', overdraft: 'unlimited' });
  await post(`${url}/v1/accounts`, { id: 'hot', currency: 'EUR' });
  let next = 0;
  await Promise.all(
    Array.from({ length: setupConcurrency }, async () => {
      while (next < accountCount) await post(`${url}/v1/accounts`, { id: accountId(next++), currency: 'EUR' });
    }),
  );
  const from = await headPosition(pool);
  const transfers = Array.from({ length: accountCount }, (_, i) => ({
    sourceAccount: 'funding',
    destinationAccount: accountId(i),
    amount: '1000000.00',
  }));
  transfers.push({ sourceAccount: 'funding', destinationAccount: 'hot', amount: '1000000000000.00' });
  for (let i = 0; i < transfers.length; i += fundingBatch) {
    await post(`${url}/v1/transfers/batch`, { transfers: transfers.slice(i, i + fundingBatch) });
  }
  await drained(pool, from);
  console.log(
    `setup: opened and funded ${fmt(accountCount + 1)} accounts in ${((performance.now() - started) / 1000).toFixed(1)} s\n`,
  );
}

/**
 * Moves 0.01 from every account to the next, so a freshly started service has every
 * account in its caches (the transfer process folds an account on first use): otherwise
 * its first seconds measure loading 10,000 account streams, not transfers.
 */
export async function warmUp(url: string, pool: Pool, accountCount: number): Promise<void> {
  const from = await headPosition(pool);
  const transfers = Array.from({ length: accountCount }, (_, i) => ({
    sourceAccount: accountId(i),
    destinationAccount: accountId((i + 1) % accountCount),
    amount: '0.01',
  }));
  for (let i = 0; i < transfers.length; i += fundingBatch) {
    await post(`${url}/v1/transfers/batch`, { transfers: transfers.slice(i, i + fundingBatch) });
  }
  await drained(pool, from);
}

export async function headPosition(pool: Pool): Promise<bigint> {
  const { rows } = await pool.query<{ p: string | null }>('select max(position)::text as p from ledger_events');
  return BigInt(rows[0].p ?? '0');
}

export interface Settled {
  requested: number;
  committed: number;
  terminal: number;
  lastCommitMs: number;
}

async function settledSince(pool: Pool, from: bigint): Promise<Settled> {
  const { rows } = await pool.query<{
    requested: string;
    committed: string;
    terminal: string;
    last_commit: Date | null;
  }>(
    `with requested as (
       select stream_name from ledger_events where position > $1 and type = 'TransferRequested'
     )
     select (select count(*) from requested) as requested,
            count(*) filter (where type = 'TransferCommitted') as committed,
            count(*) as terminal,
            max(created_at) filter (where type = 'TransferCommitted') as last_commit
       from ledger_events
      where position > $1 and type in ('TransferCommitted', 'TransferRejected', 'TransferCancelled')
        and stream_name in (select stream_name from requested)`,
    [from.toString()],
  );
  const r = rows[0];
  return {
    requested: Number(r.requested),
    committed: Number(r.committed),
    terminal: Number(r.terminal),
    lastCommitMs: r.last_commit?.getTime() ?? 0,
  };
}

/** Waits until every transfer requested after `from` is terminal (counting only those transfers). */
export async function drained(pool: Pool, from: bigint): Promise<Settled> {
  const deadline = Date.now() + drainLimitMs;
  for (;;) {
    const s = await settledSince(pool, from);
    if (s.terminal >= s.requested) return s;
    if (Date.now() > deadline)
      throw new Error(`${s.requested - s.terminal} transfers not terminal after ${drainLimitMs / 1000} s`);
    await sleep(100);
  }
}

/** A random transfer among `accountCount` accounts, or from the hot one. */
export function transferBody(
  hot: boolean,
  accountCount: number,
): { sourceAccount: string; destinationAccount: string; amount: string } {
  const to = randomInt(accountCount);
  const from = hot ? 'hot' : accountId((to + 1 + randomInt(accountCount - 1)) % accountCount);
  return { sourceAccount: from, destinationAccount: accountId(to), amount: `${1 + randomInt(100)}.${randomInt(10)}0` };
}
