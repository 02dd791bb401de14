import { ProcessBacklog } from '../../src/commands/process-backlog';
import { createLogger } from '../../src/logger';

const logger = createLogger('silent');

/** A backlog whose process position the test moves by hand. */
function backlogOf(limit: number, maxWaitMs = 10_000) {
  const process = { at: 0n };
  const backlog = new ProcessBacklog({ limit, logger, maxWaitMs, pollMs: 1, processedUpTo: async () => process.at });
  return { backlog, process };
}

const settledState = async (p: Promise<unknown>) => {
  let state = 'pending';
  p.then(
    () => (state = 'admitted'),
    () => (state = 'refused'),
  );
  await new Promise((resolve) => setTimeout(resolve, 20));
  return state;
};

afterEach(() => jest.useRealTimers());

test('below the limit a write is admitted at once', async () => {
  const { backlog } = backlogOf(3);
  backlog.accepted(10n, 2);
  expect(backlog.backlog).toBe(2);
  await expect(backlog.admit()).resolves.toBeUndefined();
  backlog.close();
});

test('at the limit a write waits until the process passes enough of what was accepted', async () => {
  const { backlog, process } = backlogOf(3);
  backlog.accepted(10n, 2);
  backlog.accepted(20n, 2);
  const admitted = backlog.admit();
  expect(await settledState(admitted)).toBe('pending');
  process.at = 15n; // past the first write only: 2 left, below the limit
  await expect(admitted).resolves.toBeUndefined();
  expect(backlog.backlog).toBe(2);
  process.at = 20n;
  await new Promise((resolve) => setTimeout(resolve, 20));
  expect(backlog.backlog).toBe(0);
  backlog.close();
});

test('writes the process has already passed are not counted', async () => {
  const { backlog, process } = backlogOf(1);
  backlog.accepted(5n, 1);
  process.at = 5n;
  await backlog.admit();
  backlog.accepted(4n, 10);
  expect(backlog.backlog).toBe(0);
  backlog.close();
});

test('no room within the wait: OVERLOADED, and at once for every later write until the process moves', async () => {
  const { backlog, process } = backlogOf(1, 50);
  backlog.accepted(10n, 1);
  await expect(backlog.admit()).rejects.toMatchObject({ code: 'OVERLOADED' });
  // Stalled: a later write is refused without waiting its turn.
  jest.useFakeTimers();
  await expect(backlog.admit()).rejects.toMatchObject({ code: 'OVERLOADED' });
  jest.useRealTimers();
  process.at = 10n;
  await new Promise((resolve) => setTimeout(resolve, 20));
  await expect(backlog.admit()).resolves.toBeUndefined();
  backlog.close();
});

test('a process position that cannot be read keeps the writes waiting, then refuses them', async () => {
  const backlog = new ProcessBacklog({
    limit: 1,
    logger,
    maxWaitMs: 50,
    pollMs: 1,
    processedUpTo: () => Promise.reject(new Error('database unreachable')),
  });
  backlog.accepted(10n, 1);
  await expect(backlog.admit()).rejects.toMatchObject({ code: 'OVERLOADED' });
  backlog.close();
});

test('the limit must be a positive whole number', () => {
  for (const limit of [0, -1, 1.5, NaN])
    expect(() => new ProcessBacklog({ limit, logger, processedUpTo: async () => 0n })).toThrow(RangeError);
});
