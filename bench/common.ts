/** What every benchmark shares: account ids, random picks, number formatting, verdicts and CPU readings. */
import { readdirSync, readFileSync } from 'node:fs';

export const accountId = (i: number) => `acc-${i.toString().padStart(5, '0')}`;
export const randomInt = (n: number) => Math.floor(Math.random() * n);
/** A whole number with thousands separators, the way every benchmark prints figures. */
export const fmt = (n: number) => Math.round(n).toLocaleString('en-US');

/** Nearest-rank percentile of ascending `sorted` (NaN when empty). */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

export interface Target {
  atLeast?: number;
  atMost?: number;
}

/** "  (target ≥ N: met)" or "MISSED"; empty without a target. */
export function verdict(value: number, target: Target | undefined): string {
  if (target?.atLeast !== undefined)
    return `  (target ≥ ${fmt(target.atLeast)}: ${value >= target.atLeast ? 'met' : 'MISSED'})`;
  if (target?.atMost !== undefined)
    return `  (target ≤ ${fmt(target.atMost)}: ${value <= target.atMost ? 'met' : 'MISSED'})`;
  return '';
}

/** One figure on a line: its name padded to `nameWidth`, the value, the unit and the verdict. */
export function report(name: string, value: number, unit: string, target?: Target, nameWidth = 56): void {
  console.log(`${name.padEnd(nameWidth)} ${fmt(value).padStart(10)} ${unit}${verdict(value, target)}`);
}

/**
 * A whole-number setting from the environment, in [min, max]; unset or empty: `fallback`.
 * Anything else stops the benchmark with a message naming the variable.
 */
export function envNumber(name: string, fallback: number, min: number, max: number): number {
  const text = process.env[name]?.trim();
  if (text === undefined || text === '') return fallback;
  const value = /^[0-9][0-9_]*$/.test(text) ? Number(text.replace(/_/g, '')) : NaN;
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    console.error(`${name} must be a whole number from ${min} to ${max}, got ${JSON.stringify(text)}`);
    process.exit(2);
  }
  return value;
}

/** Which processes a CPU reading counts: by pid and command name (as /proc/<pid>/stat gives it). */
export type ProcessFilter = (pid: number, command: string) => boolean;
/** The PostgreSQL server's processes on this machine. */
export const isPostgres: ProcessFilter = (_pid, command) => command.startsWith('postgres');

/** CPU ticks (1/100 s) each chosen process has used so far, by pid (Linux: from /proc). */
export function cpuTicks(select: ProcessFilter): Map<number, number> {
  const ticks = new Map<number, number>();
  for (const pid of readdirSync('/proc').filter((name) => /^\d+$/.test(name))) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const close = stat.lastIndexOf(')');
      if (!select(Number(pid), stat.slice(stat.indexOf('(') + 1, close))) continue;
      const fields = stat.slice(close + 2).split(' ');
      ticks.set(Number(pid), Number(fields[11]) + Number(fields[12])); // utime, stime
    } catch {
      // exited meanwhile
    }
  }
  return ticks;
}

/** CPU seconds the chosen processes used since `before` (those that exited meanwhile are missed). */
export function cpuSecondsSince(before: Map<number, number>, select: ProcessFilter): number {
  let ticks = 0;
  for (const [pid, now] of cpuTicks(select)) ticks += Math.max(0, now - (before.get(pid) ?? 0));
  return ticks / 100;
}

/** Busy and total jiffies of the whole machine (all cores), from /proc/stat. */
export function machineCpu(): { busy: number; total: number } {
  const fields = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  const total = fields.reduce((a, b) => a + b, 0);
  return { busy: total - fields[3] - (fields[4] ?? 0), total };
}
