/**
 * The read side (src/projections) on PostgreSQL, driven by real flows: the real store,
 * command handlers and transfer process, with the live projection runners.
 *
 * 1. What every event type does to rm_accounts, rm_account_entries and rm_transfers, and
 *    that the whole tables equal an independent fold of the event store (invariant 6).
 * 2. Idempotency: a batch applied twice (through applyBatch, and through projection.apply
 *    directly, bypassing the checkpoint) leaves the tables exactly as they were.
 * 5. balanceAsOf (a point-in-time balance folded from events) agrees with the statement.
 * 6. Read-your-writes: waitForProjections, and ProjectionBehind when the read side is stopped.
 */
import type { PoolClient } from 'pg';
import { closeAccount, freezeAccount, openAccount, unfreezeAccount } from '../../src/commands/account-commands';
import { accountStream, transferStream } from '../../src/domain/streams';
import { allProjections } from '../../src/projections';
import { accountsProjection } from '../../src/projections/accounts';
import { balanceAsOf } from '../../src/projections/balance-as-of';
import { ProjectionBehind, waitForProjections } from '../../src/projections/consistency';
import { liveTables, type Projection, type TableNames } from '../../src/projections/projection';
import { applyBatch } from '../../src/projections/runner';
import { transfersProjection } from '../../src/projections/transfers';
import type { RecordedEvent } from '../../src/eventstore/port';
import { createTestLedger, type TestLedger } from '../support/ledger';
import {
  dumpReadModels,
  foldReadModels,
  readAllEvents,
  readModelTables,
  type Row,
  startReadSide,
  syncReadSide,
} from '../support/projections';

const second = 1_000;

/** The ledger's test clock, moved forward so every step has its own time. */
function advance(ledger: TestLedger, ms = second): Date {
  ledger.clock.now = new Date(ledger.clock.now.getTime() + ms);
  return ledger.clock.now;
}

async function accountRow(ledger: TestLedger, id: string): Promise<Row | undefined> {
  const { rows } = await ledger.db.pool.query<Row>('select * from rm_accounts where id = $1', [id]);
  return rows[0];
}

async function entryRows(ledger: TestLedger, id: string): Promise<Row[]> {
  const { rows } = await ledger.db.pool.query<Row>(
    'select * from rm_account_entries where account_id = $1 order by position',
    [id],
  );
  return rows;
}

async function transferRow(ledger: TestLedger, id: string): Promise<Row | undefined> {
  const { rows } = await ledger.db.pool.query<Row>('select * from rm_transfers where id = $1', [id]);
  return rows[0];
}

async function streamEvents(ledger: TestLedger, stream: string): Promise<RecordedEvent[]> {
  return ledger.store.readStream(stream);
}

async function lastOf(ledger: TestLedger, stream: string): Promise<{ version: string; position: string }> {
  const [last] = await ledger.store.readStream(stream, { direction: 'backwards', maxCount: 1 });
  return { version: last.revision.toString(), position: last.position.toString() };
}

/** Runs `work` with the transfer process stopped; then sets the clock to `restartAt` and starts it again (also when `work` fails). */
async function withProcessStopped(ledger: TestLedger, restartAt: Date, work: () => Promise<void>): Promise<void> {
  await ledger.stopProcesses();
  try {
    await work();
  } finally {
    ledger.clock.now = restartAt;
    ledger.startProcess();
  }
}

const steps = (row: Row | undefined) => (row?.steps as { status: string; at: string }[]).map((s) => [s.status, s.at]);

