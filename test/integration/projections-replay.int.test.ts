/**
 * Replay and verification of the read models (DESIGN.md invariant 6: read models equal a
 * fold of the event store up to their checkpoint; a replay rebuilds them to exactly the
 * same content), on PostgreSQL with the real store, transfer process and live runners.
 *
 * - Random workloads (fast-check): after each, the live tables equal an independent fold
 *   of the store; replayProjection (both projections) swaps in tables identical to the
 *   live ones; verifyProjection reports nothing. One ledger for all runs, so every run
 *   also replays the tables a previous replay swapped in.
 * - A replay killed after its first batch resumes from its checkpoint in <table>__next.
 * - verifyProjection names the table of a tampered row, and a replay repairs it.
 * - A replay while the workload and the live runners go on loses nothing.
 *
 * Replay a failure with FC_SEED=<seed> (and FC_PATH=<path>); FC_NUM_RUNS=<n> for more runs.
 */
import { randomUUID } from 'node:crypto';
import fc from 'fast-check';
import { closeAccount, freezeAccount, openAccount, unfreezeAccount } from '../../src/commands/account-commands';
import { loadTransfer, toEventToAppend } from '../../src/commands/aggregates';
import type { Overdraft } from '../../src/domain/account';
import { DomainError } from '../../src/domain/errors';
import { accountStream } from '../../src/domain/streams';
import { isTerminalTransferStatus, type TransferState } from '../../src/domain/transfer';
import { type EventStore, NO_STREAM, type StreamAppend } from '../../src/eventstore/port';
import { allProjections } from '../../src/projections';
import { accountsProjection } from '../../src/projections/accounts';
import { type ReplayProgress, replayBatchSize, replayProjection, verifyProjection } from '../../src/projections/replay';
import { checkpointName } from '../../src/projections/runner';
import { transfersProjection } from '../../src/projections/transfers';
import { createTestLedger, type TestLedger } from '../support/ledger';
import {
  dumpReadModels,
  eventually,
  foldReadModels,
  pause,
  readAllEvents,
  type ReadModels,
  startReadSide,
  syncReadSide,
} from '../support/projections';

// ---- the workload --------------------------------------------------------------------------

const accountCount = 6;
/** Accounts 0..3 are opened when a run starts; 4 and 5 only by an `open` command. */
const openedAtStart = 4;

type Command =
  | { kind: 'open'; account: number; overdraft: Overdraft['kind'] }
  | { kind: 'fund'; account: number; amount: bigint }
  | { kind: 'transfer'; from: number; to: number; amount: bigint; mode: 'immediate' | 'pending'; described: boolean }
  | { kind: 'commit'; pending: number; partial: boolean }
  | { kind: 'void'; pending: number }
  | { kind: 'freeze' | 'unfreeze' | 'close'; account: number }
  | { kind: 'settle' }
  | { kind: 'tick'; seconds: number };

const account = fc.integer({ min: 0, max: accountCount - 1 });
const amount = fc.bigInt({ min: 1n, max: 500n });
const command: fc.Arbitrary<Command> = fc.oneof(
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('open' as const),
      account,
      overdraft: fc.constantFrom<Overdraft['kind']>('none', 'limit', 'unlimited'),
    }),
  },
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('fund' as const), account, amount }) },
  {
    weight: 10,
    arbitrary: fc.record({
      kind: fc.constant('transfer' as const),
      from: account,
      to: fc.integer({ min: 1, max: accountCount - 1 }), // an offset from `from`: never the same account
      amount,
      mode: fc.constantFrom<'immediate' | 'pending'>('immediate', 'pending'),
      described: fc.boolean(),
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({ kind: fc.constant('commit' as const), pending: fc.nat(20), partial: fc.boolean() }),
  },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('void' as const), pending: fc.nat(20) }) },
  {
    weight: 1,
    arbitrary: fc.record({ kind: fc.constantFrom('freeze' as const, 'unfreeze' as const, 'close' as const), account }),
  },
  { weight: 2, arbitrary: fc.constant({ kind: 'settle' as const }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('tick' as const), seconds: fc.integer({ min: 1, max: 30 }) }) },
);

const overdraftOf = (kind: Overdraft['kind']): Overdraft => (kind === 'limit' ? { kind, limitMinor: 300n } : { kind });

