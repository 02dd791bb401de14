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

/** Who runs the bridge and what it last saw of the broker: the readiness probe needs no more. */
export type BridgeOwnership = Pick<
  BridgeStatus,
  'running' | 'owner' | 'leaseExpiresAt' | 'brokerUp' | 'lastError' | 'lastErrorAt'
>;

/** One round trip: the lease and the status row. */
export async function readBridgeOwnership(pool: Pool): Promise<BridgeOwnership> {
  const { rows } = await pool.query<{
    owner: string | null;
    expires_at: Date | null;
    broker_up: boolean | null;
    last_error: string | null;
    last_error_at: Date | null;
  }>(
    `select l.owner, l.expires_at, s.broker_up, s.last_error, s.last_error_at
       from (select $1::text as name) n
       left join ledger_leases l on l.name = n.name and l.expires_at > now()
       left join ledger_bridge_status s on s.name = n.name`,
    [name],
  );
  const row = rows[0];
  return {
    running: row.owner !== null,
    owner: row.owner,
    leaseExpiresAt: row.expires_at?.toISOString() ?? null,
    brokerUp: row.broker_up,
    lastError: row.last_error,
    lastErrorAt: row.last_error_at?.toISOString() ?? null,
  };
}

export async function readBridgeStatus(pool: Pool, store: EventStore): Promise<BridgeStatus> {
  const [checkpoint, head, ownership] = await Promise.all([
    loadCheckpoint(pool, name),
    store.headPosition(),
    readBridgeOwnership(pool),
  ]);
  const behind = head > checkpoint ? head - checkpoint : 0n;
  let lagSeconds = 0;
  if (behind > 0n) {
    const [oldest] = await store.readAll({ after: checkpoint, maxCount: 1 });
    if (oldest !== undefined) lagSeconds = Math.max(0, (Date.now() - oldest.createdAt.getTime()) / 1000);
  }
  return {
    ...ownership,
    checkpoint: checkpoint.toString(),
    head: head.toString(),
    lagPositions: behind.toString(),
    lagSeconds,
  };
}
