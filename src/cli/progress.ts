import { replayBatchSize, type ReplayProgress } from '../projections/replay';

/** Where progress goes: process.stdout, or anything shaped like it (tests). */
export interface ProgressOutput {
  write(text: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

export interface ProgressOptions {
  /** 'replay' or 'verify': the verb of the progress lines. */
  verb?: string;
  /** What is counted: events unless said otherwise (accounts, for balance verification). */
  unit?: string;
  /** Plain lines (not a TTY) are written at most this often. */
  lineIntervalMs?: number;
  /** A TTY line is redrawn at most this often. */
  redrawIntervalMs?: number;
  now?: () => number;
}

const pastTense: Record<string, string> = { replay: 'replayed', verify: 'verified' };
const maxBarWidth = 24;

/**
 * Progress of one projection's replay (or verify) at a time, without dependencies.
 * On a TTY: one line redrawn in place (\r) with a bar, events done / total, events/s and
 * an ETA. Otherwise: a plain line at most every 2 s, e.g.
 *   replay accounts: 120000/1000000 events, 85000 events/s, ETA 10 s
 * and, for both, a summary line per projection:
 *   replayed accounts: 1000000 events in 11.8 s (84746 events/s)
 */
export class ProgressReporter {
  private readonly verb: string;
  private readonly unit: string;
  private readonly lineIntervalMs: number;
  private readonly redrawIntervalMs: number;
  private readonly now: () => number;
  private projection = '';
  private startedAt = 0;
  /** Where this run started counting: replayProjection's `done` includes a resumed rebuild's earlier work. */
  private baseline: number | undefined;
  private lastWriteAt = -Infinity;
  private drawn = false;

  constructor(
    private readonly out: ProgressOutput = process.stdout,
    options: ProgressOptions = {},
  ) {
    this.verb = options.verb ?? 'replay';
    this.unit = options.unit ?? 'events';
    this.lineIntervalMs = options.lineIntervalMs ?? 2_000;
    this.redrawIntervalMs = options.redrawIntervalMs ?? 100;
    this.now = options.now ?? (() => performance.now());
  }

  private get tty(): boolean {
    return this.out.isTTY === true;
  }

  /** Call right before the projection's replay starts. */
  begin(projection: string): void {
    this.projection = projection;
    this.startedAt = this.now();
    this.baseline = undefined;
    this.lastWriteAt = -Infinity;
    this.drawn = false;
  }

  /** The onProgress callback of replayProjection / verifyProjection. */
  update(p: ReplayProgress): void {
    // The first report comes one batch (at most replayBatchSize events) after the start;
    // a resumed rebuild's `done` starts at what the killed run had done.
    this.baseline ??= p.done - Math.min(p.done, replayBatchSize);
    const now = this.now();
    const interval = this.tty ? this.redrawIntervalMs : this.lineIntervalMs;
    if (now - this.lastWriteAt < interval) return;
    this.lastWriteAt = now;
    this.write(p, now);
  }

  /** Call with the replay's result: draws the last state and prints the summary line. */
  finish(p: ReplayProgress): void {
    const now = this.now();
    if (this.tty) {
      if (this.baseline !== undefined) this.write(p, now);
      if (this.drawn) this.out.write('\n');
    }
    const events = this.eventsThisRun(p);
    const seconds = (now - this.startedAt) / 1000;
    const resumed = this.baseline ? `, resumed after ${this.baseline} events` : '';
    this.out.write(
      `${pastTense[this.verb] ?? `${this.verb}ed`} ${this.projection}: ${events} ${this.unit} in ${seconds.toFixed(1)} s ` +
        `(${rate(events, seconds)} ${this.unit}/s${resumed})\n`,
    );
  }

  /** Ends a redrawn line, so an error message starts on a line of its own. */
  abort(): void {
    if (this.tty && this.drawn) this.out.write('\n');
    this.drawn = false;
  }

  private eventsThisRun(p: ReplayProgress): number {
    return Math.max(0, p.done - (this.baseline ?? p.done));
  }

  private write(p: ReplayProgress, now: number): void {
    const seconds = (now - this.startedAt) / 1000;
    const events = this.eventsThisRun(p);
    const perSecond = seconds > 0 ? events / seconds : 0;
    const total = Math.max(p.total, p.done);
    const eta = perSecond > 0 ? formatDuration((total - p.done) / perSecond) : '?';
    if (!this.tty) {
      this.out.write(
        `${this.verb} ${this.projection}: ${p.done}/${total} ${this.unit}, ${rate(events, seconds)} ${this.unit}/s, ETA ${eta}\n`,
      );
      return;
    }
    const fraction = total === 0 ? 1 : p.done / total;
    const percent = `${Math.floor(fraction * 100)}%`.padStart(4);
    const figures = `${p.done}/${total} ${this.unit} ${rate(events, seconds)} ${this.unit}/s ETA ${eta}`;
    const width = (this.out.columns ?? 80) - 1;
    // The bar takes what the line has left (at most 24 characters), and goes when that is too little.
    const bar = Math.min(maxBarWidth, width - `${this.verb} ${this.projection} [] ${percent} ${figures}`.length);
    const filled = Math.round(fraction * bar);
    const drawn = bar >= 5 ? ` [${'#'.repeat(filled)}${'.'.repeat(bar - filled)}]` : '';
    const line = `${this.verb} ${this.projection}${drawn} ${percent} ${figures}`;
    this.out.write(`\r${line.length > width ? line.slice(0, width) : line}\x1b[K`);
    this.drawn = true;
  }
}

function rate(events: number, seconds: number): number {
  return seconds > 0 ? Math.round(events / seconds) : 0;
}

/** 7 s, 2 min 5 s, 1 h 3 min. */
export function formatDuration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
  return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
}
