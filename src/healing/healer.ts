import type { Principal } from "../auth/principal.js";
import type { Clock } from "../clock.js";
import type { ControlService } from "../control/control.service.js";
import type { ProcessEntity } from "../db/process.entity.js";
import { ProcessStatus } from "../domain/process-status.js";
import { Role } from "../domain/role.js";
import type { Logger } from "../logger.js";
import type { ProcessReads } from "../registry/process-reads.js";
import { forEachAtMost } from "../for-each-at-most.js";
import { addressOf, supervisorKey } from "../supervisor/host-answers.js";
import type { SupervisorClient } from "../supervisor/supervisor-client.js";
import { SupervisorUnavailable } from "../supervisor/supervisor.errors.js";
import { Periodic } from "../watch/periodic.js";
import { CheckProblems } from "./check-problems.js";
import { judgeRun } from "./healing-decision.js";
import { policyFor, type HealingPolicy } from "./healing-policy.js";
import type { HealingStore } from "./healing-store.js";

/** The actor of every automatic restart and quarantine. */
export const HEALER_PRINCIPAL: Principal = Object.freeze({
  tokenId: null,
  name: "fleetvisor:healer",
  role: Role.ADMIN,
  processPattern: null,
});

/** What one pass did to one process. */
export interface HealingOutcome {
  readonly name: string;
  readonly run: string;
  readonly action: "RESTARTED" | "QUARANTINED" | "RESTART_FAILED";
  readonly reason: string;
}

export interface HealerSettings {
  /** How often each replica looks for unresponsive processes; 0 turns the healer off. */
  readonly checkIntervalMs: number;
  /** This replica's id, stored with each action it takes. */
  readonly replicaId: string;
  /** Processes checked (and restarted) at once, at most (SUPERVISOR_POLL_CONCURRENCY). */
  readonly concurrency: number;
}

/**
 * Restarts unresponsive processes under their healing policy, on every replica.
 *
 * A pass reads the policies, and the registry rows they cover whose heartbeat is older than
 * their policy's limit; only those are asked about (supervisord's `getProcessInfo`), so a
 * healthy fleet costs one query a pass. A run judged unresponsive ({@link judgeRun}) is
 * claimed in the database ({@link HealingStore.claim}): the replica that wins restarts it
 * through the control service, as the actor `fleetvisor:healer`; when the budget is spent,
 * the process is quarantined instead. A restart that fails is marked so
 * ({@link HealingStore.restartFailed}): the next pass that finds the run still hung claims
 * it again, on the same budget. Replicas do not divide the work between them: the claim
 * makes each run's fate one replica's, and any replica keeps healing when others die.
 *
 * A pass checks at most `concurrency` processes at a time; once a supervisord does not
 * answer, the pass checks none of its other processes, and the problem is logged once
 * when it begins and once when it ends ({@link CheckProblems}).
 */
export class Healer {
  private readonly periodic: Periodic<HealingOutcome[]>;
  private readonly problems: CheckProblems;

  constructor(
    private readonly store: HealingStore,
    private readonly processes: ProcessReads,
    private readonly client: SupervisorClient,
    private readonly control: ControlService,
    private readonly clock: Clock,
    private readonly logger: Logger,
    private readonly settings: HealerSettings,
  ) {
    this.periodic = new Periodic("healer", settings.checkIntervalMs, () => this.pass(), logger);
    this.problems = new CheckProblems(logger, clock);
  }

  start(): void {
    this.periodic.start();
  }

  /** Stops looking; a restart under way finishes first. */
  stop(): Promise<void> {
    return this.periodic.stop();
  }

  /** One pass now (after the one under way, if any): for tests and tools. */
  runOnce(): Promise<HealingOutcome[]> {
    return this.periodic.runOnce();
  }

  private async pass(): Promise<HealingOutcome[]> {
    const policies = await this.store.policies();
    if (policies.length === 0) {
      this.problems.retain(new Set());
      return [];
    }
    const now = this.clock.now();
    const candidates = (await this.processes.withSupervisor()).flatMap((row) => {
      const policy = policyFor(row.name, policies);
      return policy && heartbeatOlderThan(row, policy.restartWhenUnresponsiveAfterSeconds, now)
        ? [{ row, policy }]
        : [];
    });
    const quarantined = await this.store.quarantined(candidates.map(({ row }) => row.name));
    const due = candidates.filter(({ row }) => !quarantined.has(row.name));
    const outcomes: HealingOutcome[] = [];
    /** The problems this pass still has a process for: the others have ended. */
    const concerned = new Set<string>();
    /** Supervisords that did not answer in this pass: their other processes wait for the next. */
    const unanswered = new Set<string>();
    await forEachAtMost(this.settings.concurrency, due, async ({ row, policy }) => {
      const supervisor = supervisorKey(addressOf(row)!);
      concerned.add(supervisor).add(row.name);
      if (unanswered.has(supervisor)) return;
      try {
        const outcome = await this.heal(row, policy, supervisor);
        this.problems.answered(row.name);
        if (outcome) outcomes.push(outcome);
      } catch (error) {
        if (error instanceof SupervisorUnavailable) {
          unanswered.add(supervisor);
          this.problems.failed(supervisor, error.message, { supervisor });
        } else {
          this.problems.failed(row.name, (error as Error).message, { process: row.name });
        }
      }
    });
    this.problems.retain(concerned);
    return outcomes;
  }

  private async heal(row: ProcessEntity, policy: HealingPolicy, supervisor: string): Promise<HealingOutcome | null> {
    const info = await this.client.getProcessInfo(addressOf(row)!, row.program);
    this.problems.answered(supervisor);
    const judged = judgeRun(
      policy,
      { status: row.status ?? ProcessStatus.STOPPED, pid: row.pid, lastHeartbeat: row.lastHeartbeat },
      info,
      this.clock.now(),
    );
    if (judged.kind !== "unresponsive") return null;
    const claim = await this.store.claim(
      row,
      judged.run,
      policy,
      this.settings.replicaId,
      HEALER_PRINCIPAL,
      judged.reason,
    );
    const about = { process: row.name, run: judged.run, policy: policy.namePattern, reason: judged.reason };
    switch (claim.action) {
      case "NONE":
        return null;
      case "QUARANTINE":
        this.logger.warn(about, "automatic restarts spent: process quarantined");
        return { name: row.name, run: judged.run, action: "QUARANTINED", reason: judged.reason };
      case "RESTART": {
        const note =
          `automatic restart ${claim.restartsBefore + 1} of at most ${policy.maxRestarts} per ` +
          `${policy.perSeconds}s: ${judged.reason}`;
        this.logger.warn(about, "restarting an unresponsive process");
        try {
          await this.control.restart(row.name, HEALER_PRINCIPAL, note);
          return { name: row.name, run: judged.run, action: "RESTARTED", reason: judged.reason };
        } catch (error) {
          // The run may still hang: a later pass claims it again. Counted all the same, so a
          // restart that keeps failing ends in a quarantine rather than being tried for ever.
          this.logger.warn({ ...about, failure: (error as Error).message }, "automatic restart failed");
          await this.store.restartFailed(row.name, judged.run, claim.attempt);
          return { name: row.name, run: judged.run, action: "RESTART_FAILED", reason: (error as Error).message };
        }
      }
    }
  }
}

/** Whether the registry's last heartbeat (or its absence) is older than `seconds`: a cheap first filter. */
function heartbeatOlderThan(row: ProcessEntity, seconds: number, now: Date): boolean {
  return row.lastHeartbeat === null || now.getTime() - row.lastHeartbeat.getTime() > seconds * 1000;
}