/** Ignores the business rejections a random workload runs into (unknown account, not pending, ...). */
async function tolerate(work: Promise<unknown>): Promise<boolean> {
  try {
    await work;
    return true;
  } catch (err) {
    if (!(err instanceof DomainError)) throw err;
    return false;
  }
}

/** Until no transfer waits for the process: each is terminal, or pending, HELD and undecided. */
async function settle(ledger: TestLedger, transferIds: string[]): Promise<void> {
  await eventually(
    async () => {
      for (const id of transferIds) {
        const { state } = await loadTransfer(ledger.store, id);
        const waiting = state.status === 'HELD' && state.request?.mode === 'pending' && state.decision === null;
        if (!isTerminalTransferStatus(state.status) && !waiting) return undefined;
      }
      return true;
    },
    'the transfer process to settle',
    20_000,
  );
}

/** The k-th (cyclically) pending transfer a client can still commit or void, once the process has held it. */
async function undecidedPending(ledger: TestLedger, pending: string[], k: number): Promise<TransferState | undefined> {
  for (let i = 0; i < pending.length; i++) {
    const transferId = pending[(k + i) % pending.length];
    const state = await eventually(async () => {
      const { state } = await loadTransfer(ledger.store, transferId);
      return state.status === 'REQUESTED' ? undefined : state;
    }, `transfer ${transferId} to leave REQUESTED`);
    if (state.status === 'HELD' && state.decision === null) return state;
  }
  return undefined;
}

async function runWorkload(ledger: TestLedger, run: string, commands: Command[]): Promise<string[]> {
  const id = (i: number) => `${run}-${i}`;
  const transferIds: string[] = [];
  const pending: string[] = [];
  for (let i = 0; i < openedAtStart; i++) await ledger.open(id(i), 'USD', overdraftOf(i % 2 === 0 ? 'none' : 'limit'));
  for (const c of commands) {
    const now = ledger.clock.now;
    switch (c.kind) {
      case 'open':
        await tolerate(
          openAccount(ledger.store, {
            accountId: id(c.account),
            currency: 'USD',
            overdraft: overdraftOf(c.overdraft),
            now,
          }),
        );
        break;
      case 'fund': {
        const transferId = randomUUID();
        if (
          await tolerate(
            ledger.transfers.requestTransfer({
              transferId,
              sourceAccount: 'w-funding',
              destinationAccount: id(c.account),
              amountMinor: c.amount,
            }),
          )
        ) {
          transferIds.push(transferId);
        }
        break;
      }
      case 'transfer': {
        const transferId = randomUUID();
        const accepted = await tolerate(
          ledger.transfers.requestTransfer({
            transferId,
            sourceAccount: id(c.from),
            destinationAccount: id((c.from + c.to) % accountCount),
            amountMinor: c.amount,
            mode: c.mode,
            ...(c.described && { description: `pay ${c.amount}`, metadata: { run, n: transferIds.length } }),
          }),
        );
        if (!accepted) break;
        transferIds.push(transferId);
        if (c.mode === 'pending') pending.push(transferId);
        break;
      }
      case 'commit':
      case 'void': {
        const state = await undecidedPending(ledger, pending, c.pending);
        if (!state) break;
        const { transferId, amountMinor } = state.request!;
        if (c.kind === 'void') await tolerate(ledger.transfers.voidTransfer(transferId));
        else
          await tolerate(
            ledger.transfers.commitTransfer(transferId, c.partial && amountMinor > 1n ? amountMinor / 2n : undefined),
          );
        break;
      }
      case 'freeze':
        await tolerate(freezeAccount(ledger.store, id(c.account), now));
        break;
      case 'unfreeze':
        await tolerate(unfreezeAccount(ledger.store, id(c.account), now));
        break;
      case 'close':
        await tolerate(closeAccount(ledger.store, id(c.account), now));
        break;
      case 'settle':
        await settle(ledger, transferIds);
        break;
      case 'tick':
        ledger.clock.now = new Date(now.getTime() + c.seconds * 1_000);
        break;
    }
  }
  await settle(ledger, transferIds);
  return transferIds;
}

// ---- helpers -------------------------------------------------------------------------------

async function scratchTables(ledger: TestLedger): Promise<string[]> {
  const { rows } = await ledger.db.pool.query<{ tablename: string }>(
    `select tablename from pg_tables where tablename like 'rm\\_%\\_\\_%' order by tablename`,
  );
  return rows.map((r) => r.tablename);
}

