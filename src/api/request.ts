/**
 * What every route reads from a request besides its body: the consistency headers
 * (Ledger-Min-Position in, Ledger-Position out), Idempotency-Key and Prefer: wait.
 */
import type { Request, Response } from 'express';
import type { z } from 'zod';
import type { Projection } from '../projections/projection';
import { waitForProjections } from '../projections/consistency';
import { apiKeyOf } from './access';
import type { ApiContext } from './context';
import { ValidationFailed } from './problems';
import { idempotencyKey, minPositionHeader, preferWait } from './schemas';

export const ledgerPositionHeader = 'Ledger-Position';
export const minPositionHeaderName = 'Ledger-Min-Position';
export const idempotencyKeyHeader = 'Idempotency-Key';

function header<S extends z.ZodType>(req: Request, name: string, schema: S): z.output<S> | undefined {
  const value = req.get(name);
  if (value === undefined) return undefined;
  const result = schema.safeParse(value);
  if (!result.success)
    throw new ValidationFailed(result.error.issues.map((issue) => ({ path: name, message: issue.message })));
  return result.data;
}

export function idempotencyKeyOf(req: Request): string | undefined {
  return header(req, idempotencyKeyHeader, idempotencyKey);
}

/**
 * Whose idempotency keys these are: the API key's name, so two callers can never see each
 * other's transfers through a key (and a rotated secret keeps its name's keys); `public`
 * when the API is open.
 */
export function idempotencyScopeOf(req: Request): string {
  return apiKeyOf(req)?.name ?? 'public';
}

/** Seconds the client will wait for a settled outcome (`Prefer: wait=N`), if it asked. */
export function preferredWaitSeconds(req: Request): number | undefined {
  const prefer = req.get('Prefer');
  if (prefer === undefined) return undefined;
  for (const preference of prefer.split(',')) {
    const [name, value = ''] = preference
      .split(';')[0]
      .split('=')
      .map((s) => s.trim());
    if (name.toLowerCase() !== 'wait') continue;
    const result = preferWait.safeParse(value.replace(/^"(.*)"$/, '$1'));
    if (!result.success) throw new ValidationFailed([{ path: 'Prefer', message: result.error.issues[0].message }]);
    return result.data;
  }
  return undefined;
}

/** Read-your-writes: holds a read until these projections have applied Ledger-Min-Position. */
export async function awaitReadModels(
  ctx: ApiContext,
  req: Request,
  projections: readonly Projection[],
): Promise<void> {
  const minPosition = header(req, minPositionHeaderName, minPositionHeader);
  if (minPosition !== undefined) await waitForProjections(ctx.pool, projections, minPosition);
}

export function setLedgerPosition(res: Response, position: bigint): void {
  res.set(ledgerPositionHeader, position.toString());
}
