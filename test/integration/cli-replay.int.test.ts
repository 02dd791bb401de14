/**
 * `ledger replay` and `ledger replay --verify`, run in-process through the CLI's `run(argv)`
 * against a small ledger of its own (real store, transfer process and live projections):
 * bad arguments exit 2 and change nothing; `replay --all` swaps in tables with the same
 * content; `--verify` reports nothing on a healthy ledger and a DIFF line per tampered row;
 * progress lines are written when stdout is not a TTY.
 */
import { run } from '../../src/cli/ledger';
import { formatDuration, ProgressReporter } from '../../src/cli/progress';
import { allProjections, startProjections } from '../../src/projections';
import { ProjectionBehind, waitForProjections } from '../../src/projections/consistency';
import { createTestLedger, testLogger, type TestLedger } from '../support/ledger';

let ledger: TestLedger;
let readSide: { stop(): Promise<void> };
const savedUrl = process.env.DATABASE_URL;
const savedLogLevel = process.env.LOG_LEVEL;

/** Everything a replay could change: read models, checkpoints, leases, the tables that exist. */
async function snapshot(): Promise<Record<string, unknown[]>> {
  const q = async (sql: string) => (await ledger.db.pool.query(sql)).rows;
  return {
    rm_accounts: await q('select * from rm_accounts order by id collate "C"'),
    rm_account_entries: await q('select * from rm_account_entries order by account_id collate "C", position'),
    rm_transfers: await q('select * from rm_transfers order by id collate "C"'),
    checkpoints: await q('select name, position from ledger_checkpoints order by name'),
    leases: await q('select name, owner from ledger_leases order by name'),
    tables: await q(`select tablename from pg_tables where schemaname = 'public' order by tablename`),
    events: await q('select count(*) as n from ledger_events'),
  };
}

async function tableOid(table: string): Promise<number> {
  const { rows } = await ledger.db.pool.query<{ oid: number }>('select $1::regclass::oid as oid', [table]);
  return Number(rows[0].oid);
}

/** Waits until both projections have applied every event written so far. */
async function syncReadSide(): Promise<void> {
  const { rows } = await ledger.db.pool.query<{ p: string }>(
    'select coalesce(max(position), 0)::text as p from ledger_events',
  );
  const head = BigInt(rows[0].p);
  const deadline = Date.now() + 20_000;
  for (;;) {
    try {
      await waitForProjections(ledger.db.pool, allProjections, head);
      return;
    } catch (err) {
      if (!(err instanceof ProjectionBehind) || Date.now() > deadline) throw err;
    }
  }
}

/** Runs the CLI with stdout and stderr captured (stdout is not a TTY, as under a pipe). */
async function cli(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const tty = Object.getOwnPropertyDescriptor(process.stdout, 'isTTY');
  Object.defineProperty(process.stdout, 'isTTY', { value: false, configurable: true });
  const stdout = jest
    .spyOn(process.stdout, 'write')
    .mockImplementation((chunk: string | Uint8Array) => (out.push(String(chunk)), true));
  const stderr = jest
    .spyOn(process.stderr, 'write')
    .mockImplementation((chunk: string | Uint8Array) => (err.push(String(chunk)), true));
  try {
    const code = await run(argv);
    return { code, out: out.join(''), err: err.join('') };
  } finally {
    stdout.mockRestore();
    stderr.mockRestore();
    if (tty) Object.defineProperty(process.stdout, 'isTTY', tty);
    else delete (process.stdout as { isTTY?: boolean }).isTTY;
  }
}

