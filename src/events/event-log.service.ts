import { Brackets, type DataSource, type EntityManager, In } from "typeorm";
import { systemClock, type Clock } from "../clock.js";
import { ProcessEventEntity } from "../db/process-event.entity.js";
import type { ProcessEntity } from "../db/process.entity.js";
import { ProcessEventKind } from "../domain/event-kind.js";
import type { ProcessStatus } from "../domain/process-status.js";
import type { Logger } from "../logger.js";
import type { EventBus } from "./event-bus.js";
import type { EventLogReader, IdRange } from "./event-feed.js";
import { toWire, type ProcessEventRecord } from "./process-event.js";

/** What a transition records; id and time are the log's. */
export interface EventDraft {
  readonly kind: Exclude<ProcessEventKind, ProcessEventKind.HEARTBEAT>;
  readonly processName: string;
  readonly actor: string;
  readonly message?: string | null;
  readonly status: ProcessStatus | null;
}

/** Which recorded events a read wants. */
export interface EventFilter {
  /** Only these processes; `undefined` for all. */
  readonly names?: readonly string[] | undefined;
  /** Only these kinds; `undefined` for every recorded kind. */
  readonly kinds?: readonly ProcessEventKind[] | undefined;
}

const MESSAGE_LIMIT = 1000;

function toRecord(row: ProcessEventEntity): ProcessEventRecord {
  return {
    id: String(row.id),
    kind: row.kind as ProcessEventKind,
    processName: row.processName,
    at: row.at,
    actor: row.actor,
    message: row.message,
    status: row.status as ProcessStatus | null,
  };
}

/**
 * The event log (`fleetvisor_process_events`): recording, publishing, reading.
 *
 * A transition is recorded inside the transaction that makes it, so a transition and its
 * event commit together or not at all; it is published only after the commit. The log is
 * the truth; what is published is the fast path (see EventFeed).
 */
export class EventLogService implements EventLogReader {
  private pendingHeartbeats: ReturnType<typeof toWire>[] = [];
  private readonly recordedListeners: ((event: ProcessEventRecord) => void)[] = [];

  constructor(
    private readonly dataSource: DataSource,
    private readonly bus: EventBus,
    private readonly logger: Logger,
    private readonly clock: Clock = systemClock,
  ) {}

  /** Records one event inside the caller's transaction. Publish it after the commit. */
  async record(manager: EntityManager, draft: EventDraft, process: ProcessEntity | null): Promise<ProcessEventRecord> {
    const at = this.clock.now();
    const message = draft.message ? draft.message.slice(0, MESSAGE_LIMIT) : null;
    const result = await manager.insert(ProcessEventEntity, {
      processName: draft.processName,
      kind: draft.kind,
      actor: draft.actor.slice(0, 100),
      message,
      status: draft.status,
      at,
    });
    const id = result.identifiers[0]?.id as string | number | undefined;
    if (id === undefined) throw new Error("the event log returned no id");
    return { ...draft, id: String(id), message, at, process };
  }

  /**
   * Sends recorded events to every subscriber of every replica, and tells this replica's
   * own listeners (alerts) of the events it recorded.
   */
  async publish(events: readonly ProcessEventRecord[]): Promise<void> {
    for (const event of events) {
      for (const listener of this.recordedListeners) {
        // The event is committed: a listener that fails must not fail the change that caused it.
        try {
          listener(event);
        } catch (error) {
          this.logger.error({ err: error, eventId: event.id }, "a recorded-event listener failed");
        }
      }
      await this.bus.publish("process-events", toWire(event));
    }
  }

  /** `listener` sees every event this replica records (once, on this replica only). */
  onRecorded(listener: (event: ProcessEventRecord) => void): void {
    this.recordedListeners.push(listener);
  }

  /**
   * Heartbeats are not recorded; they go only to subscribers that ask for them. Those
   * published in the same tick (a batch written together) travel as one message.
   */
  publishHeartbeat(processName: string, actor: string, at: Date, status: ProcessStatus | null): void {
    if (!this.bus.delivers("heartbeats")) return;
    const event: ProcessEventRecord = {
      id: null,
      kind: ProcessEventKind.HEARTBEAT,
      processName,
      at,
      actor,
      message: null,
      status,
    };
    this.pendingHeartbeats.push(toWire(event));
    if (this.pendingHeartbeats.length === 1) {
      queueMicrotask(() => {
        const batch = this.pendingHeartbeats;
        this.pendingHeartbeats = [];
        void this.bus.publish("heartbeats", batch);
      });
    }
  }

  /** The id of the newest recorded event (0 when there is none). */
  async lastId(): Promise<bigint> {
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

  async idsUpTo(upTo: bigint, count: number): Promise<bigint[]> {
    const rows = (await this.dataSource.query(
      "SELECT id FROM fleetvisor_process_events WHERE id <= ? ORDER BY id DESC LIMIT ?",
      [upTo.toString(), count],
    )) as { id: string | number }[];
    return rows.map((row) => BigInt(row.id));
  }

  /** Events after `after` or within `ranges`, oldest first: one indexed read. */
  async readNewAndLate(after: bigint, ranges: readonly IdRange[], limit: number): Promise<ProcessEventRecord[]> {
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
