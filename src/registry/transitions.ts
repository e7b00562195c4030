import { Brackets, type EntityManager } from "typeorm";
import type { Principal } from "../auth/principal.js";
import type { Clock } from "../clock.js";
import type { Database } from "../db/database.js";
import { isDeadlock } from "../db/db-errors.js";
import { ProcessEntity } from "../db/process.entity.js";
import { ProcessEventKind } from "../domain/event-kind.js";
import { ProcessStatus } from "../domain/process-status.js";
import type { EventDraft, EventLogService } from "../events/event-log.service.js";
import type { ProcessEventRecord } from "../events/process-event.js";
import { mustFindProcess } from "./process-rows.js";

/** How many times a transition a deadlock rolled back is tried in all. */
const DEADLOCK_ATTEMPTS = 3;

/** What a transition records: its kind and message; the status defaults to the row's. */
export type RecordedEvent = Pick<EventDraft, "kind" | "message"> & { readonly status?: ProcessStatus | null };

/** Records `event` in the transition's transaction; `row` is the process after it (`null` once deleted). */
export type Record = (event: RecordedEvent, row: ProcessEntity | null) => Promise<void>;

/**
 * Recorded transitions: a conditional UPDATE, the event it causes, and the publish after
 * the commit, as one step that every write of the registry goes through.
 *
 * Only the caller whose conditional UPDATE matched the row records the event, however
 * many replicas race; the event commits with the change or not at all, and is published
 * only after the commit.
 */
export class Transitions {
  constructor(
    private readonly database: Database,
    private readonly events: EventLogService,
    private readonly clock: Clock,
  ) {}

  /**
   * Runs `work` in a transaction; the events it records are published after the commit.
   * A transaction a deadlock rolled back runs again, from the start (a few times): `work`
   * must do nothing outside the database that it would not do twice.
   */
  async run<T>(
    processName: string,
    principal: Principal,
    work: (manager: EntityManager, record: Record) => Promise<T>,
  ): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.attempt(processName, principal, work);
      } catch (error) {
        if (!isDeadlock(error) || attempt >= DEADLOCK_ATTEMPTS) throw error;
      }
    }
  }

  private async attempt<T>(
    processName: string,
    principal: Principal,
    work: (manager: EntityManager, record: Record) => Promise<T>,
  ): Promise<T> {
    const recorded: ProcessEventRecord[] = [];
    const result = await this.database.transaction(async (manager) =>
      work(manager, async (event, row) => {
        recorded.push(
          await this.events.record(
            manager,
            {
              kind: event.kind,
              processName,
              actor: principal.name,
              actorTokenId: principal.tokenId,
              message: event.message ?? null,
              status: event.status !== undefined ? event.status : (row?.status ?? null),
            },
            row,
          ),
        );
      }),
    );
    await this.events.publish(recorded);
    return result;
  }

  /**
   * The conditional UPDATE of every status move: moves `name` to `to` only when its
   * status is one of `from` (NULL counting as stopped). True when it moved.
   */
  async moveStatus(
    manager: EntityManager,
    name: string,
    from: readonly ProcessStatus[],
    to: ProcessStatus,
    clearPid: boolean,
  ): Promise<boolean> {
    // Never "to itself": with FOUND_ROWS, a row already at `to` would count as moved.
    const sources = from.filter((status) => status !== to);
    if (sources.length === 0) return false;
    const moved = await manager
      .createQueryBuilder()
      .update(ProcessEntity)
      .set({ status: to, updatedAt: this.clock.now(), ...(clearPid ? { pid: null } : {}) })
      .where("process_name = :name", { name })
      .andWhere(
        new Brackets((w) => {
          w.where("status IN (:...from)", { from: sources });
          if (sources.includes(ProcessStatus.STOPPED)) w.orWhere("status IS NULL");
        }),
      )
      .execute();
    return moved.affected !== 0;
  }

  /**
   * Moves `name` to `to` when its status is one of `from`, and records STATUS_CHANGED
   * with `message`. Returns whether it moved, and the row after.
   */
  async moveAndRecord(
    name: string,
    from: readonly ProcessStatus[],
    to: ProcessStatus,
    message: string,
    principal: Principal,
    options: { readonly clearPid?: boolean } = {},
  ): Promise<{ changed: boolean; process: ProcessEntity }> {
    return this.run(name, principal, async (manager, record) => {
      const changed = await this.moveStatus(manager, name, from, to, options.clearPid ?? false);
      const row = await mustFindProcess(manager, name);
      if (changed) await record({ kind: ProcessEventKind.STATUS_CHANGED, message }, row);
      return { changed, process: row };
    });
  }
}