beforeAll(async () => {
  ledger = await createTestLedger();
  ledger.startProcess();
  for (const id of ['cli-a', 'cli-b', 'cli-c']) await ledger.open(id);
  await ledger.open('cli-eur', 'EUR');
  await ledger.fund('cli-a', 10_000n);
  await ledger.fund('cli-b', 500n);
  const statuses: string[] = [];
  for (const [from, to, amount] of [
    ['cli-a', 'cli-b', 1_200n],
    ['cli-b', 'cli-c', 300n],
    ['cli-a', 'cli-c', 45n],
    ['cli-c', 'cli-a', 5n],
    ['cli-b', 'cli-a', 99_999n], // rejected: insufficient funds
  ] as const) {
    const t = await ledger.transfers.requestTransfer({
      sourceAccount: from,
      destinationAccount: to,
      amountMinor: amount,
      description: `${from}→${to}`,
    });
    statuses.push((await ledger.waitForTerminal([t.transferId])).get(t.transferId)!.status);
  }
  expect(statuses).toEqual(['COMMITTED', 'COMMITTED', 'COMMITTED', 'COMMITTED', 'REJECTED']);
  const pending = await ledger.transfers.requestTransfer({
    sourceAccount: 'cli-a',
    destinationAccount: 'cli-b',
    amountMinor: 70n,
    mode: 'pending',
    timeoutSeconds: 3600,
  });
  await ledger.waitForStatus(pending.transferId, 'HELD');
  readSide = startProjections(ledger.store, ledger.db.pool, testLogger);
  await syncReadSide();
  process.env.DATABASE_URL = ledger.db.url;
  process.env.LOG_LEVEL = 'warn';
});

afterAll(async () => {
  if (savedUrl === undefined) delete process.env.DATABASE_URL;
  else process.env.DATABASE_URL = savedUrl;
  if (savedLogLevel === undefined) delete process.env.LOG_LEVEL;
  else process.env.LOG_LEVEL = savedLogLevel;
  await readSide?.stop();
  await ledger?.close();
});

