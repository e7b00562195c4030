import { Brackets, type DataSource, type EntityManager } from "typeorm";
import { SYSTEM_PRINCIPAL, type Principal } from "../auth/principal.js";
import { systemClock, type Clock } from "../clock.js";
import { ProcessEntity } from "../db/process.entity.js";
import { SupervisorObservationEntity } from "../db/supervisor-observation.entity.js";
import { isDuplicateKey } from "../db/db-errors.js";
import { ProcessEventKind } from "../domain/event-kind.js";
import { Drift } from "../domain/desired-state.js";
import { SupervisorState } from "../supervisor/supervisor-state.js";
import { describeSeen, judgeDrift, moveDrift, type SeenProgram } from "./drift.js";
import { followSupervisor, type Observation, type ObservedState } from "./follow.js";
import {
  dateOf,
  findProcess,
  fromRaw,
  mustFindProcess,
  selectProcessColumns,
  type RawProcessRow,
} from "./process-rows.js";
import type { Record as RecordEvent, Transitions } from "./transitions.js";

/** What was last seen of one program: its state and pid. */
export interface LastSeen {
  readonly state: string;
  readonly pid: number;
}

/** A registry row, and what supervisord was last seen to say of its program (null: nothing yet). */
export interface ProcessLastSeen {
  readonly process: ProcessEntity;
  readonly seen: (LastSeen & { readonly at: Date }) | null;
}

/**
 * SUPERVISOR_STATE_CHANGED's message: what was seen before, what is seen now, and from
 * where, e.g. `RUNNING (pid 12) → EXITED, exit status 1 (poll)`.
 */
export function stateChangeMessage(before: LastSeen | null, observation: Observation): string {
  const was = before ? `${before.state}${before.pid ? ` (pid ${before.pid})` : ""}` : "first seen";
  const now = `${observation.state}${observation.pid ? ` (pid ${observation.pid})` : ""}`;
  return `${was} → ${now}${observation.detail ? `, ${observation.detail}` : ""} (${observation.source})`;
}

const OBSERVED_STATES: ReadonlySet<string> = new Set<ObservedState>([...Object.values(SupervisorState), "UNREACHABLE"]);

/** The state a {@link stateChangeMessage} says supervisord was seen in now, or null. */
export function observedStateIn(message: string | null): ObservedState | null {
  const state = message ? / → ([A-Z]+)/.exec(message)?.[1] : undefined;
  return state !== undefined && OBSERVED_STATES.has(state) ? (state as ObservedState) : null;
}

/**
 * What supervisord was last seen to say of each registry process
 * (`fleetvisor_supervisor_observations`), and the registry following it: its status, and its
 * drift from the desired state. The one owner of that table: the poller, the listener
 * intake and admin deletes all go through here.
 */
export class Observations {
  constructor(
    private readonly dataSource: DataSource,
    private readonly transitions: Transitions,
    private readonly clock: Clock = systemClock,
  ) {}

  /** What was last seen of each process that names a supervisord, in one read. */
  async lastSeen(): Promise<Map<string, LastSeen>> {
    const rows = (await this.dataSource
      .getRepository(SupervisorObservationEntity)
      .createQueryBuilder("o")
      .innerJoin(
        ProcessEntity,
        "p",
        "p.process_name = o.process_name AND p.supervisor_host IS NOT NULL AND p.supervisor_port IS NOT NULL",
      )
      .select("o.process_name", "name")
      .addSelect("o.state", "state")
      .addSelect("o.pid", "pid")
      .getRawMany()) as { name: string; state: string; pid: number | string }[];
    return new Map(rows.map((r) => [r.name, { state: r.state, pid: Number(r.pid) }]));
  }

  /**
   * Every registry row with what was last seen of its program, in one read: the fleet as
   * the watchers (poller and listener) last saw it, without asking any supervisord.
   */
  async everyProcessLastSeen(): Promise<ProcessLastSeen[]> {
    const query = selectProcessColumns(this.dataSource.getRepository(ProcessEntity).createQueryBuilder("p"))
      .leftJoin(SupervisorObservationEntity, "o", "o.process_name = p.process_name")
      .addSelect("o.state", "seen_state")
      .addSelect("o.pid", "seen_pid")
      .addSelect("o.observed_at", "seen_at");
    const rows = (await query.getRawMany()) as (RawProcessRow & {
      seen_state: string | null;
      seen_pid: number | string | null;
      seen_at: Date | string | null;
    })[];
    return rows.map((row) => ({
      process: fromRaw(row),
      seen:
        row.seen_state === null
          ? null
          : { state: row.seen_state, pid: Number(row.seen_pid), at: dateOf(row.seen_at) ?? new Date(0) },
    }));
  }

  /**
   * Forgets what was seen of `name`'s program, in the caller's transaction: a process
   * created again under this name starts from a first sighting.
   */
  async forget(manager: EntityManager, name: string): Promise<void> {
    await manager.delete(SupervisorObservationEntity, { processName: name });
  }

