import type { Clock } from "../clock.js";
import type { Logger } from "../logger.js";
import type { EventBus } from "./event-bus.js";
import { fromWire, type ProcessEventRecord } from "./process-event.js";

/** An inclusive range of event ids. */
export interface IdRange {
  readonly from: bigint;
  readonly to: bigint;
}

/** What the feed needs of the event log. */
export interface EventLogReader {
  /**
   * Recorded events with an id above `after` or within one of `ranges`, oldest first, at
   * most `limit`.
   */
  readNewAndLate(after: bigint, ranges: readonly IdRange[], limit: number): Promise<ProcessEventRecord[]>;
  /** The ids of the newest `count` events at or below `upTo`, newest first. */
  idsUpTo(upTo: bigint, count: number): Promise<bigint[]>;
}

export interface EventFeedOptions {
  /**
   * How often the log is read while anyone listens: the longest an event recorded by
   * another replica (without Redis), or lost by Redis, waits before it is delivered.
   * @default 500
   */
  readonly pollIntervalMs?: number;
  /**
   * How long a missing id below delivered ones is waited for: a transaction that took
   * its id earlier may commit later; after this long the id is taken for one that never
   * commits (a rollback). Longer than any transaction can run.
   * @default 30000
   */
  readonly holeTimeoutMs?: number;
  /** Events read per query. @default 500 */
  readonly pageSize?: number;
  /**
   * How long newer events wait for an id missing just below them (a transaction that took
   * its id first and commits a moment after the next): so that subscribers see ids in
   * order, as a resume cursor expects. After this long they go, and the missing one is
   * delivered late if it ever commits. @default 1000
   */
  readonly reorderWindowMs?: number;
}

export type FeedListener = (event: ProcessEventRecord) => void;

/** Ids not seen yet below the highest one delivered. */
interface Gap {
  from: bigint;
  to: bigint;
  /** When the feed first missed them. */
  readonly since: number;
}

/** Gaps waited for at once; beyond this the oldest is given up. */
const MAX_GAPS = 100;
/**
 * How far below its starting point a feed that starts looks for ids still missing
 * (transactions that took their id before it started and commit after).
 */
const START_LOOKBACK = 200;

/**
 * One replica's feed of recorded events: every event of the log, each delivered once to
 * this replica's listeners, whichever replica recorded it and whether or not Redis
 * carried it.
 *
 * Two sources feed it. The bus (Redis pub/sub across replicas, or memory for one) is the
 * fast path. The log itself is the truth: while anyone listens, it is read for what came
 * after the highest id delivered, on an interval, at once when the bus reconnects, and at
 * once when a live event arrives with ids missing below it (so that the missing ones, if
 * committed, are delivered before it). One read serves every listener of the replica.
 *
 * Ids are allocated at insert and transactions commit in any order, so an id can be
 * missing for a while (a transaction still running) or for ever (a rollback). The feed
 * keeps such gaps, reads them again with every read, and gives a gap up after
 * `holeTimeoutMs`. Events above a gap younger than `reorderWindowMs` wait for it, so that
 * a commit a moment late still comes in order; one later than that is delivered when it
 * appears, after newer ones.
 */
export class EventFeed {
  private readonly listeners = new Set<FeedListener>();
  private readonly pollIntervalMs: number;
  private readonly holeTimeoutMs: number;
  private readonly pageSize: number;
  private readonly reorderWindowMs: number;
  /** Events accepted but not delivered yet, in id order: they wait for a young gap below them. */
  private pending: { readonly id: bigint; readonly event: ProcessEventRecord }[] = [];
  private reorderTimer: NodeJS.Timeout | undefined;
  /** The highest id accepted (or the starting point); `null` while the feed is idle. */
  private highest: bigint | null = null;
  /** Ids below `highest` not delivered yet, oldest range first. */
  private gaps: Gap[] = [];
  /** Live events that wait for a read to fill the ids missing below them. */
  private held: ProcessEventRecord[] = [];
  private timer: NodeJS.Timeout | undefined;
  private reading: Promise<void> | undefined;
  private readAgain = false;
  /** The next read first looks below the starting point for ids still missing. */
  private lookBack = false;
  private readonly detachBus: (() => void)[] = [];

  constructor(
    private readonly log: EventLogReader,
    private readonly bus: EventBus,
    private readonly clock: Clock,
    private readonly logger: Logger,
    options: EventFeedOptions = {},
  ) {
    this.pollIntervalMs = options.pollIntervalMs ?? 500;
    this.holeTimeoutMs = options.holeTimeoutMs ?? 30_000;
    this.pageSize = options.pageSize ?? 500;
    this.reorderWindowMs = options.reorderWindowMs ?? 1_000;
  }

  /** Starts listening to the bus (reads begin with the first listener). */
  start(): void {
    this.detachBus.push(
      this.bus.on("process-events", (payload) => this.onLive(fromWire(payload))),
      this.bus.onReconnect(() => this.readSoon()),
    );
  }

  async stop(): Promise<void> {
    for (const off of this.detachBus.splice(0)) off();
    this.listeners.clear();
    this.idle();
    await this.reading;
  }