async function expectEqualReadModels(actual: ReadModels, expected: ReadModels): Promise<void> {
  for (const table of Object.keys(expected) as (keyof ReadModels)[]) {
    expect({ table, count: actual[table].length }).toEqual({ table, count: expected[table].length });
    expect({ table, rows: actual[table] }).toEqual({ table, rows: expected[table] });
  }
}

/** Every index of the live read-model tables, by what it is (its name aside). */
async function readModelIndexes(ledger: TestLedger): Promise<string[]> {
  const { rows } = await ledger.db.pool.query<{ index: string }>(
    `select tablename || ' ' || regexp_replace(indexdef, '^CREATE (UNIQUE )?INDEX \\S+ ON \\S+', '\\1') as index
       from pg_indexes where tablename like 'rm\\_%' and tablename not like '%\\_\\_%' order by 1`,
  );
  return rows.map((r) => r.index);
}

async function replayBoth(ledger: TestLedger): Promise<void> {
  for (const projection of allProjections) await replayProjection(ledger.store, ledger.db.pool, projection);
}

async function verifyBoth(ledger: TestLedger) {
  const differences = [];
  for (const projection of allProjections)
    differences.push(...(await verifyProjection(ledger.store, ledger.db.pool, projection)));
  return differences;
}

/**
 * Many account events, cheaply: `accounts` accounts opened and credited `credits` times each,
 * appended straight to the store (valid domain events, serialised by the domain's codecs).
 */
async function appendBulk(ledger: TestLedger, prefix: string, accounts: number, credits: number): Promise<void> {
  const at = ledger.clock.now;
  const appends: StreamAppend[] = [];
  for (let a = 0; a < accounts; a++) {
    const accountId = `${prefix}-${a}`;
    const events = [
      toEventToAppend({
        id: randomUUID(),
        correlationId: accountId,
        event: {
          type: 'AccountOpened',
          data: { accountId, currency: 'USD', overdraft: { kind: 'none' }, metadata: { bulk: true }, openedAt: at },
        },
      }),
    ];
    for (let c = 1; c <= credits; c++) {
      const transferId = `${prefix}-t-${a}-${c}`;
      events.push(
        toEventToAppend({
          id: randomUUID(),
          correlationId: transferId,
          event: { type: 'FundsCredited', data: { accountId, transferId, amountMinor: BigInt(c * 10), at } },
        }),
      );
    }
    appends.push({ streamName: accountStream(accountId), expectedRevision: NO_STREAM, events });
  }
  for (let i = 0; i < appends.length; i += 500) await ledger.store.appendMultiple(appends.slice(i, i + 500));
}

// ---- the tests -----------------------------------------------------------------------------

