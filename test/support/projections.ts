/**
 * Helpers for the projection tests (test/integration/projections*.int.test.ts): start the
 * read side, wait for it, dump the read-model tables in a stable order, and an independent
 * oracle — the read models as they must be, folded from the event store with the DOMAIN's
 * evolve functions (not the projections' code).
 */
import type { Pool, PoolClient } from 'pg';
import { type AccountState, evolveAccount, initialAccountState } from '../../src/domain/account';
import { parseAccountEvent, parseTransferEvent } from '../../src/domain/events';
import { parseAccountStream, parseTransferStream } from '../../src/domain/streams';
import { evolveTransfer, initialTransferState, type TransferState } from '../../src/domain/transfer';
import { maxReadCount, type RecordedEvent } from '../../src/eventstore/port';
import { allProjections } from '../../src/projections';
import { ProjectionBehind, waitForProjections } from '../../src/projections/consistency';
import { startProjection, type RunningProjection } from '../../src/projections/runner';
import { testLogger, type TestLedger } from './ledger';

export type Row = Record<string, unknown>;

export const readModelTables = ['rm_accounts', 'rm_account_entries', 'rm_transfers'] as const;
export type ReadModelTable = (typeof readModelTables)[number];
export type ReadModels = Record<ReadModelTable, Row[]>;

/** Primary-key order, byte-wise (ids are ASCII), so SQL and JS sort alike. */
const orderBy: Record<ReadModelTable, string> = {
  rm_accounts: 'id collate "C"',
  rm_account_entries: 'account_id collate "C", position',
  rm_transfers: 'id collate "C"',
};

/** Every row of a read-model table (or of its copy `physical`), ordered by primary key. */
export async function dumpTable(
  db: Pool | PoolClient,
  table: ReadModelTable,
  physical: string = table,
): Promise<Row[]> {
  const { rows } = await db.query<Row>(`select * from ${physical} order by ${orderBy[table]}`);
  return rows;
}

/** The three read-model tables; `suffix` reads `<table>__<suffix>` instead. */
export async function dumpReadModels(db: Pool | PoolClient, suffix?: string): Promise<ReadModels> {
  const out = {} as ReadModels;
  for (const table of readModelTables) out[table] = await dumpTable(db, table, suffix ? `${table}__${suffix}` : table);
  return out;
}

/** Both projections, each under its own lease, on the ledger's store and pool. */
export function startReadSide(ledger: TestLedger, leaseTtlMs?: number): { stop(): Promise<void> } {
  const running: RunningProjection[] = allProjections.map((projection) =>
    startProjection({ projection, store: ledger.store, pool: ledger.db.pool, logger: testLogger, leaseTtlMs }),
  );
  return {
    async stop() {
      await Promise.all(running.map((r) => r.stop()));
    },
  };
}

/**
 * The position of the newest event written (committed or not). Not store.headPosition():
 * that is the last position a subscriber may be handed *now*, and it lags behind committed
 * writes while any transaction in the whole PostgreSQL cluster (other test databases
 * included) that started before them is still open.
 */
export async function lastWrittenPosition(pool: Pool): Promise<bigint> {
  const { rows } = await pool.query<{ p: string }>('select coalesce(max(position), 0)::text as p from ledger_events');
  return BigInt(rows[0].p);
}

/** Waits until every projection has applied everything written so far (throws after timeoutMs). */
export async function syncReadSide(ledger: TestLedger, timeoutMs = 20_000): Promise<bigint> {
  const head = await lastWrittenPosition(ledger.db.pool);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await waitForProjections(ledger.db.pool, allProjections, head, Math.max(1, deadline - Date.now()));
    } catch (err) {
      if (!(err instanceof ProjectionBehind) || Date.now() >= deadline) throw err;
    }
  }
}

/** Every event in the store, once readAll hands out everything written so far. */
export async function readAllEvents(ledger: TestLedger, timeoutMs = 20_000): Promise<RecordedEvent[]> {
  const target = await lastWrittenPosition(ledger.db.pool);
  const deadline = Date.now() + timeoutMs;
  const all: RecordedEvent[] = [];
  for (let after = 0n; ;) {
    const page = await ledger.store.readAll({ after, maxCount: maxReadCount });
    all.push(...page);
    if (page.length > 0) after = page[page.length - 1].position;
    if (page.length === maxReadCount) continue;
    if (after >= target) return all;
    if (Date.now() > deadline) throw new Error(`readAll stopped at ${after}, not ${target}`);
    await pause(10);
  }
}

