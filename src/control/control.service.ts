import type { Principal } from "../auth/principal.js";
import type { ProcessEntity } from "../db/process.entity.js";
import { DesiredState } from "../domain/desired-state.js";
import { AppError, BadUserInputError, ErrorCode, NotFoundError } from "../errors.js";
import type { Logger } from "../logger.js";
import { ProcessStatus } from "../domain/process-status.js";
import type { DesiredStates } from "../registry/desired-states.js";
import type { ProcessFilter, ProcessReads } from "../registry/process-reads.js";
import type { Transitions } from "../registry/transitions.js";
import type { SupervisorClient } from "../supervisor/supervisor-client.js";
import { describeAddress, SupervisorFault, type SupervisorAddress } from "../supervisor/supervisor.errors.js";
import { addressOf, supervisorKey } from "../supervisor/host-answers.js";
import { KeyedMutex } from "../keyed-mutex.js";
import { runBulk } from "./bulk-schedule.js";

export type ControlAction = "start" | "stop" | "restart";

/** One process's outcome in a bulk operation. */
export interface ControlResult {
  readonly name: string;
  readonly outcome: "DONE" | "FAILED" | "SKIPPED";
  readonly process: ProcessEntity | null;
  readonly error: { readonly code: string; readonly message: string; readonly faultName: string | null } | null;
}

export interface BulkOptions {
  /** At most this many processes at a time (and never two on one supervisord). */
  readonly maxParallel: number;
  /** Go on after a failure; by default the rest are SKIPPED (a rolling restart stops). */
  readonly continueOnError: boolean;
}

export const MAX_PARALLEL = 100;

/** Registry statuses from which a start / stop moves the row to `starting` / `stopping`. */
const STARTABLE = [ProcessStatus.STOPPED, ProcessStatus.ERROR, ProcessStatus.STOPPING];
const STOPPABLE = [ProcessStatus.RUNNING, ProcessStatus.STARTING, ProcessStatus.ERROR];

export interface ControlSettings {
  /**
   * The longest one start or stop waits for supervisord (SUPERVISOR_CONTROL_TIMEOUT_MS):
   * drift is held off that long (and a little more) while one is under way.
   */
  readonly controlTimeoutMs: number;
}

/** Beyond the control timeout, how long the hold on drift lasts: the marks and the settle after the call. */
const HOLD_MARGIN_MS = 5_000;

/**
 * start / stop / restart on the right supervisord, with the registry following.
 *
 * Calls on one process are serialised (start, stop and restart share one queue per
 * process); different processes proceed in parallel. supervisord's `startProcess` /
 * `stopProcess` are called with `wait=true`, so a call returns once supervisord has the
 * program up for `startsecs`, or down. Each call also says what the process is meant to be
 * doing from then on (its desired state: RUNNING after a start or restart, STOPPED after a
 * stop).
 */
export class ControlService {
  private readonly queue = new KeyedMutex();

  constructor(
    private readonly processes: ProcessReads,
    private readonly transitions: Transitions,
    private readonly desired: DesiredStates,
    private readonly client: SupervisorClient,
    private readonly logger: Logger,
    private readonly settings: ControlSettings,
  ) {}

  async start(name: string, principal: Principal): Promise<ProcessEntity> {
    return this.action(name, principal, async (row) => this.startLocked(row, principal));
  }

  async stop(name: string, principal: Principal): Promise<ProcessEntity> {
    return this.action(name, principal, async (row) => this.stopLocked(row, DesiredState.STOPPED, principal));
  }

  /**
   * Stop and wait, then start and wait, as one operation on the process's queue. `note`
   * (why, when it is not an operator's call) goes into the recorded stop request.
   */
  async restart(name: string, principal: Principal, note?: string): Promise<ProcessEntity> {
    return this.action(name, principal, async (row) =>
      this.startLocked(await this.stopLocked(row, DesiredState.RUNNING, principal, note), principal),
    );
  }

