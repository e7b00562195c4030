/** A subscriber fell this far behind the live stream and was disconnected. */
export class SubscriberTooSlowError extends Error {
  /** `behind`: how far, e.g. `10000 events`. */
  constructor(behind: string) {
    super(`the subscriber fell more than ${behind} behind; resubscribe with after: <last id seen>`);
    this.name = "SubscriberTooSlowError";
  }
}

/**
 * An unbounded-looking but bounded push/pull queue: producers push synchronously, the
 * single consumer pulls with `for await`. Overflow fails the consumer rather than growing
 * without limit; the consumer can resume from its last cursor.
 */
export class AsyncQueue<T> implements AsyncIterableIterator<T> {
  private readonly items: T[] = [];
  private readonly waiters: {
    resolve: (result: IteratorResult<T>) => void;
    reject: (error: unknown) => void;
  }[] = [];
  private closed = false;
  private failure: unknown = undefined;

  constructor(private readonly limit: number) {}

  push(item: T): void {
    if (this.closed) return;
    const waiter = this.waiters.shift();
    if (waiter) {
      waiter.resolve({ value: item, done: false });
    } else if (this.items.length >= this.limit) {
      this.fail(new SubscriberTooSlowError(`${this.limit} events`));
    } else {
      this.items.push(item);
    }
  }

  /** Items pushed and not pulled yet. */
  get size(): number {
    return this.items.length;
  }

  /** Keeps only the buffered items that pass `keep` (their order unchanged). */
  retain(keep: (item: T) => boolean): void {
    let kept = 0;
    for (const item of this.items) if (keep(item)) this.items[kept++] = item;
    this.items.length = kept;
  }

  fail(error: unknown): void {
    if (this.closed) return;
    this.closed = true;
    this.failure = error;
    this.items.length = 0;
    for (const waiter of this.waiters.splice(0)) waiter.reject(error);
  }

  next(): Promise<IteratorResult<T>> {
    if (this.items.length > 0) return Promise.resolve({ value: this.items.shift()!, done: false });
    if (this.failure !== undefined) return Promise.reject(this.failure);
    if (this.closed) return Promise.resolve({ value: undefined, done: true });
    return new Promise((resolve, reject) => this.waiters.push({ resolve, reject }));
  }

  return(): Promise<IteratorResult<T>> {
    this.closed = true;
    this.items.length = 0;
    for (const waiter of this.waiters.splice(0)) waiter.resolve({ value: undefined, done: true });
    return Promise.resolve({ value: undefined, done: true });
  }

  [Symbol.asyncIterator](): AsyncIterableIterator<T> {
    return this;
  }
}