describe('ledger replay', () => {
  it('rejects bad arguments with exit code 2, a message on stderr, and changes nothing', async () => {
    const before = await snapshot();
    const cases: [string[], RegExp][] = [
      [['replay'], /name the projections to replay/],
      [['replay', '--verify'], /name the projections to verify/],
      [['replay', 'nope'], /unknown projection "nope" \(known: accounts, transfers\)/],
      [['replay', 'accounts', 'nope', 'nix'], /unknown projections "nope", "nix"/],
      [['replay', '--all', 'accounts'], /names or --all, not both/],
      [['replay', '--verify', '--all', 'transfers'], /names or --all, not both/],
      [['replay', '--all', '--bogus'], /Unknown option '--bogus'/],
      [['replay', '-x', 'accounts'], /Unknown option '-x'/],
      [['replay', '--all=yes'], /does not take an argument/],
      [['migrate', '--all'], /Unknown option '--all'/],
      [['frobnicate'], /unknown command "frobnicate"/],
    ];
    for (const [argv, message] of cases) {
      const { code, out, err } = await cli(...argv);
      expect({ argv, code }).toEqual({ argv, code: 2 });
      expect(err).toMatch(message);
      expect(err).toMatch(/usage: ledger/);
      expect(out).toBe('');
    }
    expect(await snapshot()).toEqual(before);
  });

  it('replay --all rebuilds every projection and swaps in tables with the same content', async () => {
    const before = await snapshot();
    const oids = { accounts: await tableOid('rm_accounts'), transfers: await tableOid('rm_transfers') };
    const { code, out, err } = await cli('replay', '--all');
    expect(err).toBe('');
    expect(code).toBe(0);
    // New tables (the rebuilt copies), same rows, same checkpoints, nothing left behind.
    expect(await tableOid('rm_accounts')).not.toBe(oids.accounts);
    expect(await tableOid('rm_transfers')).not.toBe(oids.transfers);
    expect(await snapshot()).toEqual(before);

    const lines = out.trimEnd().split('\n');
    for (const name of ['accounts', 'transfers']) {
      expect(lines).toContainEqual(
        expect.stringMatching(new RegExp(`^replay ${name}: \\d+/\\d+ events, \\d+ events/s, ETA \\d+ s$`)),
      );
      expect(lines).toContainEqual(
        expect.stringMatching(new RegExp(`^replayed ${name}: \\d+ events in \\d+\\.\\d s \\(\\d+ events/s\\)$`)),
      );
    }
    expect(lines.every((l) => /^(replay|replayed) (accounts|transfers): /.test(l))).toBe(true);
    expect(out).not.toContain('\r');
    const events = Number((before.events[0] as { n: string }).n);
    expect(lines.find((l) => l.startsWith('replayed accounts:'))).toContain(`: ${events} events in`);

    // The live runners go on from the swapped-in tables.
    const t = await ledger.transfers.requestTransfer({
      sourceAccount: 'cli-a',
      destinationAccount: 'cli-c',
      amountMinor: 1n,
    });
    await ledger.waitForTerminal([t.transferId]);
    await syncReadSide();
    const { rows } = await ledger.db.pool.query('select status from rm_transfers where id = $1', [t.transferId]);
    expect(rows).toEqual([{ status: 'COMMITTED' }]);
  });

  it('replay of named projections replays only those', async () => {
    const oids = { accounts: await tableOid('rm_accounts'), transfers: await tableOid('rm_transfers') };
    const { code, out } = await cli('replay', 'transfers');
    expect(code).toBe(0);
    expect(out).toMatch(/^replayed transfers: /m);
    expect(out).not.toMatch(/accounts/);
    expect(await tableOid('rm_accounts')).toBe(oids.accounts);
    expect(await tableOid('rm_transfers')).not.toBe(oids.transfers);
  });

  it('replay --verify --all exits 0 with "no differences", and 1 with a DIFF line per tampered row', async () => {
    const before = await snapshot();
    const clean = await cli('replay', '--verify', '--all');
    expect(clean.err).toBe('');
    expect(clean.code).toBe(0);
    expect(clean.out).toMatch(/^verify accounts: \d+\/\d+ events, \d+ events\/s, ETA \d+ s$/m);
    expect(clean.out).toMatch(/^verified transfers: \d+ events in \d+\.\d s \(\d+ events\/s\)$/m);
    expect(clean.out.endsWith('no differences\n')).toBe(true);
    expect(await snapshot()).toEqual(before);

    await ledger.db.pool.query(`update rm_accounts set posted = posted + 1 where id = 'cli-b'`);
    const tampered = await cli('replay', '--verify', '--all');
    expect(tampered.code).toBe(1);
    const diffs = tampered.out.split('\n').filter((l) => l.startsWith('DIFF '));
    expect(diffs).toHaveLength(2);
    const parsed = diffs.map((l) => {
      const m = /^DIFF (\S+) (\S+) only-in-(live|rebuilt) (\{.*\})$/.exec(l);
      expect(m).not.toBeNull();
      return { projection: m![1], table: m![2], only: m![3], row: JSON.parse(m![4]) as Record<string, unknown> };
    });
    const live = parsed.find((d) => d.only === 'live')!;
    const rebuilt = parsed.find((d) => d.only === 'rebuilt')!;
    expect(live).toMatchObject({ projection: 'accounts', table: 'rm_accounts', row: { id: 'cli-b' } });
    expect(rebuilt).toMatchObject({ projection: 'accounts', table: 'rm_accounts', row: { id: 'cli-b' } });
    expect(BigInt(live.row.posted as string) - BigInt(rebuilt.row.posted as string)).toBe(1n);
    expect(tampered.out).not.toContain('no differences');

    // Only the named projections are verified; a replay repairs the table.
    expect((await cli('replay', '--verify', 'transfers')).code).toBe(0);
    expect((await cli('replay', 'accounts')).code).toBe(0);
    const repaired = await cli('replay', '--verify', 'accounts', 'transfers');
    expect(repaired.code).toBe(0);
    expect(repaired.out).toContain('no differences');
  });

  it('a replay that cannot run exits 2 with the reason on stderr', async () => {
    await ledger.db.pool.query(
      `insert into ledger_leases (name, owner, expires_at) values ('replay:accounts', 'someone-else', now() + interval '1 minute')`,
    );
    try {
      const { code, err } = await cli('replay', 'accounts');
      expect(code).toBe(2);
      expect(err).toMatch(/replay of accounts failed: another replay of accounts is running/);
      expect(err).toMatch(/run the same command again to resume/);
    } finally {
      await ledger.db.pool.query(`delete from ledger_leases where name = 'replay:accounts'`);
    }
  });
});

