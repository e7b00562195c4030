import type { EntityManager } from "typeorm";
import type { Principal } from "../auth/principal.js";
import type { Clock } from "../clock.js";
import { ProcessEntity } from "../db/process.entity.js";
import type { DesiredState } from "../domain/desired-state.js";
import { ProcessEventKind } from "../domain/event-kind.js";
import type { ProcessStatus } from "../domain/process-status.js";
import type { Observations } from "./observations.js";
import { mustFindProcess } from "./process-rows.js";
import type { Record as RecordEvent, Transitions } from "./transitions.js";

/** The registry status move that marks a control action under way (`starting`, `stopping`). */
export interface ActionMark {
  readonly from: readonly ProcessStatus[];
  readonly to: ProcessStatus;
  readonly message: string;
}

/**
 * What each process is meant to be doing (`desired_state`), as the control mutations,
 * rollouts and admins say, and the hold on drift while a control action is under way
 * (`control_until`).
 *
 * A start is meant to leave a program running and a stop stopped; on their way supervisord
 * says otherwise for a while (a restart stops the program first), and that is not drift.
 * So a control action sets the desired state and holds drift off in the transaction of its
 * status mark, and ends the hold when it ends; watchers may resolve a drift meanwhile but
 * not report a new one from what was seen before the hold's end, however late the report
 * of it arrives (a listener's STOPPED during a restart, delivered after the restart). The
 * hold expires by itself if the replica dies.
 */
export class DesiredStates {
  constructor(
    private readonly transitions: Transitions,
    private readonly observations: Observations,
    private readonly clock: Clock,
  ) {}

  /**
   * A control action begins: the desired state set (UPDATED recorded when it changes),
   * drift held off for `holdMs`, and the status mark moved (STATUS_CHANGED when it moved),
   * in one transaction.
   */
  async beginAction(
    name: string,
    desired: DesiredState,
    mark: ActionMark,
    holdMs: number,
    principal: Principal,
  ): Promise<{ changed: boolean; process: ProcessEntity }> {
    return this.transitions.run(name, principal, async (manager, record) => {
      const now = this.clock.now();
      await this.setDesired(manager, name, desired, record);
      await this.hold(manager, name, new Date(now.getTime() + holdMs));
      const changed = await this.transitions.moveStatus(manager, name, mark.from, mark.to, false);
      const row = await mustFindProcess(manager, name);
      if (changed) await record({ kind: ProcessEventKind.STATUS_CHANGED, message: mark.message }, row);
      return { changed, process: row };
    });
  }

  /**
   * A control action ended: the hold on drift ends now (it still covers what was seen
   * before), and a drift that the action ended (as last seen) is recorded as resolved. A
   * new drift is left to the watchers' next observation, which is fresher than what was
   * last seen.
   */
  async endAction(name: string, principal: Principal): Promise<void> {
    await this.transitions.run(name, principal, async (manager, record) => {
      await this.hold(manager, name, this.clock.now());
      const row = await mustFindProcess(manager, name);
      await this.observations.judgeFromLastSeen(manager, row, record, { resolveOnly: true });
    });
  }

  /**
   * Sets `name`'s desired state in the caller's transaction and records UPDATED when it
   * changes (`null`: nobody's intent any more). Returns whether it changed.
   */
  async setDesired(
    manager: EntityManager,
    name: string,
    desired: DesiredState | null,
    record: RecordEvent,
  ): Promise<boolean> {
    const before = await mustFindProcess(manager, name);
    if (before.desiredState === desired) return false;
    await manager.update(ProcessEntity, { name }, { desiredState: desired, updatedAt: this.clock.now() });
    const after = await mustFindProcess(manager, name);
    await record(
      {
        kind: ProcessEventKind.UPDATED,
        message: `desiredState: ${before.desiredState ?? "null"} → ${desired ?? "null"}`,
      },
      after,
    );
    return true;
  }

  /** Holds drift off for what is seen until `until`; not a change of the row (updated_at kept). */
  private async hold(manager: EntityManager, name: string, until: Date): Promise<void> {
    await manager
      .createQueryBuilder()
      .update(ProcessEntity)
      .set({ controlUntil: until, updatedAt: () => "updated_at" })
      .where("process_name = :name", { name })
      .execute();
  }
}
