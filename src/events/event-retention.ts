import { Brackets } from "typeorm";
import type { Database } from "../db/database.js";
import { EventRetentionEntity } from "../db/event-retention.entity.js";
import { ProcessEventEntity } from "../db/process-event.entity.js";

/** One batch of pruning. */
export interface PrunedBatch {
  /** Rows deleted. */
  readonly deleted: number;
  /** Whether old events may remain after this batch (it was full). */
  readonly more: boolean;
}

/**
 * The event log's retention, in SQL: the lease that lets one replica at a time prune, and
 * the pruning itself, a bounded batch at a time, raising the watermark subscribers'
 * cursors are checked against (EventLogReads.prunedThrough).
 *
 * Every write goes through {@link Database.write}, so that on the embedded SQLite database
 * a batch takes its turn between transactions instead of joining one.
 */
export class EventRetention {
  constructor(private readonly database: Database) {}

  /**
   * Takes (or renews) the pruning lease for `holder` until `until`, unless another holder's
   * lease runs past `now`. True when `holder` holds it.
   */
  async claimLease(holder: string, now: Date, until: Date): Promise<boolean> {
    const claimed = await this.database.write(() =>
      this.database.dataSource
        .createQueryBuilder()
        .update(EventRetentionEntity)
        .set({ leaseHolder: holder, leaseUntil: until })
        .where("id = 1")
        .andWhere(
          new Brackets((w) =>
            w
              .where("lease_holder IS NULL")
              .orWhere("lease_holder = :holder", { holder })
              .orWhere("lease_until IS NULL")
              .orWhere("lease_until < :now", { now }),
          ),
        )
        .execute(),
    );
    return (claimed.affected ?? 0) > 0;
  }

  /** Gives the lease up, if `holder` holds it, so that another replica may prune at once. */
  async releaseLease(holder: string): Promise<void> {
    await this.database.write(() =>
      this.database.dataSource
        .createQueryBuilder()
        .update(EventRetentionEntity)
        .set({ leaseHolder: null, leaseUntil: null })
        .where("id = 1 AND lease_holder = :holder", { holder })
        .execute(),
    );
  }

  /**
   * Deletes up to `limit` of the oldest events, those recorded before `cutoff`.
   *
   * The oldest `limit` ids are read first (the start of the primary key, whatever the
   * table's size), and the DELETE is bounded by the highest old one among them, so that
   * it touches at most those rows: new events are inserted at the other end of the key,
   * and never wait for it. The watermark is raised before the rows go, so that a
   * subscriber that reads the log and then the watermark always learns of a deletion
   * that could have cost it events.
   */
  async pruneBatch(cutoff: Date, limit: number, now: Date): Promise<PrunedBatch> {
    const oldest = await this.database.dataSource.getRepository(ProcessEventEntity).find({
      select: { id: true, at: true },
      order: { id: "ASC" },
      take: limit,
    });
    const old = oldest.filter((event) => event.at.getTime() < cutoff.getTime());
    if (old.length === 0) return { deleted: 0, more: false };
    const through = old.reduce((max, event) => (BigInt(event.id) > max ? BigInt(event.id) : max), 0n).toString();
    await this.database.write(() =>
      this.database.dataSource
        .createQueryBuilder()
        .update(EventRetentionEntity)
        .set({ prunedThrough: through, prunedAt: now })
        .where("id = 1 AND pruned_through < :through", { through })
        .execute(),
    );
    const deleted = await this.database.write(() =>
      this.database.dataSource
        .createQueryBuilder()
        .delete()
        .from(ProcessEventEntity)
        .where("id <= :through", { through })
        .andWhere("at < :cutoff", { cutoff })
        .execute(),
    );
    return { deleted: deleted.affected ?? old.length, more: old.length === limit };
  }
}
