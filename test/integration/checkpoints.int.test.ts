import { loadCheckpoint, saveCheckpoint, saveCheckpointUnflushed } from '../../src/db/checkpoints';
import { createTestDatabase, type TestDatabase } from '../support/database';

describe('checkpoints', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    // One connection: what a save leaves on it is what the next query gets.
    db = await createTestDatabase(1);
  });
  afterAll(() => db.drop());

  it.each([
    ['saveCheckpoint', saveCheckpoint],
    ['saveCheckpointUnflushed', saveCheckpointUnflushed],
  ])('%s moves a checkpoint forward, never back', async (name, save) => {
    expect(await loadCheckpoint(db.pool, name)).toBe(0n);
    await save(db.pool, name, 10n);
    expect(await loadCheckpoint(db.pool, name)).toBe(10n);
    await save(db.pool, name, 7n);
    expect(await loadCheckpoint(db.pool, name)).toBe(10n);
    await save(db.pool, name, 12n);
    expect(await loadCheckpoint(db.pool, name)).toBe(12n);
  });

  it('an unflushed save turns the flush off for its own transaction only', async () => {
    const setting = async () =>
      (await db.pool.query<{ synchronous_commit: string }>('show synchronous_commit')).rows[0].synchronous_commit;
    await db.pool.query('set synchronous_commit = on');
    await saveCheckpointUnflushed(db.pool, 'scoped', 1n);
    expect(await setting()).toBe('on');
  });
});