  /** `work` on the process's queue, on its current row; the hold on drift ends with it. */
  private action(
    name: string,
    principal: Principal,
    work: (row: ProcessEntity) => Promise<ProcessEntity>,
  ): Promise<ProcessEntity> {
    return this.queue.run(name, async () => {
      const row = await this.target(name, principal);
      try {
        return await work(row);
      } finally {
        await this.desired
          .endAction(name, principal)
          .catch((error: unknown) =>
            this.logger.warn({ reason: (error as Error).message, process: name }, "could not release the drift hold"),
          );
      }
    });
  }

  /**
   * The action on every process the filter selects, in name order: at most
   * `maxParallel` at a time and one per supervisord at a time, so that `maxParallel: 1`
   * is a rolling operation. After a failure the rest are SKIPPED unless `continueOnError`.
   */
  async bulk(
    action: ControlAction,
    filter: ProcessFilter,
    options: BulkOptions,
    principal: Principal,
  ): Promise<ControlResult[]> {
    if (!Number.isInteger(options.maxParallel) || options.maxParallel < 1 || options.maxParallel > MAX_PARALLEL) {
      throw BadUserInputError.of([
        { field: "maxParallel", message: `must be between 1 and ${MAX_PARALLEL} (got ${options.maxParallel})` },
      ]);
    }
    if (!filter.names?.length && !filter.namePrefix && !filter.statuses?.length && !filter.supervisorHost) {
      throw BadUserInputError.of([
        {
          field: "filter",
          message: "must select processes (names, namePrefix, statuses or supervisorHost); it selects all",
        },
      ]);
    }
    const rows = await this.processes.list(filter, principal);
    return runBulk(rows, {
      maxParallel: options.maxParallel,
      continueOnError: options.continueOnError,
      supervisorOf: (row) => {
        const address = addressOf(row);
        return address ? supervisorKey(address) : null;
      },
      run: (row) => this.one(action, row.name, principal),
      failed: (result) => result.outcome === "FAILED",
      skipped: (row) => ({ name: row.name, outcome: "SKIPPED", process: row, error: null }),
    });
  }

  private async one(action: ControlAction, name: string, principal: Principal): Promise<ControlResult> {
    try {
      const process = await this[action](name, principal);
      return { name, outcome: "DONE", process, error: null };
    } catch (error) {
      if (!(error instanceof AppError)) this.logger.error({ err: error, process: name, action }, "control failed");
      const coded = error instanceof AppError ? error : null;
      return {
        name,
        outcome: "FAILED",
        process: await this.processes.get(name, principal).catch(() => null),
        error: {
          code: coded?.code ?? ErrorCode.INTERNAL_SERVER_ERROR,
          message: coded?.message ?? "Internal server error",
          faultName: error instanceof SupervisorFault ? error.faultName : null,
        },
      };
    }
  }

  /** The row to act on, read on the process's queue so that it is current. */
  private async target(name: string, principal: Principal): Promise<ProcessEntity> {
    const row = await this.processes.get(name, principal);
    if (!row) throw new NotFoundError(`no process named "${name}" in the registry`, { processName: name });
    if (!addressOf(row)) {
      throw new BadUserInputError(
        `"${name}" has no supervisord in the registry (supervisorHost / supervisorPort); set them with updateProcess`,
      );
    }
    return row;
  }

  /**
   * The registry is marked `starting` before the call to supervisord goes out. The mark is
   * a conditional UPDATE from stopped / error / stopping: a server that registers while
   * supervisord waits for `startsecs` is `running`, which nothing here overwrites.
   */
  private async startLocked(row: ProcessEntity, principal: Principal): Promise<ProcessEntity> {
    // Idempotent: ALREADY_STARTED means it runs, which is what was asked.
    await this.callMarked(
      row,
      "start",
      DesiredState.RUNNING,
      { from: STARTABLE, to: ProcessStatus.STARTING },
      "ALREADY_STARTED",
      principal,
    );
    return this.current(row.name, principal);
  }

