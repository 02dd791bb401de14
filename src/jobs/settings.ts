/**
 * The reconciler's configuration (src/config.ts reads it from the environment): when each
 * job runs, and the thresholds the jobs judge by.
 */
import { CronExpressionParser } from 'cron-parser';

/** The jobs, by the names `ledger reconcile` and the admin routes take. */
export const reconcileJobNames = [
  'expire-holds',
  'resume-stuck',
  'verify-balances',
  'conservation',
  'lag',
  'expiring-holds',
] as const;
export type ReconcileJobName = (typeof reconcileJobNames)[number];

export function isReconcileJobName(name: string): name is ReconcileJobName {
  return (reconcileJobNames as readonly string[]).includes(name);
}

/**
 * The recurring runs: one job scheduler each. Conservation runs twice: over the read models
 * often, and over the event store itself (slower, independent of every projection) rarely.
 */
export const scheduleNames = [...reconcileJobNames, 'conservation-events'] as const;
export type ScheduleName = (typeof scheduleNames)[number];

/** A fixed interval, a cron pattern (UTC), or no recurring run. */
export type Schedule = { every: number } | { pattern: string } | 'off';

export interface ReconcileSettings {
  /** BullMQ's key prefix in Redis: ledgers sharing one Redis need different prefixes. */
  prefix: string;
  schedules: Record<ScheduleName, Schedule>;
  /** A transfer in a non-terminal step (other than a pending transfer's HELD) this long is stuck. */
  stuckAfterMs: number;
  /** The backstop expires pending transfers this long past their expiry (their own job had the time first). */
  expiryGraceMs: number;
  /** Accounts verified per scheduled run, resuming where the last run stopped; 0: every account each run. */
  verifySlice: number;
  /** Scheduled balance verification re-projects the accounts it finds wrong. */
  repair: boolean;
  /** A subscriber further behind than this (oldest unprocessed event's age) raises the lag alarm. */
  lagMaxSeconds: number;
  /** Holds expiring within this are reported by expiring-holds. */
  expiringWithinMs: number;
  /** A job whose worker stops renewing its lock this long is stalled, and run again by another worker. */
  lockDurationMs: number;
  /** Attempts of a failed job, with exponential backoff from `backoffMs`. */
  attempts: number;
  backoffMs: number;
}

export const defaultSchedules: Record<ScheduleName, string> = {
  'expire-holds': '1m',
  'resume-stuck': '1m',
  'verify-balances': '15m',
  conservation: '1m',
  'conservation-events': '6h',
  lag: '30s',
  'expiring-holds': '5m',
};

/** A schedule's environment variable: RECONCILE_<NAME>_EVERY. */
export function scheduleVariable(name: ScheduleName): string {
  return `RECONCILE_${name.toUpperCase().replace(/-/g, '_')}_EVERY`;
}

const unitMs = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;
const minIntervalMs = 1_000;
const maxIntervalMs = 7 * unitMs.d;

/**
 * `30s`, `5m`, `1h`, `1d` (and `ms`): an interval; `off`; or a five- or six-field cron
 * pattern. Returns the schedule, or the reason the text is not one.
 */
export function parseSchedule(text: string): Schedule | { problem: string } {
  const trimmed = text.trim();
  if (trimmed === 'off') return 'off';
  const interval = /^([0-9]+)(ms|s|m|h|d)$/.exec(trimmed);
  if (interval) {
    const ms = Number(interval[1]) * unitMs[interval[2] as keyof typeof unitMs];
    if (ms < minIntervalMs || ms > maxIntervalMs) {
      return { problem: `an interval must be 1s to 7d, not ${trimmed}` };
    }
    return { every: ms };
  }
  const fields = trimmed.split(/\s+/).length;
  if (fields < 5 || fields > 6) {
    return { problem: `must be an interval (30s, 5m, 1h), off, or a cron pattern; ${JSON.stringify(trimmed)} is none` };
  }
  try {
    CronExpressionParser.parse(trimmed, { tz: 'UTC' });
  } catch (err) {
    return { problem: `malformed cron pattern ${JSON.stringify(trimmed)}: ${(err as Error).message}` };
  }
  return { pattern: trimmed };
}

export function describeSchedule(schedule: Schedule): string {
  if (schedule === 'off') return 'off';
  return 'every' in schedule ? `every ${schedule.every / 1000} s` : `cron ${schedule.pattern} (UTC)`;
}
