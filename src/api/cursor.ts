/**
 * Page cursors: base64url JSON of where the last page ended, opaque to clients. Lists
 * ordered by (created_at, id) carry both; the statement carries an event position. The
 * time keeps PostgreSQL's microseconds, so a cursor never skips or repeats a row.
 */
import { z } from 'zod';
import { ValidationFailed } from './problems';

export type CursorKind = 'accounts' | 'transfers' | 'entries';

export interface TimeCursor {
  /** created_at as PostgreSQL prints it, microseconds included (UTC). */
  at: string;
  id: string;
}

const timeCursor = z.strictObject({
  k: z.enum(['accounts', 'transfers']),
  // Year 0 is a valid RFC 3339 date but not a PostgreSQL timestamp.
  at: z.iso.datetime().refine((at) => new Date(at).getUTCFullYear() >= 1),
  id: z.string().min(1).max(64),
});
const positionCursor = z.strictObject({
  k: z.literal('entries'),
  p: z
    .string()
    .regex(/^(0|[1-9][0-9]{0,18})$/)
    .refine((p) => BigInt(p) <= 2n ** 63n - 1n),
});

function encode(value: object): string {
  return Buffer.from(JSON.stringify(value), 'utf8').toString('base64url');
}

function decode(cursor: string): unknown {
  try {
    if (!/^[A-Za-z0-9_-]+$/.test(cursor)) return undefined;
    return JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    return undefined;
  }
}

const invalid = () => new ValidationFailed([{ path: 'cursor', message: 'is not a cursor of this list' }]);

export function encodeTimeCursor(kind: 'accounts' | 'transfers', at: TimeCursor): string {
  return encode({ k: kind, at: at.at, id: at.id });
}

export function decodeTimeCursor(kind: 'accounts' | 'transfers', cursor: string): TimeCursor {
  const parsed = timeCursor.safeParse(decode(cursor));
  if (!parsed.success || parsed.data.k !== kind) throw invalid();
  return { at: parsed.data.at, id: parsed.data.id };
}

export function encodePositionCursor(position: bigint): string {
  return encode({ k: 'entries', p: position.toString() });
}

export function decodePositionCursor(cursor: string): bigint {
  const parsed = positionCursor.safeParse(decode(cursor));
  if (!parsed.success) throw invalid();
  return BigInt(parsed.data.p);
}
