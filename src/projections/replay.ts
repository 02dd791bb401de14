import type { Pool, PoolClient } from 'pg';
import type { EventStore, RecordedEvent } from '../eventstore/port';
import type { Projection, TableNames } from './projection';
import { applyBatch, checkpointName, leaseName } from './runner';
import { tryAcquireLease } from '../db/lease';
import { inTransaction } from '../db/transaction';

export const replayBatchSize = 5_000;
/** A replay that dies leaves its lease for this long; another can then resume its work. */
export const defaultReplayLeaseTtlMs = 30_000;
/** A verify is not renewed while it runs, so its lease lasts as long as a verify may take. */
const verifyLeaseTtlMs = 600_000;
/** Events behind the head at which a rebuild stops catching up and swaps (the rest is done under lock). */
const swapWhenBehindEvents = 5_000;
const swapLockTimeoutMs = 10_000;

export interface ReplayProgress {
  projection: string;
  done: number;
  /** Events between the start and the head, as known at the last look. */
  total: number;
  position: bigint;
}

const suffixed =
  (suffix: string): TableNames =>
  (table) =>
    `${table}__${suffix}`;

function rebuildCheckpoint(projection: Projection, suffix: string): string {
  return `${suffix}:${projection.name}:v${projection.version}`;
}

async function tablesExist(pool: Pool, names: string[]): Promise<boolean> {
  const { rows } = await pool.query<{ n: string }>('select count(*) as n from pg_tables where tablename = any($1)', [
    names,
  ]);
  return Number(rows[0].n) === names.length;
}

/**
 * Copies of the live tables under a suffix: the same columns and constraints (the primary
 * key the projections upsert on), but no secondary index yet: filling an index row by row
 * costs far more than building it once over the filled table (`buildIndexes`). With
 * `resume`, tables and checkpoint left by an earlier run are kept, so a killed rebuild goes
 * on where it stopped.
 */
async function prepareTables(pool: Pool, projection: Projection, suffix: string, resume: boolean): Promise<bigint> {
  const t = suffixed(suffix);
  const name = rebuildCheckpoint(projection, suffix);
  if (resume && (await tablesExist(pool, projection.tables.map(t)))) {
    const { rows } = await pool.query<{ position: string }>('select position from ledger_checkpoints where name = $1', [
      name,
    ]);
    if (rows.length === 1) return BigInt(rows[0].position);
  }
  await inTransaction(pool, async (client) => {
    for (const table of projection.tables) {
      await client.query(`drop table if exists ${t(table)}`);
      await client.query(`create table ${t(table)} (like ${table} including all excluding indexes)`);
      const { rows } = await client.query<{ definition: string }>(
        `select pg_get_constraintdef(oid) as definition from pg_constraint
          where conrelid = $1::regclass and contype in ('p', 'u') order by conname`,
        [table],
      );
      for (const c of rows) await client.query(`alter table ${t(table)} add ${c.definition}`);
    }
    await client.query('delete from ledger_checkpoints where name = $1', [name]);
  });
  return 0n;
}

/** `CREATE INDEX ... ON table USING ...` without name and table: what an index is. */
async function indexShapes(client: PoolClient, table: string): Promise<string[]> {
  const { rows } = await client.query<{ definition: string }>(
    `select pg_get_indexdef(i.indexrelid) as definition from pg_index i
      where i.indrelid = $1::regclass and not exists (select 1 from pg_constraint c where c.conindid = i.indexrelid)`,
    [table],
  );
  return rows.map((r) => {
    const using = r.definition.indexOf(' USING ');
    if (using < 0) throw new Error(`cannot read the index ${r.definition}`);
    return `${r.definition.startsWith('CREATE UNIQUE') ? 'unique ' : ''}index on %s${r.definition.slice(using)}`;
  });
}

/** Gives the rebuilt tables the live tables' secondary indexes they do not have yet. */
async function buildIndexes(client: PoolClient, projection: Projection, suffix: string): Promise<void> {
  const t = suffixed(suffix);
  for (const table of projection.tables) {
    const built = new Set(await indexShapes(client, t(table)));
    for (const shape of await indexShapes(client, table)) {
      if (!built.has(shape)) await client.query(`create ${shape.replace('%s', t(table))}`);
    }
  }
}

