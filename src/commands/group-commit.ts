import { LedgerError } from '../domain/errors';

/**
 * Group commit: callers that write at the same time share one write. The first caller
 * writes at once; callers arriving while a write is in flight wait for it and then go
 * together in the next one. So an idle system adds no delay, and a busy one turns many
 * small appends into few large ones (one round trip, one transaction, one fsync).
 */
/** The ledger has more work than it can take now: the caller should retry shortly. */
export class Overloaded extends LedgerError {
  constructor(why: string) {
    super('OVERLOADED', `${why}; retry shortly`);
  }
}

export class GroupCommit<T, R> {
  private queue: { items: T[]; resolve: (result: R) => void; reject: (err: unknown) => void }[] = [];
  private waiting = 0;
  private writing = false;

  /**
   * @param write writes a group of items (all callers' items, in arrival order); every
   *   caller in the group gets its result, or its error.
   * @param maxItems a group takes callers while it holds at most this many items (a
   *   single caller with more still goes, alone).
   * @param maxWaiting past this many items waiting, a caller is refused (Overloaded)
   *   rather than queued: under overload the queue must not grow without bound.
   */
  constructor(
    private readonly write: (items: T[]) => Promise<R>,
    private readonly maxItems: number,
    private readonly maxWaiting: number,
  ) {}

  submit(items: T[]): Promise<R> {
    if (this.waiting > 0 && this.waiting + items.length > this.maxWaiting) {
      return Promise.reject(new Overloaded(`${this.waiting} items are already waiting to be written`));
    }
    this.waiting += items.length;
    return new Promise<R>((resolve, reject) => {
      this.queue.push({ items, resolve, reject });
      if (!this.writing) void this.drain();
    });
  }

  private async drain(): Promise<void> {
    this.writing = true;
    while (this.queue.length > 0) {
      const group = [this.queue.shift()!];
      let count = group[0].items.length;
      while (this.queue.length > 0 && count + this.queue[0].items.length <= this.maxItems) {
        const next = this.queue.shift()!;
        count += next.items.length;
        group.push(next);
      }
      this.waiting -= count;
      try {
        const result = await this.write(group.flatMap((g) => g.items));
        for (const g of group) g.resolve(result);
      } catch (err) {
        for (const g of group) g.reject(err);
      }
    }
    this.writing = false;
  }
}
