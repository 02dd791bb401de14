import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Pool, PoolClient } from 'pg';

export const defaultLeaseTtlMs = 10_000;

export interface Lease {
  readonly name: string;
  readonly owner: string;
  /** Aborted when the lease is lost (not renewed in time) or released. */
  readonly lost: AbortSignal;
}

/** Takes or renews the lease; true when `owner` holds it afterwards. */
export async function tryAcquireLease(
  db: Pool | PoolClient,
  name: string,
  owner: string,
  ttlMs: number,
): Promise<boolean> {
  const { rows } = await db.query(
    `insert into ledger_leases (name, owner, expires_at) values ($1, $2, now() + $3::int * interval '1 millisecond')
     on conflict (name) do update set owner = excluded.owner, expires_at = excluded.expires_at
       where ledger_leases.owner = excluded.owner or ledger_leases.expires_at < now()
     returning owner`,
    [name, owner, ttlMs],
  );
  return rows.length === 1;
}

export async function releaseLease(db: Pool | PoolClient, name: string, owner: string): Promise<void> {
  await db.query('delete from ledger_leases where name = $1 and owner = $2', [name, owner]);
}

/**
 * Waits for the lease, runs `work` while renewing it every third of its lifetime, and
 * aborts `lease.lost` if a renewal fails; `work` must stop when that signal fires.
 */
export async function withLease<T>(
  pool: Pool,
  name: string,
  work: (lease: Lease) => Promise<T>,
  options: { ttlMs?: number; stop?: AbortSignal; owner?: string } = {},
): Promise<T | undefined> {
  const ttlMs = options.ttlMs ?? defaultLeaseTtlMs;
  const owner = options.owner ?? randomUUID();
  const renewEveryMs = Math.max(10, Math.floor(ttlMs / 3));
  while (!(await tryAcquireLease(pool, name, owner, ttlMs))) {
    if (options.stop?.aborted) return undefined;
    await sleep(renewEveryMs, undefined, { signal: options.stop }).catch(() => undefined);
  }
  const lost = new AbortController();
  let renewal: Promise<unknown> = Promise.resolve();
  const renewer = setInterval(() => {
    renewal = tryAcquireLease(pool, name, owner, ttlMs).then(
      (held) => held || lost.abort(new Error(`lease ${name} was lost`)),
      (err: unknown) => lost.abort(err),
    );
  }, renewEveryMs);
  try {
    return await work({ name, owner, lost: lost.signal });
  } finally {
    clearInterval(renewer);
    // A renewal still in flight would re-create the row after the release below.
    await renewal;
    lost.abort(new Error(`lease ${name} released`));
    await releaseLease(pool, name, owner).catch(() => undefined);
  }
}

export interface LeasedWork {
  stop(): Promise<void>;
  /** Settles when stopped; rejects with the first error when `restartOnError` is false. */
  readonly done: Promise<void>;
}

const restartBackoffMs = { first: 100, max: 5_000 };

/**
 * Runs a subscriber that must have one owner at a time: waits for the lease, starts the
 * subscription, and ends it when the lease is lost or `stop()` is called. After an error
 * it starts again from scratch (the subscriber resumes from its checkpoint), with backoff,
 * unless `restartOnError` is false.
 */
export function runLeased(options: {
  pool: Pool;
  name: string;
  onError: (err: unknown, delayMs: number) => void;
  restartOnError?: boolean;
  leaseTtlMs?: number;
  /** `stop` is aborted when stop() is called, for work that waits before it can return. */
  start: (lease: Lease, stop: AbortSignal) => Promise<{ stop(): Promise<void>; readonly done: Promise<void> }>;
}): LeasedWork {
  const stopping = new AbortController();
  const runOnce = () =>
    withLease(
      options.pool,
      options.name,
      async (lease) => {
        const subscription = await options.start(lease, stopping.signal);
        const end = () => void subscription.stop();
        lease.lost.addEventListener('abort', end, { once: true });
        stopping.signal.addEventListener('abort', end, { once: true });
        // Either may have fired while `start` ran, before anyone listened.
        if (lease.lost.aborted || stopping.signal.aborted) end();
        try {
          await subscription.done;
        } finally {
          lease.lost.removeEventListener('abort', end);
          stopping.signal.removeEventListener('abort', end);
        }
        if (lease.lost.aborted && !stopping.signal.aborted) throw new Error(`${options.name} lost its lease`);
      },
      { stop: stopping.signal, ttlMs: options.leaseTtlMs },
    );

  const done = (async () => {
    for (let failures = 0; !stopping.signal.aborted;) {
      try {
        await runOnce();
        failures = 0;
      } catch (err) {
        if (stopping.signal.aborted) return;
        if (options.restartOnError === false) throw err;
        failures++;
        const delayMs = Math.min(restartBackoffMs.max, restartBackoffMs.first * 2 ** Math.min(failures, 10));
        options.onError(err, delayMs);
        await sleep(delayMs, undefined, { signal: stopping.signal }).catch(() => undefined);
      }
    }
  })();
  done.catch(() => undefined);
  return {
    done,
    async stop() {
      stopping.abort();
      await done.catch(() => undefined);
    },
  };
}