/** Applies every event after `after` up to `until` (or the head) to the suffixed tables. */
async function catchUp(
  store: EventStore,
  client: PoolClient,
  projection: Projection,
  suffix: string,
  after: bigint,
  until: bigint | undefined,
  onBatch: (events: RecordedEvent[]) => void | Promise<void>,
): Promise<bigint> {
  let position = after;
  for (;;) {
    let events = await store.readAll({ after: position, maxCount: replayBatchSize });
    if (until !== undefined) events = events.filter((e) => e.position <= until);
    if (events.length === 0) return position;
    await applyBatch(client, projection, events, rebuildCheckpoint(projection, suffix), suffixed(suffix));
    position = events[events.length - 1].position;
    await onBatch(events);
  }
}

/**
 * Inside the caller's transaction, applies the events in (after, until] to the suffixed
 * tables without touching any checkpoint; returns where it stopped.
 */
async function applyRange(
  store: EventStore,
  client: PoolClient,
  projection: Projection,
  tables: TableNames,
  after: bigint,
  until: bigint,
  report: (events: RecordedEvent[]) => void,
): Promise<bigint> {
  let position = after;
  while (position < until) {
    const events = (await store.readAll({ after: position, maxCount: replayBatchSize })).filter(
      (e) => e.position <= until,
    );
    if (events.length === 0) break;
    const fresh = events.filter((e) => projection.handles(e));
    if (fresh.length > 0) await projection.apply(client, fresh, tables);
    position = events[events.length - 1].position;
    report(events);
  }
  return position;
}

async function countAfter(store: EventStore, after: bigint): Promise<number> {
  const head = await store.headPosition();
  return head > after ? Number(head - after) : 0;
}

/**
 * Rebuilds a projection from position 0 into `<table>__next` while the live tables keep
 * serving, then swaps them in one short transaction that holds the projection's lease row,
 * so the live runner pauses for exactly that long. Resumable: a killed rebuild continues.
 */
export async function replayProjection(
  store: EventStore,
  pool: Pool,
  projection: Projection,
  onProgress: (p: ReplayProgress) => void = () => undefined,
  options: { leaseTtlMs?: number } = {},
): Promise<ReplayProgress> {
  const suffix = 'next';
  const replayLease = `replay:${projection.name}`;
  const owner = `replay-${process.pid}-${Date.now()}`;
  const leaseTtlMs = options.leaseTtlMs ?? defaultReplayLeaseTtlMs;
  if (!(await tryAcquireLease(pool, replayLease, owner, leaseTtlMs))) {
    throw new Error(
      `another replay of ${projection.name} is running (or one died less than ${leaseTtlMs / 1000} s ago)`,
    );
  }
  const client = await pool.connect();
  try {
    const start = await prepareTables(pool, projection, suffix, true);
    const progress: ReplayProgress = {
      projection: projection.name,
      done: 0,
      total: await countAfter(store, 0n),
      position: start,
    };
    progress.done = Number(start);
    const report = (events: RecordedEvent[]) => {
      progress.done += events.length;
      progress.position = events[events.length - 1].position;
      onProgress(progress);
    };
    const renewLease = async (events: RecordedEvent[]) => {
      report(events);
      if (!(await tryAcquireLease(pool, replayLease, owner, leaseTtlMs)))
        throw new Error(`replay of ${projection.name} lost its lease`);
    };
    let position = start;
    for (;;) {
      position = await catchUp(store, client, projection, suffix, position, undefined, renewLease);
      progress.total = Math.max(progress.total, progress.done + (await countAfter(store, position)));
      if ((await countAfter(store, position)) <= swapWhenBehindEvents) break;
    }
    await buildIndexes(client, projection, suffix);
    await swapIn(store, client, projection, suffix, position, report);
    return progress;
  } finally {
    client.release();
    await pool
      .query('delete from ledger_leases where name = $1 and owner = $2', [replayLease, owner])
      .catch(() => undefined);
  }
}