  /**
   * What supervisord was seen to say of `name`'s program. When it differs from what was
   * last seen (state or pid), the change is recorded (SUPERVISOR_STATE_CHANGED, and an
   * alert for a crash or an unreachable supervisord) and the registry follows it; all in
   * one transaction that only the first of several replicas seeing the same change wins.
   * An observation older than the last one (a late listener event) changes nothing.
   */
  async apply(
    name: string,
    observation: Observation,
    principal: Principal,
  ): Promise<{ changed: boolean; process: ProcessEntity | null }> {
    return this.transitions.run(name, principal, async (manager, record) => {
      const process = await findProcess(manager, name);
      if (!process) return { changed: false, process: null };
      const before = await manager.findOne(SupervisorObservationEntity, { where: { processName: name } });
      if (!(await this.store(manager, name, observation, before))) return { changed: false, process };

      await record(
        { kind: ProcessEventKind.SUPERVISOR_STATE_CHANGED, message: stateChangeMessage(before, observation) },
        process,
      );
      if (observation.state === "UNREACHABLE") {
        await record(
          {
            kind: ProcessEventKind.SUPERVISOR_UNREACHABLE,
            message: observation.detail ?? "supervisord does not answer",
          },
          process,
        );
        return { changed: true, process };
      }
      // The first sighting of a program only sets the baseline for later changes.
      const follow = before ? followSupervisor(observation) : null;
      let row = process;
      if (follow) {
        const moved = await this.transitions.moveStatus(manager, name, follow.from, follow.to, follow.clearPid);
        row = await mustFindProcess(manager, name);
        if (moved) await record({ kind: ProcessEventKind.STATUS_CHANGED, message: follow.message }, row);
        if (follow.crash) await record({ kind: ProcessEventKind.PROCESS_CRASHED, message: follow.message }, row);
      }
      row = (await this.judgeDrift(manager, row, observation, record)) ?? row;
      return { changed: true, process: row };
    });
  }

  /**
   * Judges the drift of rows whose observation did not change (the poller's, for every
   * row of an answer it had no change to hand over for): a desired state set since, or a
   * program the supervisord does not have. Only rows whose drift differs are written.
   */
  async judgeUnchanged(rows: readonly ProcessEntity[], seen: (row: ProcessEntity) => SeenProgram): Promise<void> {
    for (const row of rows) {
      const state = seen(row);
      const judged = judgeDrift(row.desiredState, state);
      if (judged === undefined || judged === row.drift) continue;
      await this.transitions.run(row.name, SYSTEM_PRINCIPAL, (manager, record) =>
        moveDrift(manager, { row, to: judged, seen: describeSeen(state, "poll") }, this.clock.now(), record),
      );
    }
  }

  /**
   * Judges `row`'s drift from what was last seen of its program, in the caller's
   * transaction (after its desired state changed). With `resolveOnly`, only a drift that
   * ends is recorded: right after a control action, what was last seen may not show it yet.
   * Returns the row after a change, or `null`.
   */
  async judgeFromLastSeen(
    manager: EntityManager,
    row: ProcessEntity,
    record: RecordEvent,
    options: { readonly resolveOnly?: boolean } = {},
  ): Promise<ProcessEntity | null> {
    const last = await manager.findOne(SupervisorObservationEntity, { where: { processName: row.name } });
    // Nothing seen yet: only "nothing desired" can be judged.
    const state = (last?.state ?? "UNREACHABLE") as ObservedState;
    const judged = judgeDrift(row.desiredState, state);
    if (judged === undefined || (options.resolveOnly && judged !== Drift.NONE)) return null;
    return moveDrift(manager, { row, to: judged, seen: describeSeen(state, "last seen") }, this.clock.now(), record);
  }

  private async judgeDrift(
    manager: EntityManager,
    row: ProcessEntity,
    observation: Observation,
    record: RecordEvent,
  ): Promise<ProcessEntity | null> {
    const judged = judgeDrift(row.desiredState, observation.state);
    if (judged === undefined) return null;
    const seen = describeSeen(observation.state, observation.source);
    const seenAt = observation.askedAt ?? observation.at;
    return moveDrift(manager, { row, to: judged, seen, seenAt }, this.clock.now(), record);
  }

  /** Stores `observation` when it is news (a conditional write); true when it was. */
  private async store(
    manager: EntityManager,
    name: string,
    observation: Observation,
    before: SupervisorObservationEntity | null,
  ): Promise<boolean> {
    // UNREACHABLE is seen on Fleetvisor's clock, not supervisord's: it keeps the time of
    // the last answer, so that the next answer is not taken for an older one.
    const unreachable = observation.state === "UNREACHABLE";
    const fields = {
      state: observation.state,
      pid: observation.pid,
      ...(unreachable && before ? {} : { observedAt: observation.at }),
    };
    if (!before) {
      return manager
        .insert(SupervisorObservationEntity, { processName: name, ...fields })
        .then(() => true)
        .catch((error: unknown) => {
          // Another replica saw it first.
          if (isDuplicateKey(error)) return false;
          throw error;
        });
    }
    const updated = await manager
      .createQueryBuilder()
      .update(SupervisorObservationEntity)
      .set(fields)
      .where("process_name = :name", { name })
      .andWhere(unreachable ? "1 = 1" : "observed_at <= :at", { at: observation.at })
      .andWhere(
        new Brackets((w) =>
          w.where("state <> :state", { state: observation.state }).orWhere("pid <> :pid", { pid: observation.pid }),
        ),
      )
      .execute();
    return updated.affected !== 0;
  }
}
