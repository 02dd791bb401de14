/**
 * The API's queries on the read models (rm_accounts, rm_account_entries, rm_transfers).
 * Pages are keyset pages, newest first, fetched one row long to know whether more follow.
 */
import type { Pool } from 'pg';
import type { JsonObject } from '../domain/events';
import type { TimeCursor } from './cursor';

export interface AccountRow {
  id: string;
  currency: string;
  status: string;
  overdraftKind: string;
  overdraftLimit: bigint | null;
  metadata: JsonObject;
  posted: bigint;
  held: bigint;
  createdAt: Date;
  updatedAt: Date;
  version: bigint;
  position: bigint;
  cursor: TimeCursor;
}

export interface EntryRow {
  transferId: string;
  direction: string;
  amount: bigint;
  balanceAfter: bigint;
  description: string | null;
  at: Date;
  position: bigint;
}

export interface TransferRow {
  id: string;
  sourceAccount: string;
  destinationAccount: string;
  amount: bigint;
  currency: string;
  mode: string;
  status: string;
  reason: string | null;
  description: string | null;
  metadata: JsonObject | null;
  steps: { status: string; at: string }[];
  createdAt: Date;
  updatedAt: Date;
  expiresAt: Date | null;
  position: bigint;
  cursor: TimeCursor;
}

export interface Page<T> {
  rows: T[];
  /** Set when more rows follow the last one. */
  more: boolean;
}

type DbRow = Record<string, unknown>;

/** created_at at full precision, as the cursor keeps it. */
const cursorAt = `to_char(created_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') as cursor_at`;

const big = (v: unknown): bigint => BigInt(v as string);

function page<T>(rows: DbRow[], limit: number, map: (row: DbRow) => T): Page<T> {
  return { rows: rows.slice(0, limit).map(map), more: rows.length > limit };
}

function accountRow(r: DbRow): AccountRow {
  return {
    id: r.id as string,
    currency: r.currency as string,
    status: r.status as string,
    overdraftKind: r.overdraft_kind as string,
    overdraftLimit: r.overdraft_limit === null ? null : big(r.overdraft_limit),
    metadata: r.metadata as JsonObject,
    posted: big(r.posted),
    held: big(r.held),
    createdAt: r.created_at as Date,
    updatedAt: r.updated_at as Date,
    version: big(r.version),
    position: big(r.position),
    cursor: { at: r.cursor_at as string, id: r.id as string },
  };
}

function transferRow(r: DbRow): TransferRow {
  return {
    id: r.id as string,
    sourceAccount: r.source_account as string,
    destinationAccount: r.destination_account as string,
    amount: big(r.amount),
    currency: r.currency as string,
    mode: r.mode as string,
    status: r.status as string,
    reason: r.reason as string | null,
    description: r.description as string | null,
    metadata: r.metadata as JsonObject | null,
    steps: r.steps as { status: string; at: string }[],
    createdAt: r.created_at as Date,
    updatedAt: r.updated_at as Date,
    expiresAt: r.expires_at as Date | null,
    position: big(r.position),
    cursor: { at: r.cursor_at as string, id: r.id as string },
  };
}

export async function findAccount(pool: Pool, id: string): Promise<AccountRow | null> {
  const { rows } = await pool.query<DbRow>(`select *, ${cursorAt} from rm_accounts where id = $1`, [id]);
  return rows.length === 0 ? null : accountRow(rows[0]);
}

export async function listAccounts(pool: Pool, limit: number, after?: TimeCursor): Promise<Page<AccountRow>> {
  const params: unknown[] = [limit + 1];
  let where = '';
  if (after) {
    params.push(after.at, after.id);
    where = 'where (created_at, id) < ($2::timestamptz, $3::text)';
  }
  const { rows } = await pool.query<DbRow>(
    `select *, ${cursorAt} from rm_accounts ${where} order by created_at desc, id desc limit $1`,
    params,
  );
  return page(rows, limit, accountRow);
}

/** An account's statement, newest first, each entry with its transfer's description. */
export async function listEntries(
  pool: Pool,
  accountId: string,
  limit: number,
  beforePosition?: bigint,
): Promise<Page<EntryRow>> {
  const params: unknown[] = [accountId, limit + 1];
  let before = '';
  if (beforePosition !== undefined) {
    params.push(beforePosition.toString());
    before = 'and e.position < $3::bigint';
  }
  const { rows } = await pool.query<DbRow>(
    `select e.transfer_id, e.direction, e.amount, e.balance_after, e.at, e.position, t.description
       from rm_account_entries e left join rm_transfers t on t.id = e.transfer_id
      where e.account_id = $1 ${before}
      order by e.position desc limit $2`,
    params,
  );
  return page(rows, limit, (r) => ({
    transferId: r.transfer_id as string,
    direction: r.direction as string,
    amount: big(r.amount),
    balanceAfter: big(r.balance_after),
    description: r.description as string | null,
    at: r.at as Date,
    position: big(r.position),
  }));
}

export async function findTransfer(pool: Pool, id: string): Promise<TransferRow | null> {
  const { rows } = await pool.query<DbRow>(`select *, ${cursorAt} from rm_transfers where id = $1`, [id]);
  return rows.length === 0 ? null : transferRow(rows[0]);
}

export interface TransferFilter {
  /** Transfers from or to this account. */
  account?: string;
  status?: string;
}

export async function listTransfers(
  pool: Pool,
  filter: TransferFilter,
  limit: number,
  after?: TimeCursor,
): Promise<Page<TransferRow>> {
  const params: unknown[] = [limit + 1];
  const conditions: string[] = [];
  const param = (value: unknown) => `$${params.push(value)}`;
  if (filter.status !== undefined) conditions.push(`status = ${param(filter.status)}`);
  if (after) conditions.push(`(created_at, id) < (${param(after.at)}::timestamptz, ${param(after.id)}::text)`);
  const where = (extra?: string) => {
    const all = extra ? [extra, ...conditions] : conditions;
    return all.length === 0 ? '' : `where ${all.join(' and ')}`;
  };
  const order = 'order by created_at desc, id desc limit $1';
  let sql: string;
  if (filter.account === undefined) {
    sql = `select *, ${cursorAt} from rm_transfers ${where()} ${order}`;
  } else {
    // One index range per side (source, destination) instead of an OR that has to sort everything.
    const account = param(filter.account);
    sql = `select * from (
             (select *, ${cursorAt} from rm_transfers ${where(`source_account = ${account}`)} ${order})
             union all
             (select *, ${cursorAt} from rm_transfers ${where(`destination_account = ${account}`)} ${order})
           ) both_sides ${order}`;
  }
  const { rows } = await pool.query<DbRow>(sql, params);
  return page(rows, limit, transferRow);
}
