import { escapeLiteral, type Pool, type PoolClient, type QueryResult } from 'pg';
import { type LeasedWork, runLeased } from '../db/lease';
import type { EventStore, RecordedEvent } from '../eventstore/port';
import type { Logger } from '../logger';
import { liveTables, type Projection, type TableNames } from './projection';

export const projectionBatchSize = 2_000;
/**
 * A projection reads at most every 50 ms while it keeps up. Read at once, its batches are
 * the few events of one append, and every transfer's row is written twice (requested, then
 * settled a few ms later) with every index; 50 ms apart, a transfer settled within that time
 * is written once. Measured in bench:http: about 5-10% more transfers/s over the whole
 * service. Reads that come back full are not held back, so a projection catching up is not slowed.
 */
export const projectionReadIntervalMs = 50;

export function checkpointName(projection: Projection): string {
  return `projection:${projection.name}:v${projection.version}`;
}

export function leaseName(projection: Projection): string {
  return `projection:${projection.name}`;
}

/** The lease a batch must still hold when it commits. */
export interface BatchFence {
  name: string;
  owner: string;
}

/**
 * Claims the batch in one statement: checks the lease (when fenced), locks the checkpoint
 * row, reads what was applied before, and moves the checkpoint forward. Sent together with
 * BEGIN, as literals, so the claim costs one round trip and the transaction takes its id
 * (which holds every event subscriber back until it commits) as late as it can.
 *
 * The commit does not wait for its WAL flush (synchronous_commit off): a read model is
 * derived from the event store, and its rows and checkpoint commit together, so a server
 * crash can only take both back to an earlier batch, which is then applied again. The
 * events themselves are written with the server's durable setting.
 */
function claimSql(checkpoint: string, last: bigint, fence: BatchFence | undefined): string {
  const lit = (s: string) => escapeLiteral(s);
  const held = fence
    ? `exists (select 1 from ledger_leases where name = ${lit(fence.name)} and owner = ${lit(fence.owner)} and expires_at > now())`
    : 'true';
  return `begin;
set local synchronous_commit = off;
with fence as (select ${held} as held),
previous as (select position from ledger_checkpoints where name = ${lit(checkpoint)} for update),
moved as (
  insert into ledger_checkpoints (name, position) select ${lit(checkpoint)}, ${last.toString()} from fence where held
  on conflict (name) do update set position = excluded.position, updated_at = now()
    where ledger_checkpoints.position < excluded.position
  returning 1
)
select (select held from fence) as held, (select position::text from previous) as applied`;
}

/**
 * Applies one batch and moves the checkpoint in the same transaction, so a crash never
 * applies an event twice or skips one. What was applied before is read under the
 * checkpoint row's lock: another owner or a replay's swap may have moved it, and events at
 * or before it are already in the tables. With a fence, a batch commits only while the
 * lease is held (a transaction-pooler-safe fence: a row, not a session lock); a new owner
 * that took the lease meanwhile waits on the checkpoint row and then skips this batch.
 */
export async function applyBatch(
  client: PoolClient,
  projection: Projection,
  events: RecordedEvent[],
  checkpoint: string,
  tables: TableNames,
  fence?: BatchFence,
): Promise<void> {
  const last = events[events.length - 1].position;
  try {
    const results = (await client.query(claimSql(checkpoint, last, fence))) as unknown as QueryResult[];
    const claim = results[results.length - 1].rows[0] as { held: boolean; applied: string | null };
    if (!claim.held) throw new Error(`projection ${projection.name} lost its lease`);
    const applied = claim.applied === null ? 0n : BigInt(claim.applied);
    const fresh = events.filter((e) => e.position > applied && projection.handles(e));
    if (fresh.length > 0) await projection.apply(client, fresh, tables);
    await client.query('commit');
  } catch (err) {
    await client.query('rollback').catch(() => undefined);
    throw err;
  }
}

export type RunningProjection = LeasedWork;

/**
 * Keeps a projection's live tables up to date: one owner at a time (a lease that a standby
 * takes over when the holder dies), batches applied with their checkpoint.
 */
export function startProjection(options: {
  projection: Projection;
  store: EventStore;
  pool: Pool;
  logger: Logger;
  leaseTtlMs?: number;
}): RunningProjection {
  const { projection, store, pool } = options;
  const log = options.logger.child({ component: 'projection', projection: projection.name });
  const checkpoint = checkpointName(projection);
  return runLeased({
    pool,
    name: leaseName(projection),
    leaseTtlMs: options.leaseTtlMs,
    onError: (err, delayMs) => log.error({ err, delayMs }, 'projection failed; restarting from its checkpoint'),
    async start(lease) {
      const { rows } = await pool.query<{ position: string }>(
        'select position from ledger_checkpoints where name = $1',
        [checkpoint],
      );
      const fence: BatchFence = { name: lease.name, owner: lease.owner };
      return store.subscribe({
        after: rows.length === 0 ? 0n : BigInt(rows[0].position),
        maxBatchSize: projectionBatchSize,
        minReadIntervalMs: projectionReadIntervalMs,
        handler: async (events) => {
          const client = await pool.connect();
          try {
            await applyBatch(client, projection, events, checkpoint, liveTables, fence);
          } finally {
            client.release();
          }
        },
      });
    },
  });
}
