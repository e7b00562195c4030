import { Brackets, type DataSource, In } from "typeorm";
import { processPatternCondition } from "../auth/process-pattern.js";
import { EventRetentionEntity } from "../db/event-retention.entity.js";
import { ProcessEventEntity } from "../db/process-event.entity.js";
import { ProcessEventKind } from "../domain/event-kind.js";
import type { ProcessStatus } from "../domain/process-status.js";
import type { EventLogReader, IdRange } from "./event-feed.js";
import type { StreamLog } from "./event-stream.js";
import type { ProcessEventRecord } from "./process-event.js";

/** Which recorded events a read wants. */
export interface EventFilter {
  /** Only these processes; `undefined` for all. */
  readonly names?: readonly string[] | undefined;
  /** Only these kinds; `undefined` for every recorded kind. */
  readonly kinds?: readonly ProcessEventKind[] | undefined;
}

function toRecord(row: ProcessEventEntity): ProcessEventRecord {
  return {
    id: String(row.id),
    kind: row.kind as ProcessEventKind,
    processName: row.processName,
    at: row.at,
    actor: row.actor,
    actorTokenId: row.actorTokenId === null ? null : String(row.actorTokenId),
    message: row.message,
    status: row.status as ProcessStatus | null,
  };
}

/** A page of the log, as the audit trail asks for it (the caller checked every field). */
export interface EventPage {
  /** Ids above this, oldest first; without it, newest first. */
  readonly after?: bigint | undefined;
  /** Ids below this. */
  readonly before?: bigint | undefined;
  readonly processName?: string | undefined;
  /** Only these kinds; `undefined` for every kind. */
  readonly kinds?: readonly ProcessEventKind[] | undefined;
  /** Never these kinds. */
  readonly excludeKinds?: readonly ProcessEventKind[] | undefined;
  readonly actor?: string | undefined;
  readonly actorTokenId?: number | undefined;
  /** Only processes this pattern matches (a bound token's). */
  readonly processPattern?: string | null | undefined;
  readonly limit: number;
}

/** Reads of the event log, on the pool they are given (requests', or the watchers'). */
export class EventLogReads implements EventLogReader, StreamLog {
  private lastIdRead: Promise<bigint> | undefined;

  /** `onRangeRead`: told of every {@link readNewAndLate}, for metrics. */
  constructor(
    private readonly dataSource: DataSource,
    private readonly onRangeRead?: () => void,
  ) {}

  /** The highest event id pruned (0: none): events after a lower id may be gone. */
  async prunedThrough(): Promise<bigint> {
    const row = await this.dataSource
      .getRepository(EventRetentionEntity)
      .findOne({ select: { id: true, prunedThrough: true }, where: { id: 1 } });
    return BigInt(row?.prunedThrough ?? 0);
  }

  /**
   * The id of the newest recorded event (0 when there is none). Callers at the same moment
   * share one read: a burst of new subscriptions (dashboards reconnecting after a deploy)
   * costs one query, not one each, and a read begun a moment before a caller came only
   * makes its stream replay a little more.
   */
  lastId(): Promise<bigint> {
    this.lastIdRead ??= this.readLastId().finally(() => (this.lastIdRead = undefined));
    return this.lastIdRead;
  }

  private async readLastId(): Promise<bigint> {
    const rows = (await this.dataSource.query("SELECT MAX(id) AS id FROM fleetvisor_process_events")) as {
      id: string | number | null;
    }[];
    return BigInt(rows[0]?.id ?? 0);
  }

  /** Recorded events after `cursor`, oldest first. */
  async readAfter(cursor: bigint, limit: number, filter: EventFilter = {}): Promise<ProcessEventRecord[]> {
    const kinds = filter.kinds?.filter((k) => k !== ProcessEventKind.HEARTBEAT);
    if (kinds && kinds.length === 0) return [];
    const query = this.dataSource
      .getRepository(ProcessEventEntity)
      .createQueryBuilder("e")
      .where("e.id > :cursor", { cursor: cursor.toString() });
    if (filter.names) query.andWhere({ processName: In([...filter.names]) });
    if (kinds) query.andWhere({ kind: In(kinds) });
    return (await query.orderBy("e.id", "ASC").take(limit).getMany()).map(toRecord);
  }

  /** One page of the log, by id: oldest first after `after`, otherwise newest first. */
  async page(page: EventPage): Promise<ProcessEventRecord[]> {
    if (page.kinds?.length === 0) return [];
    const query = this.dataSource.getRepository(ProcessEventEntity).createQueryBuilder("e");
    if (page.after !== undefined) query.andWhere("e.id > :after", { after: page.after.toString() });
    if (page.before !== undefined) query.andWhere("e.id < :before", { before: page.before.toString() });
    if (page.processName !== undefined) query.andWhere("e.process_name = :name", { name: page.processName });
    if (page.kinds) query.andWhere("e.kind IN (:...kinds)", { kinds: [...page.kinds] });
    if (page.excludeKinds?.length) query.andWhere("e.kind NOT IN (:...excluded)", { excluded: [...page.excludeKinds] });
    if (page.actor !== undefined) query.andWhere("e.actor = :actor", { actor: page.actor });
    if (page.actorTokenId !== undefined) query.andWhere("e.actor_token_id = :tokenId", { tokenId: page.actorTokenId });
    if (page.processPattern) {
      const { where, parameters } = processPatternCondition("e.process_name", page.processPattern, "boundPattern");
      query.andWhere(where, parameters);
    }
    const rows = await query
      .orderBy("e.id", page.after !== undefined ? "ASC" : "DESC")
      .take(page.limit)
      .getMany();
    return rows.map(toRecord);
  }

  async idsUpTo(upTo: bigint, count: number): Promise<bigint[]> {
    const rows = (await this.dataSource.query(
      "SELECT id FROM fleetvisor_process_events WHERE id <= ? ORDER BY id DESC LIMIT ?",
      [upTo.toString(), count],
    )) as { id: string | number }[];
    return rows.map((row) => BigInt(row.id));
  }

  /** Events after `after` or within `ranges`, oldest first: one indexed read. */
  async readNewAndLate(after: bigint, ranges: readonly IdRange[], limit: number): Promise<ProcessEventRecord[]> {
    this.onRangeRead?.();
    const query = this.dataSource
      .getRepository(ProcessEventEntity)
      .createQueryBuilder("e")
      .where(
        new Brackets((w) => {
          w.where("e.id > :after", { after: after.toString() });
          ranges.forEach((range, i) =>
            w.orWhere(`e.id BETWEEN :from${i} AND :to${i}`, {
              [`from${i}`]: range.from.toString(),
              [`to${i}`]: range.to.toString(),
            }),
          );
        }),
      );
    return (await query.orderBy("e.id", "ASC").take(limit).getMany()).map(toRecord);
  }
}
