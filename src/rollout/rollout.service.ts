import { assertMayTouch, type Principal } from "../auth/principal.js";
import type { Clock } from "../clock.js";
import type { ProcessEntity } from "../db/process.entity.js";
import { Drift } from "../domain/desired-state.js";
import { RolloutAction, RolloutState, type StepAction } from "../domain/rollout.js";
import { check, processNameProblem } from "../domain/validation.js";
import { BadUserInputError, ConflictError, type InvalidField } from "../errors.js";
import type { ProcessFilter, ProcessReads } from "../registry/process-reads.js";
import { addressOf } from "../supervisor/host-answers.js";
import { planSteps, type RolloutTarget } from "./rollout-plan.js";
import { parseRolloutId, type RolloutReads } from "./rollout-reads.js";
import type { RolloutStore } from "./rollout-store.js";
import type { RolloutWorker } from "./rollout-worker.js";
import type { Rollout, RolloutOptions, StoredRollout } from "./rollout.js";

/** What `startRollout` is asked; omitted options take their defaults. */
export interface RolloutInput extends Partial<RolloutOptions> {
  readonly action: RolloutAction;
  /** Which processes, as the list query selects them… */
  readonly filter?: ProcessFilter | null | undefined;
  /** …or by name (one of the two). */
  readonly names?: readonly string[] | null | undefined;
  /** Return the plan; store and do nothing. @default false */
  readonly dryRun?: boolean | null | undefined;
}

/** What `reconcile` is asked; omitted options take their defaults (no pause between batches). */
export interface ReconcileInput extends Partial<Omit<RolloutOptions, "pauseSeconds">> {
  /** Among the processes this selects (all when omitted), the drifted ones. */
  readonly filter?: ProcessFilter | null | undefined;
  readonly dryRun?: boolean | null | undefined;
}

export const ROLLOUT_DEFAULTS: RolloutOptions = {
  maxUnavailable: 1,
  waitForHealthy: true,
  healthTimeoutSeconds: 60,
  pauseSeconds: 0,
};

/** The most processes one rollout takes. */
export const MAX_ROLLOUT_STEPS = 1000;
const MAX_UNAVAILABLE = 100;
const MAX_SECONDS = 3600;

export interface RolloutServiceSettings {
  /** This replica's id: the owner of the leases of the rollouts it starts. */
  readonly owner: string;
  readonly leaseMs: number;
}

/**
 * Rollouts as named commands: planned from the registry, stored with their steps (or,
 * for a dry run, only returned), run by this replica's {@link RolloutWorker}, watched and
 * cancelled from any replica.
 */
export class RolloutService {
  constructor(
    private readonly processes: ProcessReads,
    private readonly reads: RolloutReads,
    private readonly store: RolloutStore,
    private readonly worker: RolloutWorker,
    private readonly clock: Clock,
    private readonly settings: RolloutServiceSettings,
  ) {}

  /** A rolling RESTART, START or STOP of the processes `input` selects. */
  async start(input: RolloutInput, principal: Principal): Promise<Rollout> {
    const options = optionsOf(input);
    const problems = optionProblems(options, "input.");
    if (input.action === RolloutAction.RECONCILE) {
      problems.push({ field: "input.action", message: "RECONCILE is what reconcile(filter) starts; call it instead" });
    }
    const byNames = input.names != null;
    if (byNames === (input.filter != null)) {
      problems.push({ field: "input", message: "must give either filter or names (one of the two)" });
    }
    input.names?.forEach((name, i) => check(problems, `input.names[${i}]`, name, processNameProblem));
    if (input.names && (input.names.length === 0 || input.names.length > MAX_ROLLOUT_STEPS)) {
      problems.push({ field: "input.names", message: `must name 1 to ${MAX_ROLLOUT_STEPS} processes` });
    }
    if (input.filter && selectsAll(input.filter)) {
      problems.push({
        field: "input.filter",
        message: "must select processes (names, namePrefix, statuses or supervisorHost); it selects all",
      });
    }
    if (problems.length > 0) throw BadUserInputError.of(problems);
    const action = input.action as StepAction;

    let rows: ProcessEntity[];
    if (byNames) {
      const names = [...new Set(input.names)];
      for (const name of names) assertMayTouch(principal, name, "roll out");
      rows = await this.processes.list({ names }, principal);
      const found = new Set(rows.map((row) => row.name));
      const missing = names.filter((name) => !found.has(name));
      if (missing.length > 0) {
        throw BadUserInputError.of(
          missing.map((name) => ({ field: "input.names", message: `no process named "${name}" in the registry` })),
        );
      }
    } else {
      rows = await this.processes.list(input.filter!, principal);
    }
    return this.launch(
      input.action,
      rows.map((process) => ({ process, action })),
      options,
      Boolean(input.dryRun),
      principal,
    );
  }