describe('projections: what each event type does to the read models', () => {
  let ledger: TestLedger;
  let readSide: { stop(): Promise<void> };
  beforeAll(async () => {
    ledger = await createTestLedger();
    ledger.clock.now = new Date('2030-01-01T00:00:00.000Z');
    ledger.startProcess();
    readSide = startReadSide(ledger);
  });
  afterAll(async () => {
    await readSide.stop();
    await ledger.close();
  });

  it('AccountOpened: a row with the attributes, zero balances, version 0 and its position; no entry', async () => {
    const t0 = advance(ledger);
    const metadata = { owner: 'Zoë "Q" O\'Neil', tags: ['a,b', '{c}'], nested: { n: 1.5, ok: true, none: null } };
    const opened = await openAccount(ledger.store, {
      accountId: 'open-eur',
      currency: 'EUR',
      overdraft: { kind: 'limit', limitMinor: 500n },
      metadata,
      now: t0,
    });
    await openAccount(ledger.store, {
      accountId: 'open-unl',
      currency: 'JPY',
      overdraft: { kind: 'unlimited' },
      now: t0,
    });
    await syncReadSide(ledger);
    expect(await accountRow(ledger, 'open-eur')).toEqual({
      id: 'open-eur',
      currency: 'EUR',
      status: 'open',
      overdraft_kind: 'limit',
      overdraft_limit: '500',
      metadata,
      posted: '0',
      held: '0',
      created_at: t0,
      updated_at: t0,
      version: '0',
      position: opened.position.toString(),
    });
    expect(await accountRow(ledger, 'open-unl')).toMatchObject({
      currency: 'JPY',
      overdraft_kind: 'unlimited',
      overdraft_limit: null,
      metadata: {},
    });
    expect(await entryRows(ledger, 'open-eur')).toEqual([]);
  });

  it('immediate transfer: FundsHeld, FundsDebited, FundsCredited and the transfer row with every step', async () => {
    await ledger.open('imm-src');
    await ledger.open('imm-dst');
    const t1 = advance(ledger);
    await ledger.fund('imm-src', 1_000n);
    const t2 = advance(ledger);
    const description = 'rent "March", {flat 3}\\ ü';
    const metadata = { invoice: 'A-1', lines: [1, 2], nested: { ok: true } };
    await ledger.transfers.requestTransfer({
      transferId: 'imm-1',
      sourceAccount: 'imm-src',
      destinationAccount: 'imm-dst',
      amountMinor: 300n,
      description,
      metadata,
    });
    await ledger.waitForTerminal(['imm-1']);
    await syncReadSide(ledger);

    // The source: opened (0), credited by the funding (1), held (2), debited (3).
    expect(await accountRow(ledger, 'imm-src')).toMatchObject({
      posted: '700',
      held: '0',
      status: 'open',
      updated_at: t2,
      ...(await lastOf(ledger, accountStream('imm-src'))),
    });
    expect((await accountRow(ledger, 'imm-src'))?.version).toBe('3');
    const srcEvents = await streamEvents(ledger, accountStream('imm-src'));
    expect(srcEvents.map((e) => e.type)).toEqual(['AccountOpened', 'FundsCredited', 'FundsHeld', 'FundsDebited']);
    const srcEntries = await entryRows(ledger, 'imm-src');
    expect(srcEntries).toEqual([
      {
        account_id: 'imm-src',
        position: srcEvents[1].position.toString(),
        transfer_id: expect.stringMatching(/^fund-imm-src-/),
        direction: 'credit',
        amount: '1000',
        balance_after: '1000',
        at: t1,
      },
      {
        account_id: 'imm-src',
        position: srcEvents[3].position.toString(),
        transfer_id: 'imm-1',
        direction: 'debit',
        amount: '300',
        balance_after: '700',
        at: t2,
      },
    ]);
    expect(await accountRow(ledger, 'imm-dst')).toMatchObject({
      posted: '300',
      held: '0',
      version: '1',
      updated_at: t2,
    });
    expect(await entryRows(ledger, 'imm-dst')).toEqual([
      expect.objectContaining({
        transfer_id: 'imm-1',
        direction: 'credit',
        amount: '300',
        balance_after: '300',
        at: t2,
      }),
    ]);

    const requestedAt = (await streamEvents(ledger, transferStream('imm-1')))[0].data.requestedAt;
    expect(requestedAt).toBe(t2.toISOString());
    expect(await transferRow(ledger, 'imm-1')).toEqual({
      id: 'imm-1',
      source_account: 'imm-src',
      destination_account: 'imm-dst',
      amount: '300',
      currency: 'USD',
      mode: 'immediate',
      status: 'COMMITTED',
      reason: null,
      description,
      metadata,
      committed_amount: '300',
      steps: ['REQUESTED', 'HELD', 'CREDITED', 'COMMITTED'].map((status) => ({ status, at: t2.toISOString() })),
      created_at: t2,
      updated_at: t2,
      expires_at: null,
      version: '3',
      position: (await lastOf(ledger, transferStream('imm-1'))).position,
    });
  });

  it('pending transfer: FundsHeld alone, then TransferCommitRequested alone, then a partial capture (releasedMinor)', async () => {
    await ledger.open('pend-src');
    await ledger.open('pend-dst');
    await ledger.fund('pend-src', 1_000n);
    const t2 = advance(ledger);
    await ledger.transfers.requestTransfer({
      transferId: 'pend-1',
      sourceAccount: 'pend-src',
      destinationAccount: 'pend-dst',
      amountMinor: 600n,
      mode: 'pending',
      timeoutSeconds: 3_600,
    });
    await ledger.waitForStatus('pend-1', 'HELD');
    await syncReadSide(ledger);
    expect(await accountRow(ledger, 'pend-src')).toMatchObject({
      posted: '1000',
      held: '600',
      version: '2',
      updated_at: t2,
    });
    expect(await entryRows(ledger, 'pend-src')).toHaveLength(1); // a hold is no entry
    expect(await transferRow(ledger, 'pend-1')).toMatchObject({
      mode: 'pending',
      status: 'HELD',
      amount: '600',
      committed_amount: null,
      reason: null,
      description: null,
      metadata: null,
      expires_at: new Date(t2.getTime() + 3_600 * second),
      created_at: t2,
      updated_at: t2,
      version: '1',
    });
    expect(steps(await transferRow(ledger, 'pend-1'))).toEqual([
      ['REQUESTED', t2.toISOString()],
      ['HELD', t2.toISOString()],
    ]);

    // The decision alone: the process is stopped, so only TransferCommitRequested is written.
    const t3 = advance(ledger);
    const t4 = new Date(t3.getTime() + second);
    await withProcessStopped(ledger, t4, async () => {
      const decided = await ledger.transfers.commitTransfer('pend-1', 250n);
      await waitForProjections(ledger.db.pool, allProjections, decided.position);
      expect(await transferRow(ledger, 'pend-1')).toMatchObject({
        status: 'HELD',
        committed_amount: null,
        updated_at: t3,
        version: '2',
        position: decided.position.toString(),
      });
      expect(steps(await transferRow(ledger, 'pend-1'))).toEqual([
        ['REQUESTED', t2.toISOString()],
        ['HELD', t2.toISOString()],
      ]);
    });
    await ledger.waitForStatus('pend-1', 'COMMITTED');
    await syncReadSide(ledger);
    const srcEvents = await streamEvents(ledger, accountStream('pend-src'));
    expect(srcEvents[srcEvents.length - 1]).toMatchObject({
      type: 'FundsDebited',
      data: { amountMinor: '250', releasedMinor: '350' },
    });
    expect(await accountRow(ledger, 'pend-src')).toMatchObject({
      posted: '750',
      held: '0',
      version: '3',
      updated_at: t4,
    });
    expect((await entryRows(ledger, 'pend-src')).at(-1)).toMatchObject({
      transfer_id: 'pend-1',
      direction: 'debit',
      amount: '250',
      balance_after: '750',
      at: t4,
    });
    expect(await accountRow(ledger, 'pend-dst')).toMatchObject({ posted: '250', held: '0' });
    expect(await entryRows(ledger, 'pend-dst')).toEqual([
      expect.objectContaining({
        transfer_id: 'pend-1',
        direction: 'credit',
        amount: '250',
        balance_after: '250',
        at: t4,
      }),
    ]);
    expect(await transferRow(ledger, 'pend-1')).toMatchObject({
      status: 'COMMITTED',
      amount: '600',
      committed_amount: '250',
      reason: null,
      updated_at: t4,
      version: '4',
    });
    expect(steps(await transferRow(ledger, 'pend-1'))).toEqual([
      ['REQUESTED', t2.toISOString()],
      ['HELD', t2.toISOString()],
      ['CREDITED', t4.toISOString()],
      ['COMMITTED', t4.toISOString()],
    ]);
  });

  it('void: TransferVoidRequested alone, then HoldReleased and TransferCancelled(VOIDED)', async () => {
    await ledger.open('void-src');
    await ledger.open('void-dst');
    await ledger.fund('void-src', 1_000n);
    const t2 = advance(ledger);
    await ledger.transfers.requestTransfer({
      transferId: 'void-1',
      sourceAccount: 'void-src',
      destinationAccount: 'void-dst',
      amountMinor: 400n,
      mode: 'pending',
    });
    await ledger.waitForStatus('void-1', 'HELD');
    const t3 = advance(ledger);
    const t4 = new Date(t3.getTime() + second);
    await withProcessStopped(ledger, t4, async () => {
      const decided = await ledger.transfers.voidTransfer('void-1');
      await waitForProjections(ledger.db.pool, allProjections, decided.position);
      expect(await transferRow(ledger, 'void-1')).toMatchObject({
        status: 'HELD',
        reason: null,
        updated_at: t3,
        version: '2',
        position: decided.position.toString(),
      });
      expect(await accountRow(ledger, 'void-src')).toMatchObject({ posted: '1000', held: '400' });
    });
    await ledger.waitForStatus('void-1', 'CANCELLED');
    await syncReadSide(ledger);
    expect(await transferRow(ledger, 'void-1')).toMatchObject({
      status: 'CANCELLED',
      reason: 'VOIDED',
      committed_amount: null,
      updated_at: t4,
      version: '3',
    });
    expect(steps(await transferRow(ledger, 'void-1'))).toEqual([
      ['REQUESTED', t2.toISOString()],
      ['HELD', t2.toISOString()],
      ['CANCELLED', t4.toISOString()],
    ]);
    expect(await accountRow(ledger, 'void-src')).toMatchObject({
      posted: '1000',
      held: '0',
      version: '3',
      updated_at: t4,
    });
    expect((await streamEvents(ledger, accountStream('void-src'))).at(-1)?.type).toBe('HoldReleased');
    expect(await entryRows(ledger, 'void-src')).toHaveLength(1);
    expect(await accountRow(ledger, 'void-dst')).toMatchObject({ posted: '0', version: '0' });
  });

  it('expiry: TransferCancelled(EXPIRED) after TransferVoidRequested(EXPIRED)', async () => {
    await ledger.open('exp-src');
    await ledger.open('exp-dst');
    await ledger.fund('exp-src', 100n);
    await ledger.transfers.requestTransfer({
      transferId: 'exp-1',
      sourceAccount: 'exp-src',
      destinationAccount: 'exp-dst',
      amountMinor: 100n,
      mode: 'pending',
      timeoutSeconds: 60,
    });
    await ledger.waitForStatus('exp-1', 'HELD');
    const t = advance(ledger, 61 * second);
    expect((await ledger.transfers.expireTransfer('exp-1')).replayed).toBe(false);
    await ledger.waitForStatus('exp-1', 'CANCELLED');
    await syncReadSide(ledger);
    expect(await transferRow(ledger, 'exp-1')).toMatchObject({
      status: 'CANCELLED',
      reason: 'EXPIRED',
      updated_at: t,
      version: '3',
    });
    expect(await accountRow(ledger, 'exp-src')).toMatchObject({ posted: '100', held: '0' });
  });

  it('TransferRejected: reason and step, and nothing on the accounts', async () => {
    await ledger.open('rej-src');
    await ledger.open('rej-dst');
    const t = advance(ledger);
    await ledger.transfers.requestTransfer({
      transferId: 'rej-1',
      sourceAccount: 'rej-src',
      destinationAccount: 'rej-dst',
      amountMinor: 1n,
    });
    await ledger.waitForTerminal(['rej-1']);
    await freezeAccount(ledger.store, 'rej-src', t);
    await ledger.transfers.requestTransfer({
      transferId: 'rej-2',
      sourceAccount: 'rej-src',
      destinationAccount: 'rej-dst',
      amountMinor: 1n,
    });
    await ledger.waitForTerminal(['rej-2']);
    await syncReadSide(ledger);
    expect(await transferRow(ledger, 'rej-1')).toMatchObject({
      status: 'REJECTED',
      reason: 'INSUFFICIENT_FUNDS',
      committed_amount: null,
      version: '1',
      updated_at: t,
    });
    expect(steps(await transferRow(ledger, 'rej-1'))).toEqual([
      ['REQUESTED', t.toISOString()],
      ['REJECTED', t.toISOString()],
    ]);
    expect(await transferRow(ledger, 'rej-2')).toMatchObject({ status: 'REJECTED', reason: 'ACCOUNT_FROZEN' });
    expect(await accountRow(ledger, 'rej-src')).toMatchObject({
      status: 'frozen',
      posted: '0',
      held: '0',
      version: '1',
    });
    expect(await entryRows(ledger, 'rej-src')).toEqual([]);
  });

  it('TransferCancelled(CREDIT_FAILED): the hold is released, no entry anywhere', async () => {
    await ledger.open('cf-src');
    await ledger.open('cf-dst');
    await ledger.fund('cf-src', 500n);
    await freezeAccount(ledger.store, 'cf-dst', ledger.clock.now);
    const t = advance(ledger);
    await ledger.transfers.requestTransfer({
      transferId: 'cf-1',
      sourceAccount: 'cf-src',
      destinationAccount: 'cf-dst',
      amountMinor: 100n,
    });
    await ledger.waitForTerminal(['cf-1']);
    await syncReadSide(ledger);
    expect(await transferRow(ledger, 'cf-1')).toMatchObject({
      status: 'CANCELLED',
      reason: 'CREDIT_FAILED',
      committed_amount: null,
      updated_at: t,
    });
    expect(steps(await transferRow(ledger, 'cf-1')).map(([s]) => s)).toEqual(['REQUESTED', 'HELD', 'CANCELLED']);
    expect((await streamEvents(ledger, accountStream('cf-src'))).map((e) => e.type)).toEqual([
      'AccountOpened',
      'FundsCredited',
      'FundsHeld',
      'HoldReleased',
    ]);
    expect(await accountRow(ledger, 'cf-src')).toMatchObject({ posted: '500', held: '0', version: '3', updated_at: t });
    expect(await entryRows(ledger, 'cf-src')).toHaveLength(1);
    expect(await entryRows(ledger, 'cf-dst')).toEqual([]);
  });

  it('AccountFrozen, AccountUnfrozen, AccountClosed: status, version, updated_at', async () => {
    const t0 = advance(ledger);
    await ledger.open('life');
    const expectRow = async (status: string, version: string, at: Date, position: bigint) => {
      await waitForProjections(ledger.db.pool, allProjections, position);
      expect(await accountRow(ledger, 'life')).toMatchObject({
        status,
        version,
        created_at: t0,
        updated_at: at,
        position: position.toString(),
      });
    };
    const t1 = advance(ledger);
    await expectRow('frozen', '1', t1, (await freezeAccount(ledger.store, 'life', t1)).position);
    const t2 = advance(ledger);
    await expectRow('open', '2', t2, (await unfreezeAccount(ledger.store, 'life', t2)).position);
    const t3 = advance(ledger);
    await expectRow('closed', '3', t3, (await closeAccount(ledger.store, 'life', t3)).position);
    expect(await entryRows(ledger, 'life')).toEqual([]);
  });

  it('all three tables equal an independent fold of the whole event store', async () => {
    await syncReadSide(ledger);
    const expected = foldReadModels(await readAllEvents(ledger));
    const actual = await dumpReadModels(ledger.db.pool);
    for (const table of readModelTables)
      expect({ table, rows: actual[table] }).toEqual({ table, rows: expected[table] });
    expect(actual.rm_transfers.length).toBeGreaterThan(10);
  });
});

