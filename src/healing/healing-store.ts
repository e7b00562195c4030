import type { Principal } from "../auth/principal.js";
import type { Clock } from "../clock.js";
import type { Database } from "../db/database.js";
import { isDuplicateKey } from "../db/db-errors.js";
import { HealingActionEntity } from "../db/healing-action.entity.js";
import { HealingPolicyEntity } from "../db/healing-policy.entity.js";
import { ProcessEntity } from "../db/process.entity.js";
import { ProcessEventKind } from "../domain/event-kind.js";
import { dateOf, mustFindProcess } from "../registry/process-rows.js";
import type { Transitions } from "../registry/transitions.js";
import { budgetDecision } from "./healing-decision.js";
import type { HealingPolicy } from "./healing-policy.js";

/** How long a claimed restart may take: its stop and its start, each up to the control timeout, and a minute. */
export function restartLeaseFor(controlTimeoutMs: number): number {
  return 2 * controlTimeoutMs + 60_000;
}

/** A restart that was claimed and failed: the run may be claimed again. */
const FAILED = "RESTART_FAILED";

/** What a replica may do with a run it found unresponsive. */
export type Claim =
  /** Restart it; `attempt` names the claim, for {@link HealingStore.restartFailed}. */
  | { readonly action: "RESTART"; readonly restartsBefore: number; readonly attempt: number }
  | { readonly action: "QUARANTINE"; readonly restartsBefore: number; readonly attempt: number }
  /** Another replica acted on this run already, or the process is quarantined: nothing to do. */
  | { readonly action: "NONE" };

/**
 * The healer's storage: policies, and the actions taken on runs (`fleetvisor_healing_actions`).
 *
 * A claim inserts the action for a (process, run, attempt), unique, in one transaction with
 * the budget read and, for a quarantine, its QUARANTINED event: of several replicas finding
 * the same run hung, the first insert wins and the others get a duplicate key and do nothing.
 * So each run is restarted (or the process quarantined) once, unless the restart fails:
 * the action is then marked RESTART_FAILED ({@link restartFailed}), and a later pass that
 * finds the run still hung claims it again as the next attempt. Failed restarts count
 * against the budget like the others, so a restart that keeps failing ends in a quarantine.
 * A restart claimed longer than `restartLeaseMs` ago whose run still hangs counts as failed
 * too: the replica that claimed it died before it could say.
 */
export class HealingStore {
  constructor(
    private readonly database: Database,
    private readonly transitions: Transitions,
    private readonly clock: Clock,
    /** After this long, a claimed restart whose run is still the same never happened. */
    private readonly restartLeaseMs: number = restartLeaseFor(60_000),
  ) {}

  async policies(): Promise<HealingPolicyEntity[]> {
    return this.database.dataSource
      .getRepository(HealingPolicyEntity)
      .createQueryBuilder("p")
      .orderBy("p.name_pattern", "ASC")
      .getMany();
  }

  /** Creates or replaces the policy of `policy.namePattern`. */
  async savePolicy(policy: HealingPolicy, principal: Principal): Promise<HealingPolicyEntity> {
    const row = new HealingPolicyEntity();
    row.namePattern = policy.namePattern;
    row.restartWhenUnresponsiveAfterSeconds = policy.restartWhenUnresponsiveAfterSeconds;
    row.graceAfterStartSeconds = policy.graceAfterStartSeconds;
    row.maxRestarts = policy.maxRestarts;
    row.perSeconds = policy.perSeconds;
    row.updatedAt = this.clock.now();
    row.updatedBy = principal.name;
    await this.database.write(() => this.database.dataSource.getRepository(HealingPolicyEntity).save(row));
    return row;
  }

  /** True when there was a policy for exactly this pattern. */
  async deletePolicy(namePattern: string): Promise<boolean> {
    const deleted = await this.database.write(() =>
      this.database.dataSource
        .createQueryBuilder()
        .delete()
        .from(HealingPolicyEntity)
        .where("name_pattern = :namePattern", { namePattern })
        .execute(),
    );
    return (deleted.affected ?? 0) > 0;
  }

  /** Of `names`, the processes under quarantine (a deleted namesake's quarantine does not count). */
  async quarantined(names: readonly string[]): Promise<Set<string>> {
    if (names.length === 0) return new Set();
    const query = this.database.dataSource
      .getRepository(HealingActionEntity)
      .createQueryBuilder("a")
      .select("a.process_name", "name")
      .innerJoin(ProcessEntity, "p", "p.process_name = a.process_name AND p.id = a.process_id")
      .where("a.action = 'QUARANTINE'")
      .andWhere("a.process_name IN (:...names)", { names: [...names] });
    const rows = (await query.getRawMany()) as { name: string }[];
    return new Set(rows.map((row) => row.name));
  }