  /**
   * A rollout that brings the drifted processes among those `input.filter` selects back to
   * their desired state: START where they should run, STOP where they should not. A
   * program its supervisord does not have (UNKNOWN_PROGRAM) is no rollout's to fix.
   */
  async reconcile(input: ReconcileInput, principal: Principal): Promise<Rollout> {
    const options = optionsOf({ ...input, pauseSeconds: 0 });
    const problems = optionProblems(options, "");
    if (problems.length > 0) throw BadUserInputError.of(problems);
    const rows = await this.processes.list(input.filter ?? {}, principal);
    const targets = rows.flatMap((process): RolloutTarget[] => {
      if (process.drift === Drift.SHOULD_RUN) return [{ process, action: RolloutAction.START }];
      if (process.drift === Drift.SHOULD_NOT_RUN) return [{ process, action: RolloutAction.STOP }];
      return [];
    });
    if (targets.length === 0) {
      throw BadUserInputError.of([
        {
          field: "filter",
          message: "selects no process that should run and does not, or should not run and does",
        },
      ]);
    }
    return this.launch(RolloutAction.RECONCILE, targets, options, Boolean(input.dryRun), principal);
  }

  async get(id: string, principal: Principal): Promise<Rollout> {
    return this.reads.get(parseRolloutId(id), principal);
  }

  /** Rollouts newest first; `after` is the id of the last one of the previous page. */
  async page(
    first: number,
    after: string | null,
    principal: Principal,
  ): Promise<{ rollouts: StoredRollout[]; hasNextPage: boolean }> {
    return this.reads.page(first, after === null ? null : parseRolloutId(after, "after"), principal);
  }

  /**
   * Asks the replica running the rollout to cancel it: the steps under way finish, the
   * rest are CANCELLED. CONFLICT when it has finished already.
   */
  async cancel(id: string, principal: Principal): Promise<Rollout> {
    const rolloutId = parseRolloutId(id);
    const rollout = await this.reads.get(rolloutId, principal);
    if (rollout.state !== RolloutState.RUNNING) {
      throw new ConflictError(`rollout ${rolloutId} has finished already (${rollout.state})`);
    }
    await this.store.requestCancel(rolloutId, principal);
    this.worker.nudge(rolloutId);
    return this.reads.get(rolloutId, principal);
  }

  private async launch(
    action: RolloutAction,
    targets: readonly RolloutTarget[],
    options: RolloutOptions,
    dryRun: boolean,
    principal: Principal,
  ): Promise<Rollout> {
    const problems: InvalidField[] = [];
    if (targets.length === 0) problems.push({ field: "input", message: "selects no process" });
    if (targets.length > MAX_ROLLOUT_STEPS) {
      problems.push({
        field: "input",
        message: `selects ${targets.length} processes; a rollout takes at most ${MAX_ROLLOUT_STEPS}`,
      });
    }
    const unaddressed = targets.filter((t) => !addressOf(t.process)).map((t) => t.process.name);
    if (unaddressed.length > 0) {
      problems.push({
        field: "input",
        message: `selects processes that name no supervisord (set one with updateProcess): ${unaddressed.join(", ")}`,
      });
    }
    if (problems.length > 0) throw BadUserInputError.of(problems);

    const steps = planSteps(targets, options.maxUnavailable);
    if (dryRun) {
      return {
        id: null,
        action,
        state: RolloutState.PLANNED,
        ...options,
        createdBy: principal.name,
        createdAt: this.clock.now(),
        finishedAt: null,
        cancelRequestedAt: null,
        cancelledBy: null,
        steps,
      };
    }
    const rollout = await this.store.create(
      { action, steps, actor: principal, ...options },
      this.settings.owner,
      this.settings.leaseMs,
    );
    this.worker.run(rollout.id);
    return rollout;
  }
}

function optionsOf(input: Partial<RolloutOptions>): RolloutOptions {
  return {
    maxUnavailable: input.maxUnavailable ?? ROLLOUT_DEFAULTS.maxUnavailable,
    waitForHealthy: input.waitForHealthy ?? ROLLOUT_DEFAULTS.waitForHealthy,
    healthTimeoutSeconds: input.healthTimeoutSeconds ?? ROLLOUT_DEFAULTS.healthTimeoutSeconds,
    pauseSeconds: input.pauseSeconds ?? ROLLOUT_DEFAULTS.pauseSeconds,
  };
}

function optionProblems(options: RolloutOptions, prefix: string): InvalidField[] {
  const problems: InvalidField[] = [];
  const within = (field: keyof RolloutOptions, min: number, max: number) => {
    const value = options[field] as number;
    if (!Number.isInteger(value) || value < min || value > max) {
      problems.push({ field: `${prefix}${field}`, message: `must be between ${min} and ${max} (got ${value})` });
    }
  };
  within("maxUnavailable", 1, MAX_UNAVAILABLE);
  within("healthTimeoutSeconds", 1, MAX_SECONDS);
  within("pauseSeconds", 0, MAX_SECONDS);
  return problems;
}

function selectsAll(filter: ProcessFilter): boolean {
  return !filter.names?.length && !filter.namePrefix && !filter.statuses?.length && !filter.supervisorHost;
}
