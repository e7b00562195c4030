import { randomBytes } from "node:crypto";
import type { Clock } from "../clock.js";
import type { EventRetention, PrunedBatch } from "../events/event-retention.js";
import type { Logger } from "../logger.js";
import { Periodic } from "./periodic.js";

const DAY_MS = 86_400_000;

export interface EventPrunerOptions {
  /** Events older than this are deleted; 0 keeps them for ever. */
  readonly retentionDays: number;
  /**
   * How often a replica tries: each try is two small queries when there is nothing to
   * prune. Short enough that replicas restarted often still prune.
   * @default 600000 (10 minutes)
   */
  readonly intervalMs?: number;
  /** Rows per DELETE. @default 1000 */
  readonly batchSize?: number;
  /** The pause between two batches, in which writes go first. @default 250 */
  readonly pauseMs?: number;
}

/** Rows other than events kept as long (resolved incidents, silences over), pruned with them. */
export interface Prunable {
  /** What it prunes, for the log. */
  readonly what: string;
  /** Deletes up to `limit` of its rows older than `cutoff`; `more` when it was full. */
  pruneBatch(cutoff: Date, limit: number): Promise<PrunedBatch>;
}

/** What one run did (`deleted` and `batches`: of events). */
export type PruneResult =
  | { readonly outcome: "pruned"; readonly deleted: number; readonly batches: number }
  /** Another replica holds the lease: it prunes. */
  | { readonly outcome: "skipped" }
  /** `retentionDays` is 0. */
  | { readonly outcome: "off" };

/**
 * Deletes events older than the retention, on the watchers' pool, by one replica at a
 * time: a replica prunes only while it holds the lease in `fleetvisor_event_retention`
 * (renewed by each of its runs, given up when it stops, taken over by another replica
 * once it has run out, after three intervals). A run deletes in batches of `batchSize`
 * with a pause between them, each batch a bounded DELETE at the old end of the log that
 * new events never wait for (see {@link EventRetention.pruneBatch}). Then, the same way,
 * each {@link Prunable} (resolved incidents and silences over).
 */
export class EventPruner {
  private readonly periodic: Periodic;
  private readonly holder = randomBytes(8).toString("hex");
  private readonly intervalMs: number;
  private readonly batchSize: number;
  private readonly pauseMs: number;
  private stopping = false;
  private wake: (() => void) | undefined;
  /** What the last run returned (for {@link runOnce}). */
  private last: PruneResult | undefined;

  constructor(
    private readonly retention: EventRetention,
    private readonly clock: Clock,
    private readonly logger: Logger,
    private readonly options: EventPrunerOptions,
    private readonly others: readonly Prunable[] = [],
  ) {
    this.intervalMs = options.intervalMs ?? 600_000;
    this.batchSize = options.batchSize ?? 1_000;
    this.pauseMs = options.pauseMs ?? 250;
    this.periodic = new Periodic(
      "event pruning",
      options.retentionDays > 0 ? this.intervalMs : 0,
      async () => {
        this.last = await this.prune();
      },
      logger,
    );
  }

  start(): void {
    this.stopping = false;
    this.periodic.start();
  }

  /** Ends a run under way after its current batch, and gives the lease up. */
  async stop(): Promise<void> {
    this.stopping = true;
    this.wake?.();
    await this.periodic.stop();
    if (this.options.retentionDays > 0) {
      await this.retention.releaseLease(this.holder).catch((error: unknown) => {
        this.logger.warn({ err: error }, "could not give up the event pruning lease");
      });
    }
  }

  /** One run now (tests and tools), after a scheduled one under way, never beside it. */
  async runOnce(): Promise<PruneResult> {
    this.last = undefined;
    await this.periodic.runOnce();
    if (!this.last) throw new Error("the event pruning run failed (see the log)");
    return this.last;
  }

  private async prune(): Promise<PruneResult> {
    if (this.options.retentionDays <= 0) return { outcome: "off" };
    const now = this.clock.now();
    const until = new Date(now.getTime() + 3 * this.intervalMs);
    if (!(await this.retention.claimLease(this.holder, now, until))) return { outcome: "skipped" };
    const cutoff = new Date(now.getTime() - this.options.retentionDays * DAY_MS);
    const events = await this.inBatches((limit) => this.retention.pruneBatch(cutoff, limit, now));
    if (events.deleted > 0) {
      this.logger.info(
        { deleted: events.deleted, batches: events.batches, before: cutoff.toISOString() },
        `pruned ${events.deleted} events older than ${this.options.retentionDays} days`,
      );
    }
    for (const other of this.others) {
      if (this.stopping) break;
      const pruned = await this.inBatches((limit) => other.pruneBatch(cutoff, limit));
      if (pruned.deleted > 0) {
        this.logger.info(
          { deleted: pruned.deleted, before: cutoff.toISOString() },
          `pruned ${pruned.deleted} ${other.what} older than ${this.options.retentionDays} days`,
        );
      }
    }
    return { outcome: "pruned", deleted: events.deleted, batches: events.batches };
  }

  /** Runs `batch` until it says there is no more, pausing between two. */
  private async inBatches(
    batch: (limit: number) => Promise<PrunedBatch>,
  ): Promise<{ readonly deleted: number; readonly batches: number }> {
    let deleted = 0;
    let batches = 0;
    for (;;) {
      const done = await batch(this.batchSize);
      if (done.deleted > 0) batches++;
      deleted += done.deleted;
      if (!done.more || this.stopping) break;
      await this.pause();
      if (this.stopping) break;
    }
    return { deleted, batches };
  }

  private pause(): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, this.pauseMs);
      function done(): void {
        clearTimeout(timer);
        resolve();
      }
      this.wake = done;
    });
  }
}
