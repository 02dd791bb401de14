/**
 * What a run of a reconciliation job found: counts, and the problems (each named by what it
 * is about), the first `maxRecordedProblems` kept and the rest only counted.
 */
export const maxRecordedProblems = 100;

export type ProblemDetail = string | number | boolean | null;

export interface Problem {
  /** What is wrong, e.g. `balance-mismatch`, `orphaned-hold`, `conservation`, `lag`. */
  kind: string;
  /** What it is about: an account, a transfer, a currency, a subscriber. */
  subject: string;
  message: string;
  details?: Record<string, ProblemDetail>;
  /** The run put it right (expired the hold, drove the transfer on, re-projected the account). */
  repaired?: boolean;
}

export type Counts = Record<string, number | string>;

export interface JobReport {
  counts: Counts;
  problems: Problem[];
  /** Every problem found, recorded or not. */
  problemsTotal: number;
  /** Every problem found, by kind. */
  problemsByKind: Record<string, number>;
}

/** Collects a run's findings, keeping the first `maxRecordedProblems` problems. */
export class Findings {
  readonly counts: Counts = {};

  /** `counted`: the counts every report of the job carries, from 0. */
  constructor(counted: readonly string[] = []) {
    for (const name of counted) this.counts[name] = 0;
  }

  readonly problems: Problem[] = [];
  problemsTotal = 0;
  private readonly byKind: Record<string, number> = {};

  count(name: string, by = 1): void {
    this.counts[name] = Number(this.counts[name] ?? 0) + by;
  }

  set(name: string, value: number | string): void {
    this.counts[name] = value;
  }

  problem(problem: Problem): void {
    this.problemsTotal++;
    this.byKind[problem.kind] = (this.byKind[problem.kind] ?? 0) + 1;
    if (this.problems.length < maxRecordedProblems) this.problems.push(problem);
  }

  report(): JobReport {
    return {
      counts: this.counts,
      problems: this.problems,
      problemsTotal: this.problemsTotal,
      problemsByKind: this.byKind,
    };
  }
}