// ---- 2. idempotency --------------------------------------------------------------------

describe('projections: idempotency', () => {
  let ledger: TestLedger;
  let events: RecordedEvent[];
  let client: PoolClient;
  beforeAll(async () => {
    ledger = await createTestLedger();
    ledger.startProcess();
    // A small history with every kind of step (no runner: the tests apply it by hand).
    for (const id of ['i-a', 'i-b', 'i-c']) await ledger.open(id);
    await ledger.fund('i-a', 1_000n);
    await ledger.transfers.requestTransfer({
      transferId: 'i-imm',
      sourceAccount: 'i-a',
      destinationAccount: 'i-b',
      amountMinor: 100n,
      description: 'x',
    });
    await ledger.transfers.requestTransfer({
      transferId: 'i-pc',
      sourceAccount: 'i-a',
      destinationAccount: 'i-b',
      amountMinor: 300n,
      mode: 'pending',
    });
    await ledger.transfers.requestTransfer({
      transferId: 'i-pv',
      sourceAccount: 'i-a',
      destinationAccount: 'i-c',
      amountMinor: 200n,
      mode: 'pending',
    });
    await ledger.transfers.requestTransfer({
      transferId: 'i-rej',
      sourceAccount: 'i-c',
      destinationAccount: 'i-a',
      amountMinor: 1n,
    });
    await ledger.waitForStatus('i-pc', 'HELD');
    await ledger.waitForStatus('i-pv', 'HELD');
    await ledger.transfers.commitTransfer('i-pc', 120n);
    await ledger.transfers.voidTransfer('i-pv');
    await ledger.waitForTerminal(['i-imm', 'i-pc', 'i-pv', 'i-rej']);
    await freezeAccount(ledger.store, 'i-c', new Date());
    await unfreezeAccount(ledger.store, 'i-c', new Date());
    await ledger.stopProcesses();
    events = await readAllEvents(ledger);
    client = await ledger.db.pool.connect();
  });
  afterAll(async () => {
    client.release();
    await ledger.close();
  });

  const scratch =
    (suffix: string): TableNames =>
    (table) =>
      `${table}__${suffix}`;
  async function createScratch(projection: Projection, suffix: string): Promise<void> {
    for (const table of projection.tables)
      await client.query(`create table ${table}__${suffix} (like ${table} including all)`);
  }
  async function applyDirect(projection: Projection, batch: RecordedEvent[], tables: TableNames): Promise<void> {
    await client.query('begin');
    try {
      await projection.apply(
        client,
        batch.filter((e) => projection.handles(e)),
        tables,
      );
      await client.query('commit');
    } catch (err) {
      await client.query('rollback');
      throw err;
    }
  }
  async function checkpointRow(name: string): Promise<Row | undefined> {
    return (await client.query<Row>('select * from ledger_checkpoints where name = $1', [name])).rows[0];
  }

  it('the history covers every event type', () => {
    const types = new Set(events.map((e) => e.type));
    for (const type of [
      'AccountOpened',
      'FundsHeld',
      'HoldReleased',
      'FundsDebited',
      'FundsCredited',
      'AccountFrozen',
      'AccountUnfrozen',
      'TransferRequested',
      'TransferHeld',
      'TransferCommitRequested',
      'TransferVoidRequested',
      'TransferCredited',
      'TransferCommitted',
      'TransferRejected',
      'TransferCancelled',
    ]) {
      expect([type, types.has(type)]).toEqual([type, true]);
    }
  });

  it('applyBatch twice with the same events: tables and checkpoint unchanged', async () => {
    const expected = foldReadModels(events);
    const half = Math.floor(events.length / 2);
    for (const projection of allProjections) {
      const checkpoint = `test-idempotency:${projection.name}`;
      // Re-applying from the very first event would re-fold from AccountOpened/TransferRequested
      // and hide a double application: so the batches applied twice start mid-history.
      await applyBatch(client, projection, events.slice(0, half), checkpoint, liveTables);
      await applyBatch(client, projection, events.slice(half), checkpoint, liveTables);
      const once = await dumpReadModels(client);
      const cpOnce = await checkpointRow(checkpoint);
      expect(cpOnce?.position).toBe(events.at(-1)!.position.toString());
      const unchanged = async (after: string) => {
        expect({ after, tables: await dumpReadModels(client) }).toEqual({ after, tables: once });
        expect({ after, checkpoint: await checkpointRow(checkpoint) }).toEqual({ after, checkpoint: cpOnce });
      };
      await applyBatch(client, projection, events.slice(half), checkpoint, liveTables);
      await unchanged('the second half again');
      // Batches straddling the middle of the history again, in smaller pieces: all no-ops.
      for (let i = Math.floor(half / 2); i < events.length; i += 7)
        await applyBatch(client, projection, events.slice(i, i + 7), checkpoint, liveTables);
      await unchanged('pieces again');
      await applyBatch(client, projection, events, checkpoint, liveTables);
      await unchanged('everything again');
      for (const table of projection.tables)
        expect(once[table as keyof typeof once]).toEqual(expected[table as keyof typeof expected]);
    }
  });

  it('a fenced batch commits only while its lease is held, and a refused one changes nothing', async () => {
    const projection = allProjections[0];
    const checkpoint = 'test-fence:accounts';
    await client.query(
      "insert into ledger_leases (name, owner, expires_at) values ('test-fence', 'owner-a', now() + interval '1 minute')",
    );
    const before = await dumpReadModels(client);
    await expect(
      applyBatch(client, projection, events, checkpoint, liveTables, { name: 'test-fence', owner: 'owner-b' }),
    ).rejects.toThrow(/lost its lease/);
    expect(await checkpointRow(checkpoint)).toBeUndefined();
    expect(await dumpReadModels(client)).toEqual(before);
    await client.query("update ledger_leases set expires_at = now() - interval '1 second' where name = 'test-fence'");
    await expect(
      applyBatch(client, projection, events, checkpoint, liveTables, { name: 'test-fence', owner: 'owner-a' }),
    ).rejects.toThrow(/lost its lease/);
    await client.query("update ledger_leases set expires_at = now() + interval '1 minute' where name = 'test-fence'");
    await applyBatch(client, projection, events, checkpoint, liveTables, { name: 'test-fence', owner: 'owner-a' });
    expect((await checkpointRow(checkpoint))?.position).toBe(events.at(-1)!.position.toString());
  });

  it('projection.apply twice directly (no checkpoint): rows identical after the second apply', async () => {
    await createScratch(accountsProjection, 'twice');
    await createScratch(transfersProjection, 'twice');
    const expected = foldReadModels(events);
    const half = Math.floor(events.length / 2);
    // The first half once; then the second half, twice: rows that exist already must not move.
    for (const projection of allProjections) await applyDirect(projection, events.slice(0, half), scratch('twice'));
    const firstHalf = await dumpReadModels(client, 'twice');
    for (const projection of allProjections) await applyDirect(projection, events.slice(0, half), scratch('twice'));
    expect(await dumpReadModels(client, 'twice')).toEqual(firstHalf);
    expect(firstHalf).toEqual(foldReadModels(events.slice(0, half)));
    for (const projection of allProjections) await applyDirect(projection, events.slice(half), scratch('twice'));
    const once = await dumpReadModels(client, 'twice');
    expect(once).toEqual(expected);
    for (const projection of allProjections) await applyDirect(projection, events.slice(half), scratch('twice'));
    expect(await dumpReadModels(client, 'twice')).toEqual(once);
    for (const projection of allProjections) await applyDirect(projection, events, scratch('twice'));
    expect(await dumpReadModels(client, 'twice')).toEqual(once);
  });

  it('projection.apply on overlapping and repeated windows (no checkpoint) equals a single pass', async () => {
    const n = events.length;
    const expected = foldReadModels(events);
    // Sliding windows: every event is applied in two (or more) batches, and each overlap is
    // followed by newer events of the same streams, so a re-applied event would show.
    for (const [size, step] of [
      [2, 1],
      [5, 2],
      [9, 5],
      [40, 13],
    ]) {
      const suffix = `slide${size}`;
      await createScratch(accountsProjection, suffix);
      await createScratch(transfersProjection, suffix);
      for (let i = 0; i < n; i += step)
        for (const projection of allProjections)
          await applyDirect(projection, events.slice(i, i + size), scratch(suffix));
      expect({ size, step, tables: await dumpReadModels(client, suffix) }).toEqual({ size, step, tables: expected });
    }
    // Windows that go back, and single events backwards, after everything was applied.
    await createScratch(accountsProjection, 'overlap');
    await createScratch(transfersProjection, 'overlap');
    const windows: [number, number][] = [
      [0, Math.floor((2 * n) / 3)],
      [Math.floor(n / 3), n],
      [0, Math.floor(n / 2)],
      [Math.floor(n / 4), Math.floor((3 * n) / 4)],
    ];
    for (const [from, to] of windows)
      for (const projection of allProjections)
        await applyDirect(projection, events.slice(from, to), scratch('overlap'));
    for (let i = n - 1; i >= 0; i -= 5)
      for (const projection of allProjections) await applyDirect(projection, [events[i]], scratch('overlap'));
    expect(await dumpReadModels(client, 'overlap')).toEqual(expected);
  });
});