async function swapIn(
  store: EventStore,
  client: PoolClient,
  projection: Projection,
  suffix: string,
  rebuiltTo: bigint,
  report: (events: RecordedEvent[]) => void,
): Promise<void> {
  const t = suffixed(suffix);
  const live = checkpointName(projection);
  await client.query('begin');
  try {
    await client.query(`set local lock_timeout = ${swapLockTimeoutMs}`);
    await client.query(
      `insert into ledger_leases (name, owner, expires_at) values ($1, 'nobody', now()) on conflict (name) do nothing`,
      [leaseName(projection)],
    );
    await client.query('select 1 from ledger_leases where name = $1 for update', [leaseName(projection)]);
    // The live runner's batches lock the checkpoint row first (then the tables): while we hold
    // it, the live tables stand still, and taking it before the tables, as they do, no
    // batch and this swap can wait on each other. A missing row is made (at 0: nothing applied).
    await client.query(`insert into ledger_checkpoints (name, position) values ($1, 0) on conflict (name) do nothing`, [
      live,
    ]);
    const { rows } = await client.query<{ position: string }>(
      'select position from ledger_checkpoints where name = $1 for update',
      [live],
    );
    const liveAt = BigInt(rows[0].position);
    // Bring the copy exactly to the live checkpoint (or keep it ahead, if the live runner lags).
    const position = await applyRange(store, client, projection, t, rebuiltTo, liveAt, report);
    const stamp = Date.now().toString(36);
    for (const table of projection.tables) {
      await client.query(`alter table ${table} rename to ${table}__old_${stamp}`);
      await client.query(`alter table ${t(table)} rename to ${table}`);
    }
    for (const table of [...projection.tables].reverse()) await client.query(`drop table ${table}__old_${stamp}`);
    await client.query(
      `insert into ledger_checkpoints (name, position) values ($1, $2)
       on conflict (name) do update set position = excluded.position, updated_at = now()`,
      [live, (position > liveAt ? position : liveAt).toString()],
    );
    await client.query('delete from ledger_checkpoints where name = $1', [rebuildCheckpoint(projection, suffix)]);
    await client.query('commit');
  } catch (err) {
    await client.query('rollback').catch(() => undefined);
    throw err;
  }
}

export interface TableDifference {
  table: string;
  /** 'live' rows missing from the rebuild, or 'rebuilt' rows missing from the live table. */
  only: 'live' | 'rebuilt';
  row: Record<string, unknown>;
}

export const maxReportedDifferences = 1_000;

/**
 * Rebuilds into scratch tables, brings them to exactly the live checkpoint while holding
 * the live tables still, and lists every row that differs. Changes nothing live.
 */
export async function verifyProjection(
  store: EventStore,
  pool: Pool,
  projection: Projection,
  onProgress: (p: ReplayProgress) => void = () => undefined,
): Promise<TableDifference[]> {
  const suffix = 'verify';
  const t = suffixed(suffix);
  // Verifies of one projection share the scratch tables: one at a time.
  const verifyLease = `verify:${projection.name}`;
  const owner = `verify-${process.pid}-${Date.now()}`;
  if (!(await tryAcquireLease(pool, verifyLease, owner, verifyLeaseTtlMs))) {
    throw new Error(
      `another verify of ${projection.name} is running (or one died less than ${verifyLeaseTtlMs / 60_000} min ago)`,
    );
  }
  await prepareTables(pool, projection, suffix, false);
  const client = await pool.connect();
  try {
    const progress: ReplayProgress = {
      projection: projection.name,
      done: 0,
      total: await countAfter(store, 0n),
      position: 0n,
    };
    const report = (events: RecordedEvent[]) => {
      progress.done += events.length;
      progress.position = events[events.length - 1].position;
      onProgress(progress);
    };
    const { rows } = await pool.query<{ position: string }>('select position from ledger_checkpoints where name = $1', [
      checkpointName(projection),
    ]);
    const liveAtStart = rows.length === 0 ? 0n : BigInt(rows[0].position);
    const rebuilt = await catchUp(store, client, projection, suffix, 0n, liveAtStart, report);

    await client.query('begin');
    try {
      await client.query(`set local lock_timeout = ${swapLockTimeoutMs}`);
      await client.query('select 1 from ledger_leases where name = $1 for update', [leaseName(projection)]);
      const now = await client.query<{ position: string }>('select position from ledger_checkpoints where name = $1', [
        checkpointName(projection),
      ]);
      const liveAt = now.rows.length === 0 ? 0n : BigInt(now.rows[0].position);
      await applyRange(store, client, projection, t, rebuilt, liveAt, report);
      const differences: TableDifference[] = [];
      for (const table of projection.tables) {
        for (const [only, a, b] of [
          ['live', table, t(table)],
          ['rebuilt', t(table), table],
        ] as const) {
          const diff = await client.query(
            `select * from ${a} except select * from ${b} limit ${maxReportedDifferences}`,
          );
          for (const row of diff.rows) differences.push({ table, only, row });
        }
      }
      await client.query('rollback');
      return differences;
    } catch (err) {
      await client.query('rollback').catch(() => undefined);
      throw err;
    }
  } finally {
    client.release();
    for (const table of [...projection.tables].reverse()) await pool.query(`drop table if exists ${t(table)}`);
    await pool.query('delete from ledger_checkpoints where name = $1', [rebuildCheckpoint(projection, suffix)]);
    await pool.query('delete from ledger_leases where name = $1 and owner = $2', [verifyLease, owner]);
  }
}