  /**
   * Decides, once across replicas, what happens to an unresponsive `run` of `name`: a
   * restart while the budget lasts, a quarantine (with its QUARANTINED event) once it is
   * spent, or nothing when another replica got there first or it is quarantined already.
   */
  async claim(
    process: { readonly name: string; readonly id: number },
    run: string,
    policy: HealingPolicy,
    replicaId: string,
    principal: Principal,
    why: string,
  ): Promise<Claim> {
    const now = this.clock.now();
    const { name, id } = process;
    try {
      return await this.transitions.run(name, principal, async (manager, record): Promise<Claim> => {
        const actions = manager.getRepository(HealingActionEntity);
        const quarantined = await actions
          .createQueryBuilder("a")
          .where("a.process_name = :name AND a.process_id = :id AND a.action = 'QUARANTINE'", { name, id })
          .getCount();
        if (quarantined > 0) return { action: "NONE" };
        // The run's latest claim: taken while it is a restart or a quarantine; open again once a restart failed.
        const latest = await actions
          .createQueryBuilder("a")
          .where("a.process_name = :name AND a.run = :run", { name, run })
          .orderBy("a.attempt", "DESC")
          .getOne();
        if (latest && latest.action !== FAILED && !this.abandoned(latest, now)) return { action: "NONE" };
        const attempt = (latest?.attempt ?? 0) + 1;
        const restartsBefore = await actions
          .createQueryBuilder("a")
          .where("a.process_name = :name AND a.process_id = :id AND a.action IN (:...counted)", {
            name,
            id,
            counted: ["RESTART", FAILED],
          })
          .andWhere("a.cleared_at IS NULL AND a.acted_at > :since", {
            since: new Date(now.getTime() - policy.perSeconds * 1000),
          })
          .getCount();
        const action = budgetDecision(restartsBefore, policy);
        await manager
          .createQueryBuilder()
          .insert()
          .into(HealingActionEntity)
          .values({
            processName: name,
            processId: id,
            run,
            attempt,
            action,
            actedAt: now,
            replicaId,
            clearedAt: null,
          })
          .execute();
        if (action === "QUARANTINE") {
          await record(
            {
              kind: ProcessEventKind.QUARANTINED,
              message:
                `${why}; its automatic restarts are spent (${restartsBefore} in the last ${policy.perSeconds}s, ` +
                `policy "${policy.namePattern}" allows ${policy.maxRestarts}): no more until clearQuarantine`,
            },
            await mustFindProcess(manager, name),
          );
        }
        return { action, restartsBefore, attempt };
      });
    } catch (error) {
      if (isDuplicateKey(error)) return { action: "NONE" };
      throw error;
    }
  }

  /** A RESTART claimed so long ago that its run would have changed, had it happened. */
  private abandoned(action: HealingActionEntity, now: Date): boolean {
    const actedAt = dateOf(action.actedAt as Date | string);
    return action.action === "RESTART" && actedAt !== null && now.getTime() - actedAt.getTime() > this.restartLeaseMs;
  }

  /**
   * The restart claimed as `attempt` of `run` failed: the run is left as it was, so a later
   * pass may claim it again (and the attempt still counts against the budget).
   */
  async restartFailed(name: string, run: string, attempt: number): Promise<void> {
    await this.database.write(() =>
      this.database.dataSource
        .createQueryBuilder()
        .update(HealingActionEntity)
        .set({ action: FAILED })
        .where("process_name = :name AND run = :run AND attempt = :attempt AND action = 'RESTART'", {
          name,
          run,
          attempt,
        })
        .execute(),
    );
  }

  /**
   * Ends `name`'s quarantine, recording QUARANTINE_CLEARED, and takes its restarts so far
   * off the budget: the healer may restart it again at once. False when it was not
   * quarantined (nothing recorded).
   */
  async clear(name: string, principal: Principal): Promise<boolean> {
    const now = this.clock.now();
    return this.transitions.run(name, principal, async (manager, record) => {
      // Only this process's own actions: a deleted namesake's leftovers are no quarantine of it.
      const process = await mustFindProcess(manager, name);
      const deleted = await manager
        .createQueryBuilder()
        .delete()
        .from(HealingActionEntity)
        .where("process_name = :name AND process_id = :id AND action = 'QUARANTINE'", { name, id: process.id })
        .execute();
      if (!deleted.affected) return false;
      await manager
        .createQueryBuilder()
        .update(HealingActionEntity)
        .set({ clearedAt: now })
        .where("process_name = :name AND process_id = :id AND cleared_at IS NULL", { name, id: process.id })
        .execute();
      await record(
        { kind: ProcessEventKind.QUARANTINE_CLEARED, message: "quarantine cleared: automatic restarts may resume" },
        process,
      );
      return true;
    });
  }
}
