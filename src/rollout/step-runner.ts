import { setTimeout as sleep } from "node:timers/promises";
import type { Principal } from "../auth/principal.js";
import type { Clock } from "../clock.js";
import type { ControlService } from "../control/control.service.js";
import { ProcessStatus } from "../domain/process-status.js";
import { RolloutAction, StepOutcome, type StepAction } from "../domain/rollout.js";
import { AppError, ErrorCode } from "../errors.js";
import type { Logger } from "../logger.js";
import type { ProcessReads } from "../registry/process-reads.js";
import { addressOf } from "../supervisor/host-answers.js";
import type { SupervisorClient } from "../supervisor/supervisor-client.js";
import { SupervisorState, type SupervisorProcessInfo } from "../supervisor/supervisor-state.js";
import type { RolloutStep, StepError, StoredRollout } from "./rollout.js";

/** How a step ended. */
export interface StepResult {
  readonly outcome: StepOutcome.DONE | StepOutcome.FAILED | StepOutcome.HEALTH_TIMEOUT;
  readonly error: StepError | null;
}

export interface StepSettings {
  /** A heartbeat older than this does not count (HEARTBEAT_STALE_SECONDS). */
  readonly heartbeatStaleSeconds: number;
  /** The longest a start or stop takes (SUPERVISOR_CONTROL_TIMEOUT_MS). */
  readonly controlTimeoutMs: number;
  /** How often supervisord and the registry are looked at while waiting. @default 500 */
  readonly pollMs?: number;
}

/** What the steps need of the control service: start, stop, restart, each waiting for supervisord. */
export type Control = Pick<ControlService, "start" | "stop" | "restart">;

const DONE: StepResult = { outcome: StepOutcome.DONE, error: null };

/** What a step found wrong itself, in words a client may read, with the code it reads as. */
class StepProblem extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
  ) {
    super(message);
  }
}

/** supervisord states on the way somewhere: a re-check waits them out. */
const ON_THE_WAY: ReadonlySet<SupervisorState> = new Set([SupervisorState.STARTING, SupervisorState.STOPPING]);

/**
 * One step of a rollout on one process: the action through the control service (so that
 * it is serialised with every other control call on the process, says the desired state
 * and holds drift off), then, with `waitForHealthy`, the wait for health.
 *
 * A started process counts as healthy when supervisord says RUNNING and the registry is
 * `running` with that same pid and a fresh heartbeat: the new run registered, so its
 * heartbeat came after the start (a pid is the evidence the guide's table can hold; its
 * heartbeat times have whole seconds only). A restart must also show a pid other than the
 * one recorded before the step began.
 */
export class StepRunner {
  private readonly pollMs: number;

  constructor(
    private readonly control: Control,
    private readonly client: SupervisorClient,
    private readonly processes: ProcessReads,
    private readonly clock: Clock,
    private readonly logger: Logger,
    private readonly settings: StepSettings,
  ) {
    this.pollMs = settings.pollMs ?? 500;
  }

  /** supervisord's pid of the step's program now (0: not running), or `null` when it cannot say. */
  async pidNow(step: RolloutStep): Promise<number | null> {
    const info = await this.info(step);
    return info instanceof Error ? null : info.pid;
  }

  /** The step from its beginning (it was just marked IN_PROGRESS with `pidBefore`). */
  async run(rollout: StoredRollout, step: RolloutStep, signal: AbortSignal): Promise<StepResult> {
    const failed = await this.act(step.action, step.processName, rollout.actor);
    return failed ?? this.settle(rollout, step, signal);
  }

  /**
   * A step that a replica began and did not finish (it died): what it did is looked at
   * instead of done again, so that no process is restarted twice. supervisord's pid is
   * compared with the one recorded before the step began: a restart whose new run is up
   * is only waited on; one that stopped the program and no more is finished with a start;
   * one that never reached supervisord is done now.
   */
  async recheck(rollout: StoredRollout, step: RolloutStep, signal: AbortSignal): Promise<StepResult> {
    const info = await this.settledInfo(step, signal);
    if (info instanceof Error) return failure(info);
    const next = whatRemains(step.action, step.pidBefore, info);
    if ("problem" in next) return failure(new StepProblem(ErrorCode.SUPERVISOR_FAULT, next.problem));
    const redo = next.redo;
    this.logger.info(
      { process: step.processName, state: info.state, pid: info.pid, pidBefore: step.pidBefore, redo },
      `rollout ${rollout.id}: re-checked the step under way on ${step.processName}`,
    );
    const failed = redo ? await this.act(redo, step.processName, rollout.actor) : null;
    return failed ?? this.settle(rollout, step, signal);
  }

  /** After the action: done, or (with waitForHealthy) once the new run is healthy. */
  private async settle(rollout: StoredRollout, step: RolloutStep, signal: AbortSignal): Promise<StepResult> {
    if (step.action === RolloutAction.STOP || !rollout.waitForHealthy) return DONE;
    const timeoutSeconds = rollout.healthTimeoutSeconds;
    const deadline = this.clock.now().getTime() + timeoutSeconds * 1000;
    for (;;) {
      signal.throwIfAborted();
      const why = await this.notHealthyBecause(step);
      if (why === null) return DONE;
      if (this.clock.now().getTime() >= deadline) {
        return {
          outcome: StepOutcome.HEALTH_TIMEOUT,
          error: { code: StepOutcome.HEALTH_TIMEOUT, message: `not healthy within ${timeoutSeconds}s: ${why}` },
        };
      }
      await sleep(this.pollMs, undefined, { signal });
    }
  }