const byText = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/**
 * The read models as invariant 6 wants them: a fold of `events` (everything up to the
 * checkpoint), computed with the domain's evolveAccount / evolveTransfer and shaped as
 * node-postgres returns the rows (bigint as string, timestamptz as Date, jsonb parsed).
 */
export function foldReadModels(events: RecordedEvent[]): ReadModels {
  const accounts = new Map<string, { state: AccountState; updatedAt: Date; version: bigint; position: bigint }>();
  const entries: Row[] = [];
  const transfers = new Map<string, { state: TransferState; version: bigint; position: bigint }>();
  for (const e of events) {
    const accountId = parseAccountStream(e.streamName);
    if (accountId !== null) {
      const event = parseAccountEvent(e);
      const before = accounts.get(accountId)?.state ?? initialAccountState();
      const state = evolveAccount(before, event);
      const at = event.type === 'AccountOpened' ? event.data.openedAt : event.data.at;
      accounts.set(accountId, { state, updatedAt: at, version: e.revision, position: e.position });
      if (event.type === 'FundsCredited' || event.type === 'FundsDebited') {
        entries.push({
          account_id: accountId,
          position: e.position.toString(),
          transfer_id: event.data.transferId,
          direction: event.type === 'FundsCredited' ? 'credit' : 'debit',
          amount: event.data.amountMinor.toString(),
          balance_after: state.postedMinor.toString(),
          at: event.data.at,
        });
      }
      continue;
    }
    const transferId = parseTransferStream(e.streamName);
    if (transferId !== null) {
      const before = transfers.get(transferId)?.state ?? initialTransferState();
      transfers.set(transferId, {
        state: evolveTransfer(before, parseTransferEvent(e)),
        version: e.revision,
        position: e.position,
      });
    }
  }

  const rmAccounts: Row[] = [...accounts].map(([id, { state, updatedAt, version, position }]) => ({
    id,
    currency: state.currency,
    status: state.status,
    overdraft_kind: state.overdraft.kind,
    overdraft_limit: state.overdraft.kind === 'limit' ? state.overdraft.limitMinor.toString() : null,
    metadata: state.metadata,
    posted: state.postedMinor.toString(),
    held: state.heldMinor.toString(),
    created_at: state.openedAt,
    updated_at: updatedAt,
    version: version.toString(),
    position: position.toString(),
  }));
  const rmTransfers: Row[] = [...transfers].map(([id, { state, version, position }]) => {
    const r = state.request!;
    return {
      id,
      source_account: r.sourceAccount,
      destination_account: r.destinationAccount,
      amount: r.amountMinor.toString(),
      currency: r.currency,
      mode: r.mode,
      status: state.status,
      reason: state.reason,
      description: r.description ?? null,
      metadata: r.metadata ?? null,
      committed_amount: state.committedMinor === null ? null : state.committedMinor.toString(),
      steps: state.steps.map((s) => ({ status: s.status, at: s.at.toISOString() })),
      created_at: r.requestedAt,
      updated_at: state.updatedAt,
      expires_at: r.expiresAt ?? null,
      version: version.toString(),
      position: position.toString(),
    };
  });
  rmAccounts.sort((a, b) => byText(a.id as string, b.id as string));
  rmTransfers.sort((a, b) => byText(a.id as string, b.id as string));
  entries.sort(
    (a, b) =>
      byText(a.account_id as string, b.account_id as string) ||
      Number(BigInt(a.position as string) - BigInt(b.position as string)),
  );
  return { rm_accounts: rmAccounts, rm_account_entries: entries, rm_transfers: rmTransfers };
}

/** Waits `ms` milliseconds. */
export const pause = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Polls `probe` until it returns a value other than undefined (throws after timeoutMs). */
export async function eventually<T>(probe: () => Promise<T | undefined>, what: string, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await pause(20);
  }
}
