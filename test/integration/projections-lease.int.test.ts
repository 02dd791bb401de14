/**
 * One owner at a time for a projection (DESIGN.md, Scale-out): the runner holds a lease
 * (a row in ledger_leases with an expiry, renewed every third of its TTL), and a standby
 * runner takes over when the holder dies.
 *
 * How runner A "dies" (the crash case, not stop()): A runs on a pool of its own, with an
 * application_name of its own. We end that pool — A can then neither renew nor release its
 * lease, nor commit another batch — and terminate its server connections
 * (pg_terminate_backend), so nothing of A is left in the database: exactly what a killed
 * process or a network partition leaves behind. The lease row stays, still naming A, until
 * it expires; only then may standby B take it and go on from A's checkpoint. (stop(), the
 * graceful case, releases the lease at once; it is tested too.)
 */
import { Pool } from 'pg';
import { openAccount } from '../../src/commands/account-commands';
import { PostgresEventStore } from '../../src/eventstore/postgres';
import { accountsProjection } from '../../src/projections/accounts';
import { verifyProjection } from '../../src/projections/replay';
import { checkpointName, leaseName, startProjection, type RunningProjection } from '../../src/projections/runner';
import { createTestLedger, testLogger, type TestLedger } from '../support/ledger';
import { eventually, pause } from '../support/projections';

// Long enough that a busy machine (a slow CI VM) never misses a renewal by accident.
const ttlMs = 1_500;
const lease = leaseName(accountsProjection);

describe('projections: the lease passes to a standby runner', () => {
  let ledger: TestLedger;
  const running: RunningProjection[] = [];
  beforeAll(async () => {
    ledger = await createTestLedger();
  });
  afterAll(async () => {
    await Promise.all(running.map((r) => r.stop()));
    await ledger.close();
  });

  const open = async (accountId: string) =>
    (await openAccount(ledger.store, { accountId, currency: 'USD', overdraft: { kind: 'none' }, now: new Date() }))
      .position;
  const leaseRow = async () =>
    (
      await ledger.db.pool.query<{ owner: string; expired: boolean }>(
        'select owner, expires_at < now() as expired from ledger_leases where name = $1',
        [lease],
      )
    ).rows[0];
  const projected = (accountId: string) =>
    eventually(
      async () =>
        (await ledger.db.pool.query('select 1 from rm_accounts where id = $1', [accountId])).rowCount === 1
          ? true
          : undefined,
      `${accountId} in rm_accounts`,
    );
  const checkpoint = async () =>
    BigInt(
      (
        await ledger.db.pool.query<{ position: string }>('select position from ledger_checkpoints where name = $1', [
          checkpointName(accountsProjection),
        ])
      ).rows[0]?.position ?? 0,
    );
  const start = (store = ledger.store, pool = ledger.db.pool) => {
    const r = startProjection({ projection: accountsProjection, store, pool, logger: testLogger, leaseTtlMs: ttlMs });
    running.push(r);
    return r;
  };

  it('A dies holding the lease; B takes over once it expires and applies what A left', async () => {
    const poolA = new Pool({ connectionString: ledger.db.url, max: 4, application_name: 'projection-runner-a' });
    poolA.on('error', () => undefined); // its connections are about to be cut
    start(new PostgresEventStore(poolA, { pollIntervalMs: 10 }), poolA);
    await open('lease-1');
    await projected('lease-1');
    const ownerA = (await leaseRow()).owner;

    // B waits: for several lease lifetimes A keeps renewing, and B never gets the lease.
    start();
    for (let i = 0; i < 6; i++) {
      await pause(ttlMs / 2);
      expect(await leaseRow()).toEqual({ owner: ownerA, expired: false });
    }
    await open('lease-2');
    await projected('lease-2');
    expect((await leaseRow()).owner).toBe(ownerA);

    // A dies.
    const ended = poolA.end();
    await ledger.db.pool.query(
      `select pg_terminate_backend(pid) from pg_stat_activity where application_name = 'projection-runner-a' and datname = current_database()`,
    );
    await ended;
    const died = Date.now();
    // Nothing released the lease: it still names A.
    expect((await leaseRow()).owner).toBe(ownerA);
    const positionAtDeath = await checkpoint();

    // Written after A's death: B must apply it, once A's lease has expired.
    const after = await open('lease-3');
    await projected('lease-3');
    const tookOver = Date.now() - died;
    const row = await leaseRow();
    expect(row.owner).not.toBe(ownerA);
    expect(row.expired).toBe(false);
    expect(tookOver).toBeLessThan(5_000);
    expect(await checkpoint()).toBeGreaterThanOrEqual(after);
    expect(after).toBeGreaterThan(positionAtDeath);
    // Nothing applied twice or skipped across the hand-over.
    expect(await verifyProjection(ledger.store, ledger.db.pool, accountsProjection)).toEqual([]);
  });

  it('stop() (graceful) releases the lease: a standby takes it at once, and goes on from the checkpoint', async () => {
    // The runner from the previous test (B) holds the lease; a third one stands by.
    const holder = running[running.length - 1];
    const ownerB = (await leaseRow()).owner;
    start();
    await pause(ttlMs);
    expect((await leaseRow()).owner).toBe(ownerB);
    await holder.stop();
    const released = await leaseRow();
    expect(released === undefined || released.owner !== ownerB).toBe(true);
    await open('lease-4');
    await projected('lease-4');
    expect((await leaseRow()).owner).not.toBe(ownerB);
    expect(await verifyProjection(ledger.store, ledger.db.pool, accountsProjection)).toEqual([]);
  });

  it('a runner whose lease was taken applies nothing until it gets it back', async () => {
    await open('lease-5');
    await projected('lease-5');
    // An intruder takes the lease row (as a runner would after a lease expired during a long stall).
    await ledger.db.pool.query(
      `update ledger_leases set owner = 'intruder', expires_at = now() + interval '1 hour' where name = $1`,
      [lease],
    );
    const before = await checkpoint();
    await open('lease-6');
    await pause(4 * ttlMs);
    expect(await checkpoint()).toBe(before);
    expect((await ledger.db.pool.query('select 1 from rm_accounts where id = $1', ['lease-6'])).rowCount).toBe(0);
    // The intruder goes away: the runners take the lease again and go on.
    await ledger.db.pool.query(`delete from ledger_leases where name = $1 and owner = 'intruder'`, [lease]);
    await projected('lease-6');
    expect(await verifyProjection(ledger.store, ledger.db.pool, accountsProjection)).toEqual([]);
  });
});
