/** What every benchmark shares: account ids, random picks, number formatting and verdicts. */

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
