import { setTimeout as sleep } from 'node:timers/promises';
import type { Pool } from 'pg';
import { LedgerError } from '../domain/errors';
import type { Projection } from './projection';
import { checkpointName } from './runner';

export const maxReadYourWritesWaitMs = 5_000;
const pollIntervalMs = 10;

export class ProjectionBehind extends LedgerError {
  constructor(
    readonly minPosition: bigint,
    readonly reached: bigint,
  ) {
    super('PROJECTION_BEHIND', `the read model is at position ${reached}, not yet ${minPosition}`);
  }
}

/** The lowest position all of these projections have applied (0n if one never ran). */
export async function projectionsPosition(pool: Pool, projections: readonly Projection[]): Promise<bigint> {
  const names = projections.map(checkpointName);
  if (names.length === 0) throw new RangeError('no projections to wait for');
  const { rows } = await pool.query<{ name: string; position: string }>(
    'select name, position from ledger_checkpoints where name = any($1)',
    [names],
  );
  if (rows.length < names.length) return 0n;
  return rows.reduce((min, r) => (BigInt(r.position) < min ? BigInt(r.position) : min), BigInt(rows[0].position));
}

/**
 * Read-your-writes: waits (at most `timeoutMs`) until the projections have applied
 * `minPosition`, the position a write returned; throws ProjectionBehind after that.
 */
export async function waitForProjections(
  pool: Pool,
  projections: readonly Projection[],
  minPosition: bigint,
  timeoutMs = maxReadYourWritesWaitMs,
): Promise<bigint> {
  const deadline = Date.now() + Math.min(timeoutMs, maxReadYourWritesWaitMs);
  for (;;) {
    const reached = await projectionsPosition(pool, projections);
    if (reached >= minPosition) return reached;
    if (Date.now() >= deadline) throw new ProjectionBehind(minPosition, reached);
    await sleep(pollIntervalMs);
  }
}
