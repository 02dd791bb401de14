import type { Pool, PoolClient } from 'pg';
import { Gauge } from 'prom-client';
import { type LeasedWork, runLeased } from '../db/lease';
import type { EventStore, RecordedEvent } from '../eventstore/port';
import type { Logger } from '../logger';
import { liveTables, type Projection, type TableNames } from './projection';

export const projectionBatchSize = 2_000;

const lagPositions = new Gauge({
  name: 'ledger_projection_lag_positions',
  help: 'Event-store positions between the head and what the projection has applied',
  labelNames: ['projection'],
});
const lagSeconds = new Gauge({
  name: 'ledger_projection_lag_seconds',
  help: 'Age of the newest event the projection has applied, while events are waiting; 0 when caught up',
  labelNames: ['projection'],
});

export function checkpointName(projection: Projection): string {
  return `projection:${projection.name}:v${projection.version}`;
}

export function leaseName(projection: Projection): string {
  return `projection:${projection.name}`;
}

/**
 * Applies one batch and moves the checkpoint in the same transaction, so a crash never
 * applies an event twice or skips one. The checkpoint is read again under lock: a replay's
 * swap may have moved it, and events at or before it are already in the tables.
 */
export async function applyBatch(
  client: PoolClient,
  projection: Projection,
  events: RecordedEvent[],
  checkpoint: string,
  tables: TableNames,
  fence?: () => Promise<void>,
): Promise<void> {
  await client.query('begin');
  try {
    await fence?.();
    const { rows } = await client.query<{ position: string }>(
      'select position from ledger_checkpoints where name = $1 for update',
      [checkpoint],
    );
    const applied = rows.length === 0 ? 0n : BigInt(rows[0].position);
    const fresh = events.filter((e) => e.position > applied && projection.handles(e));
    if (fresh.length > 0) await projection.apply(client, fresh, tables);
    const last = events[events.length - 1].position;
    if (last > applied) {
      await client.query(
        `insert into ledger_checkpoints (name, position) values ($1, $2)
         on conflict (name) do update set position = excluded.position, updated_at = now()`,
        [checkpoint, last.toString()],
      );
    }
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
export function startProjection(options: { projection: Projection; store: EventStore; pool: Pool; logger: Logger; leaseTtlMs?: number }): RunningProjection {
  const { projection, store, pool } = options;
  const log = options.logger.child({ component: 'projection', projection: projection.name });
  const checkpoint = checkpointName(projection);
  return runLeased({
    pool,
    name: leaseName(projection),
    leaseTtlMs: options.leaseTtlMs,
    onError: (err, delayMs) => log.error({ err, delayMs }, 'projection failed; restarting from its checkpoint'),
    async start(lease) {
      const { rows } = await pool.query<{ position: string }>('select position from ledger_checkpoints where name = $1', [checkpoint]);
      // A transaction-pooler-safe fence: a batch commits only while this lease is ours.
      const fence = (client: PoolClient) => async () => {
        const held = await client.query(
          'select 1 from ledger_leases where name = $1 and owner = $2 and expires_at > now() for update',
          [lease.name, lease.owner],
        );
        if (held.rowCount !== 1) throw new Error(`projection ${projection.name} lost its lease`);
      };
      return store.subscribe({
        after: rows.length === 0 ? 0n : BigInt(rows[0].position),
        maxBatchSize: projectionBatchSize,
        handler: async (events) => {
          const client = await pool.connect();
          try {
            await applyBatch(client, projection, events, checkpoint, liveTables, fence(client));
          } finally {
            client.release();
          }
          const last = events[events.length - 1];
          const head = await store.headPosition();
          lagPositions.set({ projection: projection.name }, Number(head - last.position));
          lagSeconds.set({ projection: projection.name }, head > last.position ? (Date.now() - last.createdAt.getTime()) / 1000 : 0);
        },
      });
    },
  });
}