  /**
   * `listener` gets every event the feed delivers from now on; it is attached before this
   * returns. An idle feed starts after `from` (the caller reads what came before itself).
   */
  subscribe(listener: FeedListener, from: bigint): () => void {
    if (this.highest === null) this.activate(from);
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
      if (this.listeners.size === 0) this.idle();
    };
  }

  /** Whether the feed reads the log (someone listens). */
  get active(): boolean {
    return this.highest !== null;
  }

  private activate(from: bigint): void {
    this.highest = from;
    this.gaps = [];
    this.held = [];
    this.pending = [];
    this.lookBack = true;
    this.readSoon();
  }

  private idle(): void {
    clearTimeout(this.timer);
    clearTimeout(this.reorderTimer);
    this.timer = undefined;
    this.reorderTimer = undefined;
    this.highest = null;
    this.gaps = [];
    this.held = [];
    this.pending = [];
  }

  private onLive(event: ProcessEventRecord): void {
    if (this.highest === null || event.id === null) return;
    const id = BigInt(event.id);
    if (id > this.highest + 1n) {
      // Ids below it were not seen: read the log first, so that what is committed of them
      // comes before it.
      this.held.push(event);
      this.readSoon();
      return;
    }
    this.offer(id, event);
  }

  /** Delivers `event` (in id order, see {@link flush}) unless it was accepted (or given up) before. */
  private offer(id: bigint, event: ProcessEventRecord): void {
    const highest = this.highest!;
    if (id > highest) {
      if (id > highest + 1n) this.gaps.push({ from: highest + 1n, to: id - 1n, since: this.clock.now().getTime() });
      this.highest = id;
    } else {
      const index = this.gaps.findIndex((gap) => gap.from <= id && id <= gap.to);
      if (index < 0) return; // accepted before, or given up
      this.fill(index, id);
    }
    let at = this.pending.length;
    while (at > 0 && this.pending[at - 1]!.id > id) at--;
    this.pending.splice(at, 0, { id, event });
    this.flush();
  }

  /**
   * Delivers the pending events below the lowest gap still within the reorder window, in
   * id order; the rest wait, and are looked at again when that gap's window ends.
   */
  private flush(): void {
    if (this.pending.length === 0) return;
    const now = this.clock.now().getTime();
    let blocker: Gap | undefined;
    for (const gap of this.gaps) {
      if (now - gap.since < this.reorderWindowMs && (!blocker || gap.from < blocker.from)) blocker = gap;
    }
    const ready = blocker ? this.pending.filter((p) => p.id < blocker.from) : this.pending;
    this.pending = blocker ? this.pending.filter((p) => p.id > blocker.to) : [];
    for (const { event } of ready) {
      for (const listener of this.listeners) {
        try {
          listener(event);
        } catch (error) {
          this.logger.error({ err: error, eventId: event.id }, "event subscriber failed");
        }
      }
    }
    clearTimeout(this.reorderTimer);
    this.reorderTimer = undefined;
    if (blocker && this.pending.length > 0) {
      // Read once more when the window ends (the missing ids may be in the log by then).
      this.reorderTimer = setTimeout(() => this.readSoon(), Math.max(1, blocker.since + this.reorderWindowMs - now));
      this.reorderTimer.unref();
    }
  }

  /** Takes `id` out of the gap at `index`. */
  private fill(index: number, id: bigint): void {
    const gap = this.gaps[index]!;
    if (gap.from === gap.to) this.gaps.splice(index, 1);
    else if (id === gap.from) gap.from = id + 1n;
    else if (id === gap.to) gap.to = id - 1n;
    else (this.gaps.splice(index + 1, 0, { from: id + 1n, to: gap.to, since: gap.since }), (gap.to = id - 1n));
  }

  /** Notes the ids missing just below where the feed started, as gaps to wait for. */
  private async findMissingBelowStart(): Promise<void> {
    const start = this.highest!;
    const ids = await this.log.idsUpTo(start, START_LOOKBACK);
    if (this.highest === null) return;
    this.lookBack = false;
    const since = this.clock.now().getTime();
    const found: Gap[] = [];
    let above = start + 1n;
    for (const id of ids) {
      if (id < above - 1n) found.unshift({ from: id + 1n, to: above - 1n, since });
      above = id;
    }
    // Before the window's lowest id nothing is known; above the start, offer() tracks gaps.
    this.gaps = [...found.filter((gap) => gap.to <= start), ...this.gaps];
  }

  /** Gives up gaps waited for long enough, and the oldest beyond {@link MAX_GAPS}. */
  private expireGaps(): void {
    const now = this.clock.now().getTime();
    this.gaps = this.gaps.filter((gap) => now - gap.since < this.holeTimeoutMs);
    if (this.gaps.length > MAX_GAPS) this.gaps.splice(0, this.gaps.length - MAX_GAPS);
  }

  private schedule(): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.readSoon(), this.pollIntervalMs);
    this.timer.unref();
  }

  /** Reads the log now, or right after the read under way. */
  private readSoon(): void {
    if (this.highest === null) return;
    if (this.reading) {
      this.readAgain = true;
      return;
    }
    this.reading = this.read()
      .catch((error: unknown) => {
        // The database is away: the next read fills the gap.
        this.logger.warn({ reason: (error as Error).message }, "could not read the event log; retrying");
      })
      .finally(() => {
        this.reading = undefined;
        if (this.highest === null) return;
        if (this.readAgain) {
          this.readAgain = false;
          this.readSoon();
        } else {
          this.schedule();
        }
      });
  }

  private async read(): Promise<void> {
    if (this.lookBack) await this.findMissingBelowStart();
    this.expireGaps();
    for (;;) {
      if (this.highest === null) return;
      const gaps = this.gaps.map(({ from, to }) => ({ from, to }));
      const page = await this.log.readNewAndLate(this.highest, gaps, this.pageSize);
      if (this.highest === null) return;
      for (const event of page) this.offer(BigInt(event.id!), event);
      if (page.length < this.pageSize) break;
    }
    // Held live events that the read did not bring (a replica lagging behind the bus):
    // deliver them now rather than hold them longer.
    const held = this.held;
    this.held = [];
    for (const event of held) this.offer(BigInt(event.id!), event);
    // A gap whose window ended (or that was given up) holds nothing back any more.
    this.flush();
  }
}
