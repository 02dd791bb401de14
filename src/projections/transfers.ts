import type { PoolClient } from 'pg';
import { parseTransferEvent, type JsonObject } from '../domain/events';
import { parseTransferStream } from '../domain/streams';
import type { RecordedEvent } from '../eventstore/port';
import type { Projection, TableNames } from './projection';

interface TransferRow {
  id: string;
  source_account: string;
  destination_account: string;
  amount: bigint;
  currency: string;
  mode: string;
  status: string;
  reason: string | null;
  description: string | null;
  metadata: JsonObject | null;
  committed_amount: bigint | null;
  steps: { status: string; at: string }[];
  created_at: Date;
  updated_at: Date;
  expires_at: Date | null;
  version: bigint;
  position: bigint;
}

/** Each column's SQL type, in the order rows are written. */
const columnTypes: Record<keyof TransferRow, string> = {
  id: 'text',
  source_account: 'text',
  destination_account: 'text',
  amount: 'bigint',
  currency: 'text',
  mode: 'text',
  status: 'text',
  reason: 'text',
  description: 'text',
  metadata: 'jsonb',
  committed_amount: 'bigint',
  steps: 'jsonb',
  created_at: 'timestamptz',
  updated_at: 'timestamptz',
  expires_at: 'timestamptz',
  version: 'bigint',
  position: 'bigint',
};
const columns = Object.keys(columnTypes) as (keyof TransferRow)[];

/** Transfers with their status, reason and every step with its time. */
export const transfersProjection: Projection = {
  name: 'transfers',
  version: 1,
  tables: ['rm_transfers'],

  handles: (event) => parseTransferStream(event.streamName) !== null,

  async apply(tx: PoolClient, events: RecordedEvent[], t: TableNames): Promise<void> {
    const ids = [...new Set(events.map((e) => parseTransferStream(e.streamName)!))];
    if (ids.length === 0) return;
    const { rows } = await tx.query<Record<keyof TransferRow, unknown>>(
      `select * from ${t('rm_transfers')} where id = any($1)`,
      [ids],
    );
    const transfers = new Map<string, TransferRow>(rows.map((r) => [r.id as string, fromDb(r)]));
    const changed = new Set<string>();

    for (const recorded of events) {
      const id = parseTransferStream(recorded.streamName)!;
      const current = transfers.get(id);
      if (current && recorded.position <= current.position) continue;
      const event = parseTransferEvent(recorded);
      let row: TransferRow;
      if (event.type === 'TransferRequested') {
        const d = event.data;
        row = {
          id,
          source_account: d.sourceAccount,
          destination_account: d.destinationAccount,
          amount: d.amountMinor,
          currency: d.currency,
          mode: d.mode,
          status: 'REQUESTED',
          reason: null,
          description: d.description ?? null,
          metadata: d.metadata ?? null,
          committed_amount: null,
          steps: [{ status: 'REQUESTED', at: d.requestedAt.toISOString() }],
          created_at: d.requestedAt,
          updated_at: d.requestedAt,
          expires_at: d.expiresAt ?? null,
          version: 0n,
          position: 0n,
        };
      } else {
        if (!current) throw new Error(`transfer ${id}: ${event.type} at ${recorded.position} before TransferRequested`);
        row = { ...current, steps: [...current.steps] };
        const step = (status: string) => {
          row.status = status;
          row.steps.push({ status, at: event.data.at.toISOString() });
        };
        switch (event.type) {
          case 'TransferHeld':
            step('HELD');
            break;
          case 'TransferCommitRequested':
          case 'TransferVoidRequested':
            break;
          case 'TransferCredited':
            step('CREDITED');
            break;
          case 'TransferCommitted':
            row.committed_amount = event.data.amountMinor;
            step('COMMITTED');
            break;
          case 'TransferRejected':
          case 'TransferCancelled':
            row.reason = event.data.reason;
            step(event.type === 'TransferRejected' ? 'REJECTED' : 'CANCELLED');
            break;
          default: {
            const _exhaustive: never = event;
            return _exhaustive;
          }
        }
        row.updated_at = event.data.at;
      }
      row.version = recorded.revision;
      row.position = recorded.position;
      transfers.set(id, row);
      changed.add(id);
    }

    const out = [...changed].map((id) => transfers.get(id)!);
    if (out.length === 0) return;
    const params = columns.map((c) => out.map((r) => toDb(r[c])));
    await tx.query(
      `insert into ${t('rm_transfers')} as t (${columns.join(', ')})
       select * from unnest(${columns.map((c, i) => `$${i + 1}::${columnTypes[c]}[]`).join(', ')})
       on conflict (id) do update set ${columns
         .filter((c) => c !== 'id')
         .map((c) => `${c} = excluded.${c}`)
         .join(', ')}
       where t.position < excluded.position`,
      params,
    );
  },
};

function toDb(value: unknown): unknown {
  if (value === null || value === undefined) return null;
  if (typeof value === 'bigint') return value.toString();
  if (value instanceof Date) return value.toISOString();
  if (typeof value === 'object') return JSON.stringify(value);
  return value;
}

function fromDb(r: Record<keyof TransferRow, unknown>): TransferRow {
  const big = (v: unknown) => (v === null ? null : BigInt(v as string));
  return {
    id: r.id as string,
    source_account: r.source_account as string,
    destination_account: r.destination_account as string,
    amount: BigInt(r.amount as string),
    currency: r.currency as string,
    mode: r.mode as string,
    status: r.status as string,
    reason: r.reason as string | null,
    description: r.description as string | null,
    metadata: r.metadata as JsonObject | null,
    committed_amount: big(r.committed_amount),
    steps: r.steps as { status: string; at: string }[],
    created_at: r.created_at as Date,
    updated_at: r.updated_at as Date,
    expires_at: r.expires_at as Date | null,
    version: BigInt(r.version as string),
    position: BigInt(r.position as string),
  };
}
