/**
 * The bridge as operators see it, from any instance: who holds it, where its checkpoint
 * is against the head, and what its owner last saw of the broker. Read from PostgreSQL
 * (lease, checkpoint, status row), so the instance asked need not be the one running it.
 */
import type { Pool } from 'pg';
import { loadCheckpoint } from '../db/checkpoints';
import type { EventStore } from '../eventstore/port';
import { bridgeName as name } from './settings';

/** Longest error text kept: a driver's message, never a payload. */
const maxErrorChars = 500;

export interface BrokerState {
  owner: string;
  brokerUp: boolean;
  error?: string;
}

export async function recordBrokerState(pool: Pool, state: BrokerState): Promise<void> {
  await pool.query(
    `insert into ledger_bridge_status as s (name, owner, broker_up, last_error, last_error_at, updated_at)
     values ($1, $2, $3, $4, case when $4::text is null then null else now() end, now())
     on conflict (name) do update set owner = excluded.owner, broker_up = excluded.broker_up, updated_at = now(),
       last_error = coalesce(excluded.last_error, s.last_error),
       last_error_at = coalesce(excluded.last_error_at, s.last_error_at)`,
    [name, state.owner, state.brokerUp, state.error?.slice(0, maxErrorChars) ?? null],
  );
}

export interface BridgeStatus {
  /** Whether some instance holds the bridge's lease now. */
  running: boolean;
  owner: string | null;
  leaseExpiresAt: string | null;
  checkpoint: string;
  head: string;
  lagPositions: string;
  /** Age of the oldest event not yet published; 0 when caught up. */
  lagSeconds: number;
  /** What the owner last saw; null before the bridge has ever produced or failed. */
  brokerUp: boolean | null;
  lastError: string | null;
  lastErrorAt: string | null;
}

export async function readBridgeStatus(pool: Pool, store: EventStore): Promise<BridgeStatus> {
  const [checkpoint, head, lease, status] = await Promise.all([
    loadCheckpoint(pool, name),
    store.headPosition(),
    pool.query<{ owner: string; expires_at: Date }>(
      'select owner, expires_at from ledger_leases where name = $1 and expires_at > now()',
      [name],
    ),
    pool.query<{ broker_up: boolean; last_error: string | null; last_error_at: Date | null }>(
      'select broker_up, last_error, last_error_at from ledger_bridge_status where name = $1',
      [name],
    ),
  ]);
  const behind = head > checkpoint ? head - checkpoint : 0n;
  let lagSeconds = 0;
  if (behind > 0n) {
    const [oldest] = await store.readAll({ after: checkpoint, maxCount: 1 });
    if (oldest !== undefined) lagSeconds = Math.max(0, (Date.now() - oldest.createdAt.getTime()) / 1000);
  }
  const held = lease.rows[0];
  const row = status.rows[0];
  return {
    running: held !== undefined,
    owner: held?.owner ?? null,
    leaseExpiresAt: held?.expires_at.toISOString() ?? null,
    checkpoint: checkpoint.toString(),
    head: head.toString(),
    lagPositions: behind.toString(),
    lagSeconds,
    brokerUp: row?.broker_up ?? null,
    lastError: row?.last_error ?? null,
    lastErrorAt: row?.last_error_at?.toISOString() ?? null,
  };
}