  /** Why the step's process is not healthy from its new run yet, or `null` when it is. */
  private async notHealthyBecause(step: RolloutStep): Promise<string | null> {
    const info = await this.info(step);
    if (info instanceof Error) return info.message;
    if (info.state !== SupervisorState.RUNNING) return `supervisord says ${info.state}`;
    if (step.action === RolloutAction.RESTART && step.pidBefore && info.pid === step.pidBefore) {
      return `supervisord still runs the pid from before the restart (${info.pid})`;
    }
    const [row] = await this.processes.getMany([step.processName]);
    if (!row) return "it is no longer in the registry";
    if (row.status !== ProcessStatus.RUNNING || row.pid !== info.pid) {
      const registry = `${row.status}${row.pid ? `, pid ${row.pid}` : ""}`;
      return `supervisord runs pid ${info.pid}, which has not registered (the registry says ${registry})`;
    }
    const age = row.lastHeartbeat ? (this.clock.now().getTime() - row.lastHeartbeat.getTime()) / 1000 : Infinity;
    if (age > this.settings.heartbeatStaleSeconds) {
      return `pid ${info.pid} registered, but its last heartbeat is ${Math.round(age)}s old`;
    }
    return null;
  }

  /** The action through the control service; the step's failure, or `null` when it went through. */
  private async act(action: StepAction, name: string, actor: Principal): Promise<StepResult | null> {
    try {
      if (action === RolloutAction.START) await this.control.start(name, actor);
      else if (action === RolloutAction.STOP) await this.control.stop(name, actor);
      else await this.control.restart(name, actor);
      return null;
    } catch (error) {
      if (!(error instanceof AppError)) this.logger.error({ err: error, process: name, action }, "rollout step failed");
      return failure(error);
    }
  }

  /** What supervisord says of the program once it is not on its way somewhere (at most the control timeout). */
  private async settledInfo(step: RolloutStep, signal: AbortSignal): Promise<SupervisorProcessInfo | Error> {
    const deadline = this.clock.now().getTime() + this.settings.controlTimeoutMs;
    for (;;) {
      const info = await this.info(step);
      if (info instanceof Error || !ON_THE_WAY.has(info.state) || this.clock.now().getTime() >= deadline) return info;
      await sleep(this.pollMs, undefined, { signal });
    }
  }

  private async info(step: RolloutStep): Promise<SupervisorProcessInfo | Error> {
    const address = addressOf(step);
    if (!address) return new StepProblem(ErrorCode.BAD_USER_INPUT, `"${step.processName}" names no supervisord`);
    return this.client.getProcessInfo(address, step.program).catch((error: unknown) => error as Error);
  }
}

/**
 * What a step that a replica began and did not finish still needs, from what supervisord
 * says of the program now (not STARTING or STOPPING: those are waited out first) and its pid
 * when the step began: an action to do (`redo`), nothing more (`redo: null`, the step's
 * health is then waited for), or a problem that fails the step. A restart is judged by the
 * pid: another pid, or none known from before, means it happened; the same pid, that it
 * never reached supervisord; stopped, that it got as far as the stop.
 */
export function whatRemains(
  action: StepAction,
  pidBefore: number | null,
  now: Pick<SupervisorProcessInfo, "state" | "pid" | "spawnError">,
): { readonly redo: StepAction | null } | { readonly problem: string } {
  const says = `supervisord says ${now.state}${now.spawnError ? `: ${now.spawnError}` : ""}`;
  const running = now.state === SupervisorState.RUNNING;
  const down = [SupervisorState.STOPPED, SupervisorState.EXITED, SupervisorState.FATAL].includes(now.state);
  switch (action) {
    case RolloutAction.STOP:
      if (running || now.state === SupervisorState.BACKOFF) return { redo: RolloutAction.STOP };
      return down ? { redo: null } : { problem: says };
    case RolloutAction.START:
      if (running) return { redo: null };
      return down ? { redo: RolloutAction.START } : { problem: says };
    case RolloutAction.RESTART:
      if (running) return { redo: pidBefore && now.pid === pidBefore ? RolloutAction.RESTART : null };
      // It ran before the step and failed to come back: the start that was made failed.
      if (now.state === SupervisorState.FATAL && pidBefore) return { problem: says };
      return down ? { redo: RolloutAction.START } : { problem: says };
  }
}

/** A failed step's outcome, from what went wrong; anything unexpected is masked (it is logged where caught). */
function failure(error: unknown): StepResult {
  const known = error instanceof AppError || error instanceof StepProblem ? error : null;
  return {
    outcome: StepOutcome.FAILED,
    error: {
      code: known?.code ?? ErrorCode.INTERNAL_SERVER_ERROR,
      message: known?.message ?? "Internal server error",
    },
  };
}