describe('progress output', () => {
  const progress = (done: number, total: number) => ({ projection: 'accounts', done, total, position: BigInt(done) });

  function fakeOutput(isTTY: boolean) {
    const writes: string[] = [];
    return { writes, out: { isTTY, columns: 120, write: (s: string) => writes.push(s) } };
  }

  it('without a TTY writes a plain line at most every 2 s and a summary', () => {
    let now = 0;
    const { writes, out } = fakeOutput(false);
    const reporter = new ProgressReporter(out, { now: () => now });
    reporter.begin('accounts');
    for (const [t, done] of [
      [500, 5_000],
      [1_000, 10_000],
      [1_900, 15_000],
      [2_600, 20_000],
      [4_000, 25_000],
      [4_700, 30_000],
    ]) {
      now = t;
      reporter.update(progress(done, 100_000));
    }
    now = 10_000;
    reporter.finish(progress(100_000, 100_000));
    expect(writes).toEqual([
      'replay accounts: 5000/100000 events, 10000 events/s, ETA 10 s\n',
      'replay accounts: 20000/100000 events, 7692 events/s, ETA 10 s\n',
      'replay accounts: 30000/100000 events, 6383 events/s, ETA 11 s\n',
      'replayed accounts: 100000 events in 10.0 s (10000 events/s)\n',
    ]);
  });

  it('on a TTY redraws one line with a bar, then ends it before the summary', () => {
    let now = 0;
    const { writes, out } = fakeOutput(true);
    const reporter = new ProgressReporter(out, { now: () => now, verb: 'verify' });
    reporter.begin('accounts');
    now = 1_000;
    reporter.update(progress(5_000, 200_000));
    now = 1_050; // throttled
    reporter.update(progress(10_000, 200_000));
    now = 4_000;
    reporter.finish(progress(200_000, 200_000));
    expect(writes).toHaveLength(4);
    expect(writes[0]).toBe(
      `\rverify accounts [#.......................]   2% 5000/200000 events 5000 events/s ETA 39 s\x1b[K`,
    );
    expect(writes[1]).toBe(
      `\rverify accounts [${'#'.repeat(24)}] 100% 200000/200000 events 50000 events/s ETA 0 s\x1b[K`,
    );
    expect(writes[2]).toBe('\n');
    expect(writes[3]).toBe('verified accounts: 200000 events in 4.0 s (50000 events/s)\n');
  });

  it('on a narrow TTY shortens the bar, then leaves it out, rather than cut the figures', () => {
    const line = (columns: number) => {
      const writes: string[] = [];
      let now = 0;
      const reporter = new ProgressReporter(
        { isTTY: true, columns, write: (s: string) => writes.push(s) },
        { now: () => now },
      );
      reporter.begin('transfers');
      now = 1_000;
      reporter.update(progress(5_000, 1_000_000));
      return writes[0];
    };
    expect(line(80)).toBe('\rreplay transfers [......]   0% 5000/1000000 events 5000 events/s ETA 3 min 19 s\x1b[K');
    expect(line(74)).toBe('\rreplay transfers   0% 5000/1000000 events 5000 events/s ETA 3 min 19 s\x1b[K');
  });

  it('counts only this run’s events when a rebuild resumes', () => {
    let now = 0;
    const { writes, out } = fakeOutput(false);
    const reporter = new ProgressReporter(out, { now: () => now });
    reporter.begin('accounts');
    now = 1_000;
    reporter.update(progress(605_000, 1_000_000));
    now = 2_000;
    reporter.finish(progress(1_000_000, 1_000_000));
    expect(writes.at(-1)).toBe(
      'replayed accounts: 400000 events in 2.0 s (200000 events/s, resumed after 600000 events)\n',
    );
  });

  it('formats durations', () => {
    expect([0.2, 59.4, 125, 3_725].map(formatDuration)).toEqual(['0 s', '59 s', '2 min 5 s', '1 h 2 min']);
  });
});
