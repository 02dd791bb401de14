import type { Pool } from 'pg';
import { Gauge } from 'prom-client';
import { loadCheckpoint } from '../db/checkpoints';
import type { Logger } from '../logger';
import { Overloaded } from './group-commit';
import { transferProcessName } from './transfer-process';

/** How long a write waits for the backlog to fall below its limit before it is refused. */
export const maxAdmissionWaitMs = 5_000;
const defaultPollMs = 20;

const backlogGauge = new Gauge({
  name: 'ledger_ingress_backlog_transfers',
  help: 'Transfer requests this instance accepted that the transfer process has not yet read',
});

export interface ProcessBacklogOptions {
  /** Ingress waits while this many accepted transfers are not yet read by the transfer process. */
  limit: number;
  /** Where the transfer process has got to (its checkpoint). */
  processedUpTo: () => Promise<bigint>;
  logger: Logger;
  maxWaitMs?: number;
  pollMs?: number;
}

/**
 * Admission control for ingress. Accepting transfers faster than the transfer process
 * settles them only builds a queue: the time from request to COMMITTED grows without bound,
 * and the CPU spent accepting is taken from the process and the projections. So ingress
 * counts what it has stored and the process has not read yet, and before each write waits
 * while that backlog is at its limit. A closed-loop client then runs at the rate the ledger
 * commits. A wait is bounded: when the process makes no room within `maxWaitMs` (stopped,
 * dead, or its database unreachable) the write is refused with OVERLOADED, and so is every
 * later one until the process moves again, instead of each waiting in turn.
 *
 * The backlog is read from the process's checkpoint, polled only while there is a backlog,
 * so it works wherever the process runs (a worker thread, another instance).
 */
export class ProcessBacklog {
  /** Stored ingress writes the process has not passed yet, in position order. */
  private readonly unread: { position: bigint; count: number }[] = [];
  private size = 0;
  private processed = 0n;
  private stalled = false;
  private closed = false;
  private polling: NodeJS.Timeout | undefined;
  private readonly roomWaiters = new Set<() => void>();
  private readonly maxWaitMs: number;
  private readonly pollMs: number;

  constructor(private readonly options: ProcessBacklogOptions) {
    if (!Number.isInteger(options.limit) || options.limit < 1)
      throw new RangeError(`backlog limit must be a positive integer, got ${options.limit}`);
    this.maxWaitMs = options.maxWaitMs ?? maxAdmissionWaitMs;
    this.pollMs = options.pollMs ?? defaultPollMs;
  }

  /** Transfers accepted and not yet read by the process. */
  get backlog(): number {
    return this.size;
  }

  /** Records `count` transfers stored by one ingress write ending at `position`. */
  accepted(position: bigint, count: number): void {
    if (this.closed || count <= 0 || position <= this.processed) return;
    this.unread.push({ position, count });
    this.size += count;
    backlogGauge.inc(count);
    this.poll();
  }

  /**
   * Resolves when there is room for another write; throws OVERLOADED when none came within
   * the wait, or at once while the process is known to be stalled.
   */
  async admit(): Promise<void> {
    if (this.size < this.options.limit) return;
    if (this.stalled) throw new Overloaded(`the transfer process is ${this.size} transfers behind`);
    const room = await new Promise<boolean>((resolve) => {
      const done = (ok: boolean) => {
        clearTimeout(timer);
        this.roomWaiters.delete(onRoom);
        resolve(ok);
      };
      const onRoom = () => done(true);
      const timer = setTimeout(() => done(false), this.maxWaitMs);
      this.roomWaiters.add(onRoom);
    });
    if (room) return;
    if (!this.stalled) {
      this.stalled = true;
      this.options.logger.warn(
        { backlog: this.size, waitedMs: this.maxWaitMs },
        'the transfer process made no room for new transfers; refusing them until it moves',
      );
    }
    throw new Overloaded(`the transfer process is ${this.size} transfers behind`);
  }

  /** Stops polling; waiting writes time out as usual. */
  close(): void {
    this.closed = true;
    clearTimeout(this.polling);
    this.polling = undefined;
    backlogGauge.dec(this.size);
    this.unread.length = 0;
    this.size = 0;
  }

  private poll(): void {
    if (this.polling !== undefined || this.size === 0) return;
    this.polling = setTimeout(() => void this.refresh(), this.pollMs);
    this.polling.unref();
  }

  private async refresh(): Promise<void> {
    try {
      this.passed(await this.options.processedUpTo());
    } catch (err) {
      this.options.logger.warn({ err }, 'could not read how far the transfer process has got');
    }
    this.polling = undefined;
    if (!this.closed) this.poll();
  }

  private passed(position: bigint): void {
    if (position <= this.processed) return;
    this.processed = position;
    this.stalled = false;
    let freed = 0;
    while (this.unread.length > 0 && this.unread[0].position <= position) freed += this.unread.shift()!.count;
    this.size -= freed;
    backlogGauge.dec(freed);
    if (this.size < this.options.limit) for (const wake of [...this.roomWaiters]) wake();
  }
}

/** Admission control against the transfer process's checkpoint in `pool`; none when `limit` is 0. */
export function processBacklog(pool: Pool, limit: number, logger: Logger): ProcessBacklog | undefined {
  if (limit === 0) return undefined;
  return new ProcessBacklog({ limit, logger, processedUpTo: () => loadCheckpoint(pool, transferProcessName) });
}
