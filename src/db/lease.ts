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
export async function tryAcquireLease(db: Pool | PoolClient, name: string, owner: string, ttlMs: number): Promise<boolean> {
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
  const renewer = setInterval(() => {
    tryAcquireLease(pool, name, owner, ttlMs).then(
      (held) => held || lost.abort(new Error(`lease ${name} was lost`)),
      (err: unknown) => lost.abort(err),
    );
  }, renewEveryMs);
  try {
    return await work({ name, owner, lost: lost.signal });
  } finally {
    clearInterval(renewer);
    lost.abort(new Error(`lease ${name} released`));
    await releaseLease(pool, name, owner).catch(() => undefined);
  }
}
