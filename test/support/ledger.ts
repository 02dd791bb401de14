import { type AccountState, availableMinor } from '../../src/domain/account';
import type { Overdraft } from '../../src/domain/account';
import { isTerminalTransferStatus, type TransferState } from '../../src/domain/transfer';
import { loadAccount, loadTransfer } from '../../src/commands/aggregates';
import { openAccount } from '../../src/commands/account-commands';
import { TransferCommands } from '../../src/commands/transfer-commands';
import {
  startTransferProcess,
  type RunningTransferProcess,
  type TransferProcessOptions,
} from '../../src/commands/transfer-process';
import { PostgresEventStore } from '../../src/eventstore/postgres';
import type { EventStore } from '../../src/eventstore/port';
import { createLogger } from '../../src/logger';
import { createTestDatabase, type TestDatabase } from './database';

export const testLogger = createLogger(process.env.TEST_LOG_LEVEL ?? 'silent');

/** A ledger on a database of its own: the real store, handlers and transfer process. */
export interface TestLedger {
  db: TestDatabase;
  store: EventStore;
  transfers: TransferCommands;
  clock: { now: Date };
  startProcess(overrides?: Partial<TransferProcessOptions>): RunningTransferProcess;
  /** Stops every transfer process started so far. */
  stopProcesses(): Promise<void>;
  open(accountId: string, currency?: string, overdraft?: Overdraft): Promise<void>;
  /** Opens a funding account (unlimited overdraft) if needed and moves `amountMinor` from it. */
  fund(accountId: string, amountMinor: bigint, currency?: string): Promise<void>;
  account(accountId: string): Promise<AccountState>;
  available(accountId: string): Promise<bigint>;
  waitForTerminal(transferIds: string[], timeoutMs?: number): Promise<Map<string, TransferState>>;
  waitForStatus(transferId: string, status: TransferState['status'], timeoutMs?: number): Promise<TransferState>;
  close(): Promise<void>;
}

export async function createTestLedger(
  options: { store?: (pg: PostgresEventStore) => EventStore } = {},
): Promise<TestLedger> {
  const db = await createTestDatabase(20);
  const pgStore = new PostgresEventStore(db.pool, { pollIntervalMs: 10 });
  const store = options.store ? options.store(pgStore) : pgStore;
  const clock = { now: new Date() };
  const transfers = new TransferCommands(store, { clock: () => clock.now });
  const processes: RunningTransferProcess[] = [];
  let funded = 0;

  const ledger: TestLedger = {
    db,
    store,
    transfers,
    clock,
    startProcess(overrides = {}) {
      const p = startTransferProcess({
        store,
        pool: db.pool,
        logger: testLogger,
        clock: () => clock.now,
        ...overrides,
      });
      processes.push(p);
      return p;
    },
    async stopProcesses() {
      await Promise.all(processes.splice(0).map((p) => p.stop()));
    },
    async open(accountId, currency = 'USD', overdraft = { kind: 'none' }) {
      await openAccount(store, { accountId, currency, overdraft, now: clock.now });
    },
    async fund(accountId, amountMinor, currency = 'USD') {
      const funding = `funding-${currency}`;
      await openAccount(store, { accountId: funding, currency, overdraft: { kind: 'unlimited' }, now: clock.now });
      const t = await transfers.requestTransfer({
        transferId: `fund-${accountId}-${funded++}`,
        sourceAccount: funding,
        destinationAccount: accountId,
        amountMinor,
      });
      const done = await ledger.waitForTerminal([t.transferId]);
      if (done.get(t.transferId)?.status !== 'COMMITTED') throw new Error(`funding ${accountId} did not commit`);
    },
    async account(accountId) {
      return (await loadAccount(store, accountId)).state;
    },
    async available(accountId) {
      return availableMinor(await ledger.account(accountId));
    },
    async waitForTerminal(transferIds, timeoutMs = 20_000) {
      const deadline = Date.now() + timeoutMs;
      const done = new Map<string, TransferState>();
      for (;;) {
        for (const id of transferIds) {
          if (done.has(id)) continue;
          const { state } = await loadTransfer(store, id);
          if (isTerminalTransferStatus(state.status)) done.set(id, state);
        }
        if (done.size === transferIds.length) return done;
        if (Date.now() > deadline)
          throw new Error(`${transferIds.length - done.size} transfers not terminal after ${timeoutMs} ms`);
        await new Promise((r) => setTimeout(r, 20));
      }
    },
    async waitForStatus(transferId, status, timeoutMs = 20_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const { state } = await loadTransfer(store, transferId);
        if (state.status === status) return state;
        if (Date.now() > deadline)
          throw new Error(`transfer ${transferId} is ${state.status}, not ${status}, after ${timeoutMs} ms`);
        await new Promise((r) => setTimeout(r, 20));
      }
    },
    async close() {
      await Promise.all(processes.map((p) => p.stop()));
      await store.close();
      await db.drop();
    },
  };
  return ledger;
}
