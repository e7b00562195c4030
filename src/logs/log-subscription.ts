import { MAX_LOG_BYTES } from "../supervisor/supervisor.service.js";
import type { LogRead, LogStart } from "../supervisor/process-log.js";
import { LogCursor, type FollowedChunk, type FollowedRead } from "./log-cursor.js";

/** Reads the followed log from an offset (or its end), at most `bytes`. */
export type ReadLog = (from: LogStart, bytes: number) => Promise<LogRead>;

/** Catch-up reads one subscriber makes before it takes the shared reads again. */
const MAX_CATCH_UP_READS = 64;

/**
 * One subscriber of a followed log: the reads the follower shares, and its own catch-up
 * reads (from its `fromOffset`, or across a gap), turned into the chunks it has not had,
 * in order, one read handled at a time.
 *
 * A subscriber that does not take what it is sent holds at most `maxPendingBytes` of it:
 * beyond that, what it holds is dropped and an empty chunk in its place says which bytes
 * were left out (`overflow`), rather than the replica holding a slow client's backlog
 * without end.
 */
export class LogSubscription implements AsyncIterableIterator<FollowedChunk> {
  private readonly cursor: LogCursor;
  private readonly pending: FollowedChunk[] = [];
  private pendingBytes = 0;
  private readonly waiters: { resolve: (r: IteratorResult<FollowedChunk>) => void; reject: (e: unknown) => void }[] =
    [];
  private work: Promise<void> = Promise.resolve();
  private closed = false;
  private failure: unknown = undefined;

  constructor(
    private readonly read: ReadLog,
    from: number,
    private readonly onClose: (subscription: LogSubscription) => void,
    private readonly maxPendingBytes: number,
  ) {
    this.cursor = new LogCursor(from);
  }

  /** Reads from its own offset up to where the log ends now (its `fromOffset` to the present). */
  catchUp(until?: number): Promise<void> {
    return this.enqueue(() => this.readUntil(until));
  }

  /** A read the follower made; handled after whatever this subscriber is doing. */
  offer(read: FollowedRead): void {
    void this.enqueue(async () => {
      const step = this.cursor.accept(read);
      if (step.kind === "gap") {
        await this.readUntil(step.to);
        this.take(this.cursor.accept(read, { gapAllowed: false }));
      } else {
        this.take(step);
      }
    });
  }

  fail(error: unknown): void {
    if (this.closed) return;
    this.failure = error;
    this.closed = true;
    this.pending.length = 0;
    for (const waiter of this.waiters.splice(0)) waiter.reject(error);
    this.onClose(this);
  }

  next(): Promise<IteratorResult<FollowedChunk>> {
    const chunk = this.pending.shift();
    if (chunk) {
      this.pendingBytes -= chunk.text.length;
      return Promise.resolve({ value: chunk, done: false });
    }
    if (this.failure !== undefined) return Promise.reject(this.failure);
    if (this.closed) return Promise.resolve({ value: undefined, done: true });
    return new Promise((resolve, reject) => this.waiters.push({ resolve, reject }));
  }

  return(): Promise<IteratorResult<FollowedChunk>> {
    if (!this.closed) {
      this.closed = true;
      this.pending.length = 0;
      for (const waiter of this.waiters.splice(0)) waiter.resolve({ value: undefined, done: true });
      this.onClose(this);
    }
    return Promise.resolve({ value: undefined, done: true });
  }

  [Symbol.asyncIterator](): AsyncIterableIterator<FollowedChunk> {
    return this;
  }

  private enqueue(step: () => Promise<void>): Promise<void> {
    const run = this.work.then(async () => {
      if (!this.closed) await step();
    });
    this.work = run.catch((error: unknown) => this.fail(error));
    return this.work;
  }

  /** Own reads from the cursor until `until` (or the end of the log), delivered as they come. */
  private async readUntil(until?: number): Promise<void> {
    for (let reads = 0; reads < MAX_CATCH_UP_READS && !this.closed; reads++) {
      const from = this.cursor.offset;
      if (until !== undefined && from >= until) return;
      const read = await this.read(from, MAX_LOG_BYTES);
      this.take(this.cursor.accept(read, { gapAllowed: false }));
      if (read.end >= read.size || (read.end === from && !read.rotated)) return;
    }
  }

  private take(step: ReturnType<LogCursor["accept"]>): void {
    if (step.kind !== "deliver" || this.closed) return;
    const chunk = step.chunk;
    const waiter = this.waiters.shift();
    if (waiter) {
      waiter.resolve({ value: chunk, done: false });
      return;
    }
    if (this.pendingBytes + chunk.text.length <= this.maxPendingBytes) {
      this.pending.push(chunk);
      this.pendingBytes += chunk.text.length;
      return;
    }
    // Too much held for a subscriber that does not take it: all of it goes, and one empty
    // chunk in its place says which bytes (a later drop widens it).
    const dropped = [...this.pending, chunk];
    const from = dropped[0]!.start;
    this.pending.length = 0;
    this.pendingBytes = 0;
    this.pending.push({
      text: "",
      start: from,
      end: chunk.end,
      size: chunk.size,
      rotated: dropped.some((d) => d.rotated),
      overflow: true,
      message: `${chunk.end - from} bytes (${from} to ${chunk.end}) were left out: this subscriber did not keep up`,
    });
  }
}