  /**
   * Marks the registry (`marking.to`, from `marking.from`) with `desired` as the process's
   * desired state, then calls supervisord for `action`. The mark commits first: a stop's
   * SIGTERM makes the server deregister at once, and a mark committed after that would
   * find it `stopped` and record the request after its effect. A mark the database
   * refuses ends the action before supervisord is called, so nothing has changed. A
   * failure of the call (other than `idempotentFault`, which means the process is already
   * as asked) is recorded and thrown, explained.
   */
  private async callMarked(
    row: ProcessEntity,
    action: "start" | "stop",
    desired: DesiredState,
    marking: { readonly from: readonly ProcessStatus[]; readonly to: ProcessStatus },
    idempotentFault: string,
    principal: Principal,
    note?: string,
  ): Promise<void> {
    const address = addressOf(row)!;
    const marked = await this.desired.beginAction(
      row.name,
      desired,
      { ...marking, message: note ? `${action} requested (${note})` : `${action} requested` },
      this.settings.controlTimeoutMs + HOLD_MARGIN_MS,
      principal,
    );
    const call =
      action === "start"
        ? this.client.startProcess(address, row.program)
        : this.client.stopProcess(address, row.program);
    const failure = await call.then(
      () => null,
      (error: unknown) => (error instanceof SupervisorFault && error.faultName === idempotentFault ? null : error),
    );
    if (failure) {
      await this.afterFailure(row, action, failure, marked.changed ? row.status : null, principal);
      throw this.explain(failure, address, row.program);
    }
  }

  /** Stops the program; `desired` is what the process is meant to do after (a restart's is RUNNING). */
  private async stopLocked(
    row: ProcessEntity,
    desired: DesiredState,
    principal: Principal,
    note?: string,
  ): Promise<ProcessEntity> {
    // Idempotent: NOT_RUNNING means it does not run, which is what was asked.
    await this.callMarked(
      row,
      "stop",
      desired,
      { from: STOPPABLE, to: ProcessStatus.STOPPING },
      "NOT_RUNNING",
      principal,
      note,
    );
    // supervisord confirmed the stop. A server that deregistered itself is `stopped`
    // already; one that was killed never will, so the registry follows supervisord.
    const settled = await this.transitions.moveAndRecord(
      row.name,
      [ProcessStatus.STOPPING],
      ProcessStatus.STOPPED,
      "stopped: supervisord confirmed, the server did not deregister",
      principal,
      { clearPid: true },
    );
    return settled.process;
  }

  /**
   * A failed start puts the registry in `error` (supervisord could not run the program);
   * a call that never reached the program (supervisord unreachable, unknown program)
   * puts back the status the row had.
   */
  private async afterFailure(
    row: ProcessEntity,
    action: "start" | "stop",
    error: unknown,
    previous: ProcessStatus | null,
    principal: Principal,
  ): Promise<void> {
    const { name, program } = row;
    const address = addressOf(row)!;
    const marked = action === "start" ? ProcessStatus.STARTING : ProcessStatus.STOPPING;
    const reached = error instanceof SupervisorFault && error.faultName !== "BAD_NAME";
    if (reached && action === "start") {
      await this.transitions.moveAndRecord(
        name,
        [marked],
        ProcessStatus.ERROR,
        `start failed: ${(error as SupervisorFault).message}`,
        principal,
      );
    } else if (previous !== null) {
      const why = error instanceof AppError ? error.message : "unexpected error";
      await this.transitions.moveAndRecord(
        name,
        [marked],
        previous,
        `${action} of ${program} on ${describeAddress(address)} failed: ${why}`,
        principal,
      );
    }
  }

  private explain(error: unknown, address: SupervisorAddress, program: string): unknown {
    if (error instanceof SupervisorFault && error.faultName === "BAD_NAME") {
      return new NotFoundError(`supervisord at ${describeAddress(address)} has no program "${program}"`, {
        supervisor: describeAddress(address),
        program,
      });
    }
    return error;
  }

  private async current(name: string, principal: Principal): Promise<ProcessEntity> {
    const row = await this.processes.get(name, principal);
    if (!row) throw new NotFoundError(`no process named "${name}" in the registry`, { processName: name });
    return row;
  }
}