describe('projections: replay and verify', () => {
  let ledger: TestLedger;
  let readSide: { stop(): Promise<void> };
  beforeAll(async () => {
    ledger = await createTestLedger();
    ledger.clock.now = new Date('2032-03-01T00:00:00.000Z');
    await openAccount(ledger.store, {
      accountId: 'w-funding',
      currency: 'USD',
      overdraft: { kind: 'unlimited' },
      now: ledger.clock.now,
    });
    ledger.startProcess();
    readSide = startReadSide(ledger);
  });
  afterAll(async () => {
    await readSide.stop();
    await ledger.close();
  });

  it('after a random workload, live tables equal the fold; a replay swaps in identical tables; verify finds nothing', async () => {
    // Every decision, rejection and cancellation path once, deterministically, so the
    // replays below always cover them whatever the random runs generate.
    await runWorkload(ledger, 'paths', [
      { kind: 'fund', account: 0, amount: 100n },
      // Funded first: a hold decided in the same batch as the credit would not see it yet.
      { kind: 'settle' },
      { kind: 'transfer', from: 0, to: 1, amount: 10n, mode: 'pending', described: true },
      { kind: 'transfer', from: 0, to: 2, amount: 10n, mode: 'pending', described: false },
      { kind: 'settle' },
      { kind: 'commit', pending: 0, partial: true },
      { kind: 'settle' },
      { kind: 'transfer', from: 0, to: 1, amount: 10_000n, mode: 'immediate', described: false },
      { kind: 'settle' },
    ]);
    await ledger.open('paths-void-src');
    await ledger.open('paths-void-dst');
    await ledger.fund('paths-void-src', 50n);
    const voided = await ledger.transfers.requestTransfer({
      sourceAccount: 'paths-void-src',
      destinationAccount: 'paths-void-dst',
      amountMinor: 20n,
      mode: 'pending',
    });
    await ledger.waitForStatus(voided.transferId, 'HELD');
    await ledger.transfers.voidTransfer(voided.transferId);
    await ledger.waitForStatus(voided.transferId, 'CANCELLED');
    let runs = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(command, { minLength: 15, maxLength: 40, size: 'max' }), async (commands) => {
        const run = `w${++runs}`;
        await runWorkload(ledger, run, commands);
        await syncReadSide(ledger);
        const live = await dumpReadModels(ledger.db.pool);
        await expectEqualReadModels(live, foldReadModels(await readAllEvents(ledger)));

        const indexes = await readModelIndexes(ledger);
        await replayBoth(ledger);
        await expectEqualReadModels(await dumpReadModels(ledger.db.pool), live);
        // Rebuilt without secondary indexes, then indexed once: the same indexes as before.
        expect(await readModelIndexes(ledger)).toEqual(indexes);
        expect(await scratchTables(ledger)).toEqual([]);
        expect(await verifyBoth(ledger)).toEqual([]);
        // The live runners go on, on the swapped-in tables (checked by the next run's fold).
      }),
      {
        numRuns: Number(process.env.FC_NUM_RUNS ?? 10),
        ...(process.env.FC_SEED && { seed: Number(process.env.FC_SEED) }),
        ...(process.env.FC_PATH && { path: process.env.FC_PATH }),
      },
    );
    // The runs together took the decision, rejection and cancellation paths (checked, not assumed).
    const types = new Set((await readAllEvents(ledger)).map((e) => e.type));
    for (const type of [
      'TransferCommitRequested',
      'TransferVoidRequested',
      'TransferRejected',
      'TransferCancelled',
      'HoldReleased',
      'FundsDebited',
    ]) {
      expect([type, types.has(type)]).toEqual([type, true]);
    }
    // After the last replay: more work through the runners, and still equal to the fold.
    await runWorkload(ledger, 'after', [
      { kind: 'fund', account: 0, amount: 5n },
      { kind: 'transfer', from: 0, to: 1, amount: 2n, mode: 'immediate', described: false },
    ]);
    await syncReadSide(ledger);
    await expectEqualReadModels(await dumpReadModels(ledger.db.pool), foldReadModels(await readAllEvents(ledger)));
  });

  it('a replay killed after its first batch resumes from where it stopped, and ends equal to the live tables', async () => {
    await appendBulk(ledger, 'bulk', 3_000, 3); // 12,000 account events
    await syncReadSide(ledger);
    const live = await dumpReadModels(ledger.db.pool);
    const head = Number((await readAllEvents(ledger)).at(-1)!.position);
    expect(head).toBeGreaterThan(2 * replayBatchSize);

    // The kill: progress throws after the first batch (committed with its checkpoint).
    const firstRun: ReplayProgress[] = [];
    const killed = replayProjection(
      ledger.store,
      ledger.db.pool,
      accountsProjection,
      (p) => {
        firstRun.push({ ...p });
        throw new Error('killed');
      },
      { leaseTtlMs: 1_000 },
    );
    await expect(killed).rejects.toThrow('killed');
    expect(firstRun).toHaveLength(1);
    const killedAt = firstRun[0].position;
    expect(killedAt).toBeGreaterThan(0n);
    const left = await ledger.db.pool.query<{ position: string }>(
      'select position from ledger_checkpoints where name = $1',
      ['next:accounts:v1'],
    );
    expect(left.rows.map((r) => BigInt(r.position))).toEqual([killedAt]);
    expect(await scratchTables(ledger)).toEqual(['rm_account_entries__next', 'rm_accounts__next']);
    const { rows: rebuilt } = await ledger.db.pool.query<{ n: string }>(
      'select count(*)::text as n from rm_accounts__next',
    );
    expect(Number(rebuilt[0].n)).toBeGreaterThan(0);
    expect(Number(rebuilt[0].n)).toBeLessThan(live.rm_accounts.length);
    await expectEqualReadModels(await dumpReadModels(ledger.db.pool), live); // live tables untouched

    // A replay process that really dies keeps its lease until it expires: stand one in.
    await ledger.db.pool.query(
      `insert into ledger_leases (name, owner, expires_at) values ('replay:accounts', 'dead-replay', now() + interval '1 second')
       on conflict (name) do update set owner = excluded.owner, expires_at = excluded.expires_at`,
    );
    await expect(
      replayProjection(ledger.store, ledger.db.pool, accountsProjection, undefined, { leaseTtlMs: 1_000 }),
    ).rejects.toThrow(/another replay/);
    await pause(1_200);

    const indexes = await readModelIndexes(ledger);
    const secondRun: ReplayProgress[] = [];
    const result = await replayProjection(
      ledger.store,
      ledger.db.pool,
      accountsProjection,
      (p) => void secondRun.push({ ...p }),
      { leaseTtlMs: 1_000 },
    );
    // Resumed: its first batch starts right after the killed run's checkpoint, not at 0.
    expect(secondRun.length).toBeGreaterThan(0);
    expect(secondRun[0].position).toBeGreaterThan(killedAt);
    expect(secondRun[0].done).toBeGreaterThan(firstRun[0].done);
    // `done` starts at the resumed checkpoint: what the second run applied is the rest only.
    const appliedInSecondRun = secondRun.at(-1)!.done - Number(killedAt);
    expect(appliedInSecondRun).toBeLessThan(head - replayBatchSize / 2);
    expect(result.position).toBeGreaterThanOrEqual(BigInt(head));
    expect(await scratchTables(ledger)).toEqual([]);
    expect(
      (await ledger.db.pool.query('select 1 from ledger_checkpoints where name = $1', ['next:accounts:v1'])).rowCount,
    ).toBe(0);
    await expectEqualReadModels(await dumpReadModels(ledger.db.pool), live);
    expect(await readModelIndexes(ledger)).toEqual(indexes);
    expect(await verifyProjection(ledger.store, ledger.db.pool, accountsProjection)).toEqual([]);
  });

  it('verifyProjection names the table of a tampered row; a replay repairs it', async () => {
    await syncReadSide(ledger);
    const {
      rows: [{ id: victim }],
    } = await ledger.db.pool.query<{ id: string }>(`select id from rm_accounts where posted > 0 order by id limit 1`);
    await ledger.db.pool.query('update rm_accounts set posted = posted + 1 where id = $1', [victim]);
    const differences = await verifyProjection(ledger.store, ledger.db.pool, accountsProjection);
    expect(differences.map((d) => [d.table, d.only, d.row.id]).sort()).toEqual([
      ['rm_accounts', 'live', victim],
      ['rm_accounts', 'rebuilt', victim],
    ]);
    const [live, rebuilt] = [
      differences.find((d) => d.only === 'live')!,
      differences.find((d) => d.only === 'rebuilt')!,
    ];
    expect(BigInt(live.row.posted as string) - BigInt(rebuilt.row.posted as string)).toBe(1n);

    // A statement line and a transfer, tampered too.
    await ledger.db.pool.query(
      `delete from rm_account_entries where (account_id, position) in (select account_id, position from rm_account_entries order by position desc limit 1)`,
    );
    await ledger.db.pool.query(
      `update rm_transfers set status = 'REJECTED' where id = (select id from rm_transfers where status = 'COMMITTED' order by id limit 1)`,
    );
    const accounts = await verifyProjection(ledger.store, ledger.db.pool, accountsProjection);
    expect(accounts.filter((d) => d.table === 'rm_account_entries').map((d) => d.only)).toEqual(['rebuilt']);
    const transfers = await verifyProjection(ledger.store, ledger.db.pool, transfersProjection);
    expect(transfers.map((d) => [d.table, d.only]).sort()).toEqual([
      ['rm_transfers', 'live'],
      ['rm_transfers', 'rebuilt'],
    ]);

    await replayBoth(ledger);
    expect(await verifyBoth(ledger)).toEqual([]);
    await expectEqualReadModels(await dumpReadModels(ledger.db.pool), foldReadModels(await readAllEvents(ledger)));
  });

  it('the swap brings a rebuild that is behind up to the live checkpoint', async () => {
    // A store whose readAll, at the end of the catch-up (its first empty answer), lets the
    // live side run ahead: transfers are made and projected live while that read is "in
    // flight", so its empty answer is stale (as a read that started earlier may be). The
    // rebuild then swaps while behind the live tables, and the swap must apply the rest.
    for (const projection of allProjections) {
      let raced = 0;
      const store = ledger.store;
      const racing: EventStore = {
        capabilities: store.capabilities,
        append: (name, events, expected) => store.append(name, events, expected),
        appendMultiple: (appends) => store.appendMultiple(appends),
        readStream: (name, options) => store.readStream(name, options),
        headPosition: () => store.headPosition(),
        subscribe: (options) => store.subscribe(options),
        close: () => store.close(),
        async readAll(options) {
          const events = await store.readAll(options);
          if (events.length === 0 && raced++ === 0) {
            await runWorkload(ledger, `race-${projection.name}`, [
              { kind: 'fund', account: 0, amount: 50n },
              { kind: 'transfer', from: 0, to: 1, amount: 20n, mode: 'immediate', described: true },
              { kind: 'transfer', from: 0, to: 2, amount: 10n, mode: 'pending', described: false },
            ]);
            await syncReadSide(ledger);
          }
          return events;
        },
      };
      await replayProjection(racing, ledger.db.pool, projection);
      expect(raced).toBeGreaterThan(0);
      await syncReadSide(ledger);
      await expectEqualReadModels(await dumpReadModels(ledger.db.pool), foldReadModels(await readAllEvents(ledger)));
      expect(await verifyProjection(ledger.store, ledger.db.pool, projection)).toEqual([]);
    }
  });

  it('a replay while the live runners are stopped swaps in tables ahead of them, and moves their checkpoint', async () => {
    await readSide.stop();
    try {
      await runWorkload(ledger, 'stopped', [
        { kind: 'fund', account: 0, amount: 50n },
        { kind: 'transfer', from: 0, to: 1, amount: 20n, mode: 'immediate', described: false },
      ]);
      const head = (await readAllEvents(ledger)).at(-1)!.position;
      for (const projection of allProjections) await replayProjection(ledger.store, ledger.db.pool, projection);
      const { rows } = await ledger.db.pool.query<{ name: string; position: string }>(
        'select name, position from ledger_checkpoints where name = any($1)',
        [allProjections.map(checkpointName)],
      );
      expect(rows.map((r) => BigInt(r.position))).toEqual([head, head]);
      await expectEqualReadModels(await dumpReadModels(ledger.db.pool), foldReadModels(await readAllEvents(ledger)));
    } finally {
      readSide = startReadSide(ledger);
    }
    await runWorkload(ledger, 'restarted', [
      { kind: 'transfer', from: 1, to: 0, amount: 5n, mode: 'immediate', described: false },
    ]);
    await syncReadSide(ledger);
    await expectEqualReadModels(await dumpReadModels(ledger.db.pool), foldReadModels(await readAllEvents(ledger)));
  });

  it('a replay while the workload and the live runners go on loses nothing', async () => {
    let replaying = true;
    const replays = Promise.all(allProjections.map((p) => replayProjection(ledger.store, ledger.db.pool, p))).finally(
      () => (replaying = false),
    );
    // Work goes on until both replays have swapped: their catch-up and their swap race it.
    let chunks = 0;
    while (replaying) {
      await runWorkload(ledger, `during-${chunks++}`, [
        ...Array.from({ length: 3 }, (_, i): Command => ({ kind: 'fund', account: i, amount: 100n })),
        ...Array.from({ length: 8 }, (_, i): Command => ({
          kind: 'transfer',
          from: i % 3,
          to: 1 + (i % 2),
          amount: 7n,
          mode: i % 4 === 0 ? 'pending' : 'immediate',
          described: i % 2 === 0,
        })),
      ]);
    }
    await replays;
    expect(chunks).toBeGreaterThan(1);
    await syncReadSide(ledger);
    const live = await dumpReadModels(ledger.db.pool);
    await expectEqualReadModels(live, foldReadModels(await readAllEvents(ledger)));
    expect(await verifyBoth(ledger)).toEqual([]);
    const checkpoints = await ledger.db.pool.query<{ name: string }>(
      'select name from ledger_checkpoints where name like $1',
      ['projection:%'],
    );
    expect(checkpoints.rows.map((r) => r.name).sort()).toEqual(allProjections.map(checkpointName).sort());
  });
});
