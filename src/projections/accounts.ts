import type { PoolClient } from 'pg';
import { balanceChange } from '../domain/account';
import { parseAccountEvent, type JsonObject } from '../domain/events';
import { parseAccountStream } from '../domain/streams';
import type { RecordedEvent } from '../eventstore/port';
import type { Projection, TableNames } from './projection';

interface AccountRow {
  id: string;
  currency: string;
  status: string;
  overdraft_kind: string;
  overdraft_limit: bigint | null;
  metadata: JsonObject;
  posted: bigint;
  held: bigint;
  created_at: Date;
  updated_at: Date;
  version: bigint;
  position: bigint;
}

interface EntryRow {
  account_id: string;
  position: bigint;
  transfer_id: string;
  direction: 'debit' | 'credit';
  amount: bigint;
  balance_after: bigint;
  at: Date;
}

/** Accounts with their balances, and each account's statement (one entry per debit or credit). */
export const accountsProjection: Projection = {
  name: 'accounts',
  version: 1,
  tables: ['rm_accounts', 'rm_account_entries'],

  handles: (event) => parseAccountStream(event.streamName) !== null,

  async apply(tx: PoolClient, events: RecordedEvent[], t: TableNames): Promise<void> {
    const ids = [...new Set(events.map((e) => parseAccountStream(e.streamName)!))];
    if (ids.length === 0) return;
    const { rows } = await tx.query<Record<keyof AccountRow, unknown>>(
      `select * from ${t('rm_accounts')} where id = any($1)`,
      [ids],
    );
    const accounts = new Map<string, AccountRow>(rows.map((r) => [r.id as string, fromDb(r)]));
    const changed = new Set<string>();
    const entries: EntryRow[] = [];

    for (const recorded of events) {
      const id = parseAccountStream(recorded.streamName)!;
      const current = accounts.get(id);
      if (current && recorded.position <= current.position) continue;
      const event = parseAccountEvent(recorded);
      let row: AccountRow;
      if (event.type === 'AccountOpened') {
        const { currency, overdraft, metadata, openedAt } = event.data;
        row = {
          id,
          currency,
          status: 'open',
          overdraft_kind: overdraft.kind,
          overdraft_limit: overdraft.kind === 'limit' ? overdraft.limitMinor : null,
          metadata,
          posted: 0n,
          held: 0n,
          created_at: openedAt,
          updated_at: openedAt,
          version: 0n,
          position: 0n,
        };
      } else {
        if (!current) throw new Error(`account ${id}: ${event.type} at ${recorded.position} before AccountOpened`);
        row = { ...current };
        const change = balanceChange(event);
        row.posted += change.posted;
        row.held += change.held;
        switch (event.type) {
          case 'FundsDebited':
          case 'FundsCredited':
            entries.push(
              entry(
                row,
                recorded,
                event.data.transferId,
                event.type === 'FundsDebited' ? 'debit' : 'credit',
                event.data.amountMinor,
                event.data.at,
              ),
            );
            break;
          case 'AccountFrozen':
            row.status = 'frozen';
            break;
          case 'AccountUnfrozen':
            row.status = 'open';
            break;
          case 'AccountClosed':
            row.status = 'closed';
            break;
          case 'FundsHeld':
          case 'HoldReleased':
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
      accounts.set(id, row);
      changed.add(id);
    }

    const out = [...changed].map((id) => accounts.get(id)!);
    if (out.length > 0) {
      await tx.query(
        `insert into ${t('rm_accounts')} as a (id, currency, status, overdraft_kind, overdraft_limit, metadata, posted, held,
                                              created_at, updated_at, version, position)
         select * from unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bigint[], $6::jsonb[], $7::bigint[],
                              $8::bigint[], $9::timestamptz[], $10::timestamptz[], $11::bigint[], $12::bigint[])
         on conflict (id) do update set status = excluded.status, posted = excluded.posted, held = excluded.held,
           updated_at = excluded.updated_at, version = excluded.version, position = excluded.position
         where a.position < excluded.position`,
        [
          out.map((r) => r.id),
          out.map((r) => r.currency),
          out.map((r) => r.status),
          out.map((r) => r.overdraft_kind),
          out.map((r) => r.overdraft_limit?.toString() ?? null),
          out.map((r) => JSON.stringify(r.metadata)),
          out.map((r) => r.posted.toString()),
          out.map((r) => r.held.toString()),
          out.map((r) => r.created_at.toISOString()),
          out.map((r) => r.updated_at.toISOString()),
          out.map((r) => r.version.toString()),
          out.map((r) => r.position.toString()),
        ],
      );
    }
    if (entries.length > 0) {
      await tx.query(
        `insert into ${t('rm_account_entries')} (account_id, position, transfer_id, direction, amount, balance_after, at)
         select * from unnest($1::text[], $2::bigint[], $3::text[], $4::text[], $5::bigint[], $6::bigint[], $7::timestamptz[])
         on conflict (account_id, position) do nothing`,
        [
          entries.map((e) => e.account_id),
          entries.map((e) => e.position.toString()),
          entries.map((e) => e.transfer_id),
          entries.map((e) => e.direction),
          entries.map((e) => e.amount.toString()),
          entries.map((e) => e.balance_after.toString()),
          entries.map((e) => e.at.toISOString()),
        ],
      );
    }
  },
};

function entry(
  row: AccountRow,
  e: RecordedEvent,
  transferId: string,
  direction: 'debit' | 'credit',
  amount: bigint,
  at: Date,
): EntryRow {
  return {
    account_id: row.id,
    position: e.position,
    transfer_id: transferId,
    direction,
    amount,
    balance_after: row.posted,
    at,
  };
}

function fromDb(r: Record<keyof AccountRow, unknown>): AccountRow {
  return {
    id: r.id as string,
    currency: r.currency as string,
    status: r.status as string,
    overdraft_kind: r.overdraft_kind as string,
    overdraft_limit: r.overdraft_limit === null ? null : BigInt(r.overdraft_limit as string),
    metadata: r.metadata as JsonObject,
    posted: BigInt(r.posted as string),
    held: BigInt(r.held as string),
    created_at: r.created_at as Date,
    updated_at: r.updated_at as Date,
    version: BigInt(r.version as string),
    position: BigInt(r.position as string),
  };
}
