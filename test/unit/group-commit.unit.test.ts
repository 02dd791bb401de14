import { GroupCommit, Overloaded } from '../../src/commands/group-commit';

/** A write that records each group it gets and finishes when the test says so. */
function recordingWrite() {
  const groups: number[][] = [];
  const finish: (() => void)[] = [];
  const write = (items: number[]) =>
    new Promise<number[]>((resolve) => {
      groups.push(items);
      finish.push(() => resolve(items.map((i) => i * 10)));
    });
  return { groups, finish, write };
}

const tick = () => new Promise((resolve) => setImmediate(resolve));

test('the first caller writes at once; callers arriving meanwhile share the next write', async () => {
  const { groups, finish, write } = recordingWrite();
  const commit = new GroupCommit(write, 100, 1_000);
  const first = commit.submit([1]);
  await tick();
  expect(groups).toEqual([[1]]);
  const later = [commit.submit([2, 3]), commit.submit([4])];
  await tick();
  expect(groups).toEqual([[1]]);
  finish[0]();
  await expect(first).resolves.toEqual([10]);
  await tick();
  expect(groups).toEqual([[1], [2, 3, 4]]);
  finish[1]();
  // Every caller of a group gets the group's result.
  await expect(Promise.all(later)).resolves.toEqual([
    [20, 30, 40],
    [20, 30, 40],
  ]);
});

test('a group takes callers up to maxItems; a larger caller goes alone', async () => {
  const { groups, finish, write } = recordingWrite();
  const commit = new GroupCommit(write, 3, 1_000);
  const all = [commit.submit([0]), commit.submit([1, 2]), commit.submit([3, 4]), commit.submit([5, 6, 7, 8])];
  for (let i = 0; i < 4; i++) {
    await tick();
    finish[i]?.();
  }
  await Promise.all(all);
  expect(groups).toEqual([[0], [1, 2], [3, 4], [5, 6, 7, 8]]);
});

test('a failed write fails every caller in its group, and the next group still goes', async () => {
  let calls = 0;
  const commit = new GroupCommit(
    async (items: number[]) => {
      calls++;
      if (items.includes(13)) throw new Error('unlucky');
      return items;
    },
    10,
    1_000,
  );
  const results = await Promise.allSettled([commit.submit([1]), commit.submit([13]), commit.submit([2])]);
  expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'rejected']);
  await expect(commit.submit([3])).resolves.toEqual([3]);
  expect(calls).toBe(3);
});

test('past maxWaiting items waiting behind the write in flight, a caller is refused (Overloaded)', async () => {
  const { groups, finish, write } = recordingWrite();
  const commit = new GroupCommit(write, 100, 4);
  const inFlight = commit.submit([1, 2, 3]);
  const queued = [commit.submit([4, 5]), commit.submit([6, 7])];
  await expect(commit.submit([8])).rejects.toBeInstanceOf(Overloaded);
  await tick();
  finish[0]();
  await inFlight;
  await tick();
  // The waiting ones are now being written: there is room again.
  const later = commit.submit([8]);
  finish[1]();
  await Promise.all(queued);
  await tick();
  finish[2]();
  await expect(later).resolves.toEqual([80]);
  expect(groups).toEqual([[1, 2, 3], [4, 5, 6, 7], [8]]);
});
