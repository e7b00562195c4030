import type { EntityManager } from "typeorm";
import { ProcessEntity } from "../db/process.entity.js";
import { DesiredState, Drift } from "../domain/desired-state.js";
import { ProcessEventKind } from "../domain/event-kind.js";
import { UnreachableCaseError } from "../errors.js";
import { SupervisorState } from "../supervisor/supervisor-state.js";
import type { ObservedState } from "./follow.js";
import { mustFindProcess } from "./process-rows.js";
import type { Record as RecordEvent } from "./transitions.js";

/** What supervisord was seen to say of a program: a state, or that it has no such program. */
export type SeenProgram = ObservedState | "ABSENT";

/**
 * The drift that `desired` and what supervisord was seen to say make; `undefined` when
 * what was seen cannot tell (a start or stop under way, supervisord retrying, unreachable
 * or unsure), and the drift then stays as it was. Nothing desired is never drift.
 */
export function judgeDrift(desired: DesiredState | null, seen: SeenProgram): Drift | undefined {
  if (desired === null) return Drift.NONE;
  switch (seen) {
    case "ABSENT":
      return Drift.UNKNOWN_PROGRAM;
    case SupervisorState.RUNNING:
      return desired === DesiredState.RUNNING ? Drift.NONE : Drift.SHOULD_NOT_RUN;
    case SupervisorState.STOPPED:
    case SupervisorState.EXITED:
    case SupervisorState.FATAL:
      return desired === DesiredState.STOPPED ? Drift.NONE : Drift.SHOULD_RUN;
    case SupervisorState.STARTING:
    case SupervisorState.STOPPING:
    case SupervisorState.BACKOFF:
    case SupervisorState.UNKNOWN:
    case "UNREACHABLE":
      return undefined;
    default:
      throw new UnreachableCaseError(seen);
  }
}

/** A drift change to make: the row as it was read, and what was seen (for the event's message). */
export interface DriftChange {
  readonly row: ProcessEntity;
  readonly to: Drift;
  /** e.g. `STOPPED (poll)`, `RUNNING (listener)`, `no such program (poll)`. */
  readonly seen: string;
  /**
   * When it was seen (supervisord's time of the state, or the poll's), if not now: what
   * was seen while a control action held drift off stays Fleetvisor's own doing, however
   * late the report of it arrives.
   */
  readonly seenAt?: Date;
}

/**
 * Moves a process's drift, in the caller's transaction, and records DRIFT_DETECTED (into
 * drift, or from one drift to another) or DRIFT_RESOLVED (back to NONE).
 *
 * A conditional UPDATE: only from the drift the row had when read, only while its desired
 * state is still the one judged against, and, for a new drift, only when it was seen
 * after any control action's hold (`control_until`: what a start or stop does on its way
 * is Fleetvisor's own doing, not drift). So each change is recorded once however many
 * replicas and watchers see it. Returns the row after the change, or `null` when it did
 * not move.
 */
export async function moveDrift(
  manager: EntityManager,
  change: DriftChange,
  now: Date,
  record: RecordEvent,
): Promise<ProcessEntity | null> {
  const { row, to } = change;
  const from = row.drift ?? Drift.NONE;
  if (from === to) return null;
  const query = manager
    .createQueryBuilder()
    .update(ProcessEntity)
    .set({ drift: to === Drift.NONE ? null : to, updatedAt: now })
    .where("process_name = :name", { name: row.name })
    .andWhere("COALESCE(drift, 'NONE') = :from", { from })
    .andWhere("COALESCE(desired_state, '') = :desired", { desired: row.desiredState ?? "" });
  if (to !== Drift.NONE) {
    query.andWhere("(control_until IS NULL OR control_until < :seenAt)", { seenAt: change.seenAt ?? now });
  }
  const moved = await query.execute();
  if (moved.affected === 0) return null;
  const after = await mustFindProcess(manager, row.name);
  await record(
    to === Drift.NONE
      ? {
          kind: ProcessEventKind.DRIFT_RESOLVED,
          message:
            row.desiredState === null
              ? `was ${from}; nothing is desired any more`
              : `was ${from}; supervisord says ${change.seen}, as desired`,
        }
      : {
          kind: ProcessEventKind.DRIFT_DETECTED,
          message:
            `${to}: desired ${row.desiredState}, supervisord says ${change.seen}` +
            (from === Drift.NONE ? "" : ` (was ${from})`),
        },
    after,
  );
  return after;
}

/** How a seen state reads in a drift event's message. */
export function describeSeen(seen: SeenProgram, source: string): string {
  return `${seen === "ABSENT" ? "it has no such program" : seen} (${source})`;
}
