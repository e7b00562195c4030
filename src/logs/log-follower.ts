import type { Logger } from "../logger.js";
import { MAX_LOG_BYTES } from "../supervisor/supervisor.service.js";
import { Periodic } from "../watch/periodic.js";
import type { FollowedRead } from "./log-cursor.js";
import { LogSubscription, type ReadLog } from "./log-subscription.js";

export interface LogFollowerSettings {
  /** The pause between two polls (from the end of one to the start of the next). @default 500 */
  readonly intervalMs: number;
  /** Reads one poll makes at most before it skips what is left. @default 4 */
  readonly maxReadsPerPoll: number;
  /** What one subscriber may hold undelivered. @default 1 MiB */
  readonly maxPendingBytes: number;
}

export const DEFAULT_FOLLOWER_SETTINGS: LogFollowerSettings = {
  intervalMs: 500,
  maxReadsPerPoll: 4,
  maxPendingBytes: 1024 * 1024,
};

/**
 * One poll loop over one program's stdout or stderr on this replica, shared by all its
 * subscribers: every `intervalMs` (after the previous poll ended) it reads what was written
 * since its offset and offers it to each subscriber. It starts with its first subscriber,
 * anchored at the log's end then, and stops when the last one leaves.
 *
 * A log growing faster than `maxReadsPerPoll` reads of 64 KiB a poll is skipped ahead to
 * its end, and the skip is offered as such; a rotation is detected by the read
 * (`rotated`); an error reading it (supervisord away, program gone) ends every
 * subscription with that error, and they may resubscribe from the offset they had. The
 * loop is a {@link Periodic}: never two polls at once, the next one `intervalMs` after the
 * previous ended.
 */
export class LogFollower {
  private readonly subscribers = new Set<LogSubscription>();
  private offset: number | null = null;
  private readonly loop: Periodic<void>;
  private stopped = false;
  /** Subscribers on their way in (waiting for the anchor): the loop must not stop under them. */
  private joining = 0;

  constructor(
    private readonly read: ReadLog,
    private readonly onIdle: () => void,
    private readonly logger: Logger,
    private readonly settings: LogFollowerSettings = DEFAULT_FOLLOWER_SETTINGS,
  ) {
    this.loop = new Periodic("log follower", settings.intervalMs, () => this.poll(), logger);
  }

  /** Whether it still takes subscribers (it stops for good when its last one leaves). */
  get active(): boolean {
    return !this.stopped;
  }

  /**
   * A subscriber from `fromOffset` (null: from the end of the log as it is now). It first
   * reads from there to the present itself, then takes the shared reads.
   */
  async subscribe(fromOffset: number | null): Promise<LogSubscription> {
    this.joining++;
    let anchor: number;
    try {
      anchor = await this.anchor();
    } finally {
      this.joining--;
    }
    const subscription = new LogSubscription(
      this.read,
      fromOffset ?? anchor,
      (left) => this.leave(left),
      this.settings.maxPendingBytes,
    );
    if (this.stopped) {
      // The replica is stopping.
      void subscription.return();
      return subscription;
    }
    this.subscribers.add(subscription);
    if (fromOffset !== null) void subscription.catchUp();
    this.loop.start();
    return subscription;
  }

  get subscriberCount(): number {
    return this.subscribers.size;
  }

  /** Stops it if nobody follows it (after a first subscriber could not join). */
  stopIfIdle(): void {
    if (this.subscribers.size === 0 && this.joining === 0 && !this.stopped) this.idle();
  }

  /** Stops polling and ends every subscription (the replica stops). */
  async stop(): Promise<void> {
    this.stopped = true;
    for (const subscription of [...this.subscribers]) void subscription.return();
    await this.loop.stop();
  }

  /** The log's end when the first subscriber came: where the shared reads begin. */
  private async anchor(): Promise<number> {
    if (this.offset === null) {
      const read = await this.read("end", MAX_LOG_BYTES);
      this.offset ??= read.size;
    }
    return this.offset;
  }

  private leave(subscription: LogSubscription): void {
    this.subscribers.delete(subscription);
    if (this.subscribers.size > 0 || this.joining > 0 || this.stopped) return;
    this.idle();
  }

  /** Nobody follows it any more: it stops for good (a poll under way ends on its own). */
  private idle(): void {
    this.stopped = true;
    void this.loop.stop();
    this.onIdle();
  }

  private async poll(): Promise<void> {
    try {
      for (let reads = 0; reads < this.settings.maxReadsPerPoll && !this.stopped; reads++) {
        const read = await this.read(this.offset!, MAX_LOG_BYTES);
        if (read.text !== "" || read.rotated) this.offer(read);
        const progressed = read.end !== this.offset || read.rotated;
        this.offset = read.end;
        if (read.end >= read.size || !progressed) return;
        if (reads === this.settings.maxReadsPerPoll - 1) {
          // Still behind after a poll's worth of reads: leave the rest out, and say so.
          this.offer({ text: "", start: read.end, end: read.size, size: read.size, rotated: false, skipped: true });
          this.offset = read.size;
        }
      }
    } catch (error) {
      this.logger.warn({ reason: (error as Error).message }, "could not follow a log; its subscriptions end");
      for (const subscription of [...this.subscribers]) subscription.fail(error);
    }
  }

  private offer(read: FollowedRead): void {
    for (const subscription of this.subscribers) subscription.offer(read);
  }
}