// ---- 5 and 6 ---------------------------------------------------------------------------

describe('projections: point-in-time balance and read-your-writes', () => {
  let ledger: TestLedger;
  let readSide: { stop(): Promise<void> } | undefined;
  beforeAll(async () => {
    ledger = await createTestLedger();
    ledger.clock.now = new Date('2031-06-01T12:00:00.000Z');
    ledger.startProcess();
    readSide = startReadSide(ledger);
  });
  afterAll(async () => {
    await readSide?.stop();
    await ledger.close();
  });

  it('balanceAsOf(entry.at) is the statement balance after the last entry at that time; null before the opening', async () => {
    const opened = advance(ledger);
    await ledger.open('pit');
    await ledger.open('pit-peer');
    advance(ledger);
    await ledger.fund('pit', 1_000n);
    await ledger.fund('pit-peer', 1_000n);
    advance(ledger);
    await ledger.transfers.requestTransfer({
      transferId: 'pit-out',
      sourceAccount: 'pit',
      destinationAccount: 'pit-peer',
      amountMinor: 200n,
    });
    await ledger.waitForTerminal(['pit-out']);
    advance(ledger);
    await ledger.transfers.requestTransfer({
      transferId: 'pit-in',
      sourceAccount: 'pit-peer',
      destinationAccount: 'pit',
      amountMinor: 50n,
    });
    await ledger.waitForTerminal(['pit-in']);
    const heldAt = advance(ledger);
    await ledger.transfers.requestTransfer({
      transferId: 'pit-p',
      sourceAccount: 'pit',
      destinationAccount: 'pit-peer',
      amountMinor: 300n,
      mode: 'pending',
    });
    await ledger.waitForStatus('pit-p', 'HELD');
    advance(ledger);
    await ledger.transfers.commitTransfer('pit-p', 120n);
    await ledger.waitForStatus('pit-p', 'COMMITTED');
    // Several entries at one instant: two credits and a debit, all at the same clock time.
    advance(ledger);
    await ledger.transfers.requestTransfers([
      { transferId: 'pit-s1', sourceAccount: 'pit-peer', destinationAccount: 'pit', amountMinor: 7n },
      { transferId: 'pit-s2', sourceAccount: 'pit-peer', destinationAccount: 'pit', amountMinor: 11n },
      { transferId: 'pit-s3', sourceAccount: 'pit', destinationAccount: 'pit-peer', amountMinor: 13n },
    ]);
    await ledger.waitForTerminal(['pit-s1', 'pit-s2', 'pit-s3']);
    await syncReadSide(ledger);

    const entries = await entryRows(ledger, 'pit');
    expect(entries.map((e) => e.balance_after)).toEqual(expect.arrayContaining(['1000', '800', '850', '730']));
    expect(new Set(entries.map((e) => (e.at as Date).getTime())).size).toBeLessThan(entries.length); // some share an `at`
    expect(entries).toHaveLength(7);
    for (const [i, entry] of entries.entries()) {
      const at = entry.at as Date;
      const lastAtSameTime = entries.filter((e) => (e.at as Date).getTime() === at.getTime()).at(-1)!;
      const balance = await balanceAsOf(ledger.store, 'pit', at);
      expect({ i, at, posted: balance?.postedMinor.toString() }).toEqual({
        i,
        at,
        posted: lastAtSameTime.balance_after,
      });
      // Just before the next distinct time, the balance is still this one.
      const justBefore = await balanceAsOf(ledger.store, 'pit', new Date(at.getTime() + second - 1));
      expect(justBefore?.postedMinor.toString()).toBe(lastAtSameTime.balance_after);
    }
    expect(await balanceAsOf(ledger.store, 'pit', new Date(opened.getTime() - 1))).toBeNull();
    expect(await balanceAsOf(ledger.store, 'pit', opened)).toMatchObject({
      postedMinor: 0n,
      heldMinor: 0n,
      currency: 'USD',
    });
    expect(await balanceAsOf(ledger.store, 'pit', heldAt)).toMatchObject({
      postedMinor: 850n,
      heldMinor: 300n,
      availableMinor: 550n,
    });
    expect(await balanceAsOf(ledger.store, 'no-such-account', new Date())).toBeNull();
  });

  it('read-your-writes: waitForProjections resolves once the write is projected', async () => {
    await ledger.open('ryw-a');
    await ledger.open('ryw-b');
    await ledger.fund('ryw-a', 100n);
    const written = await ledger.transfers.requestTransfer({
      transferId: 'ryw-1',
      sourceAccount: 'ryw-a',
      destinationAccount: 'ryw-b',
      amountMinor: 10n,
    });
    const reached = await waitForProjections(ledger.db.pool, allProjections, written.position);
    expect(reached).toBeGreaterThanOrEqual(written.position);
    // Read your write: the row is there as soon as waitForProjections returns.
    expect(await transferRow(ledger, 'ryw-1')).toMatchObject({ id: 'ryw-1', amount: '10' });
  });

  it('read-your-writes: ProjectionBehind (PROJECTION_BEHIND) when the projections are stopped', async () => {
    await readSide!.stop();
    readSide = undefined;
    const written = await ledger.transfers.requestTransfer({
      transferId: 'ryw-2',
      sourceAccount: 'ryw-a',
      destinationAccount: 'ryw-b',
      amountMinor: 10n,
    });
    const started = Date.now();
    const error = await waitForProjections(ledger.db.pool, allProjections, written.position, 150).catch(
      (err: unknown) => err,
    );
    const waited = Date.now() - started;
    expect(error).toBeInstanceOf(ProjectionBehind);
    expect(error).toMatchObject({ code: 'PROJECTION_BEHIND', minPosition: written.position });
    expect((error as ProjectionBehind).reached).toBeLessThan(written.position);
    expect(waited).toBeGreaterThanOrEqual(140);
    expect(waited).toBeLessThan(3_000);
    expect(await transferRow(ledger, 'ryw-2')).toBeUndefined();

    readSide = startReadSide(ledger);
    await expect(waitForProjections(ledger.db.pool, allProjections, written.position)).resolves.toBeGreaterThanOrEqual(
      written.position,
    );
    expect(await transferRow(ledger, 'ryw-2')).toBeDefined();
  });
});
