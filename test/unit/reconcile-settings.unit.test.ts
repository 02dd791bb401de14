import { loadConfig } from '../../src/config';
import { expiryJobId } from '../../src/jobs/queues';
import { parseSchedule, scheduleNames, scheduleVariable } from '../../src/jobs/settings';
import { configError } from '../support/config';

describe('reconciliation schedules', () => {
  it.each([
    ['30s', { every: 30_000 }],
    ['5m', { every: 300_000 }],
    ['1h', { every: 3_600_000 }],
    ['7d', { every: 604_800_000 }],
    ['1500ms', { every: 1_500 }],
    ['off', 'off'],
    ['*/5 * * * *', { pattern: '*/5 * * * *' }],
    ['0 30 2 * * 1-5', { pattern: '0 30 2 * * 1-5' }],
  ])('%s is a schedule', (text, schedule) => {
    expect(parseSchedule(text)).toEqual(schedule);
  });

  it.each([
    ['0s', /1s to 7d, not 0s/],
    ['500ms', /1s to 7d/],
    ['8d', /1s to 7d/],
    ['61 * * * *', /malformed cron pattern "61 \* \* \* \*"/],
    ['* * * *', /interval .* off, or a cron pattern/],
    ['soon', /interval .* off, or a cron pattern/],
    ['-5m', /interval .* off, or a cron pattern/],
  ])('%s is refused', (text, reason) => {
    const parsed = parseSchedule(text);
    expect(parsed).toEqual({ problem: expect.stringMatching(reason) });
  });

  it('every schedule has its variable and a valid default', () => {
    const { reconcile } = loadConfig({});
    expect(scheduleNames.map(scheduleVariable)).toContain('RECONCILE_CONSERVATION_EVENTS_EVERY');
    for (const name of scheduleNames) expect(reconcile.schedules[name]).not.toBe('off');
    expect(reconcile).toMatchObject({ prefix: 'ledger', repair: false, verifySlice: 10_000, lockDurationMs: 30_000 });
  });

  it('reads schedules, thresholds and flags from the environment', () => {
    const { reconcile } = loadConfig({
      RECONCILE_LAG_EVERY: '10s',
      RECONCILE_VERIFY_BALANCES_EVERY: '0 3 * * *',
      RECONCILE_EXPIRE_HOLDS_EVERY: 'off',
      RECONCILE_REPAIR: 'true',
      RECONCILE_STUCK_AFTER_SECONDS: '120',
      JOBS_PREFIX: 'ledger:eu-1',
    });
    expect(reconcile.schedules).toMatchObject({
      lag: { every: 10_000 },
      'verify-balances': { pattern: '0 3 * * *' },
      'expire-holds': 'off',
    });
    expect(reconcile).toMatchObject({ repair: true, stuckAfterMs: 120_000, prefix: 'ledger:eu-1' });
  });

  it('a bad schedule or threshold stops the start with a message naming the variable', () => {
    expect(configError({ RECONCILE_LAG_EVERY: '0s' })).toMatch(/RECONCILE_LAG_EVERY: an interval must be 1s to 7d/);
    expect(configError({ RECONCILE_CONSERVATION_EVERY: '99 * * * *' })).toMatch(
      /RECONCILE_CONSERVATION_EVERY: malformed cron pattern/,
    );
    expect(configError({ RECONCILE_REPAIR: 'yes' })).toMatch(/RECONCILE_REPAIR: must be true or false/);
    expect(configError({ RECONCILE_STUCK_AFTER_SECONDS: '0' })).toMatch(/RECONCILE_STUCK_AFTER_SECONDS/);
    expect(configError({ JOBS_PREFIX: 'has space' })).toMatch(/JOBS_PREFIX/);
    expect(configError({ JOBS_ATTEMPTS: '0' })).toMatch(/JOBS_ATTEMPTS/);
  });
});

describe('expiry job ids', () => {
  it('are derived from the transfer id, one per transfer, without the colon BullMQ refuses', () => {
    expect(expiryJobId('t-1')).toBe('expire-t-1');
    expect(expiryJobId('card:42')).toBe('expire-card%3A42');
    expect(expiryJobId('card%3A42')).not.toBe(expiryJobId('card:42'));
  });
});
