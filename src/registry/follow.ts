import { ProcessStatus } from "../domain/process-status.js";
import { SupervisorState } from "../supervisor/supervisor-state.js";

/** What supervisord was seen to say of a program, or that it could not be asked. */
export type ObservedState = SupervisorState | "UNREACHABLE";

export interface Observation {
  readonly state: ObservedState;
  /** 0 when not running. */
  readonly pid: number;
  /** When, on supervisord's clock. */
  readonly at: Date;
  /**
   * A poll's: when Fleetvisor asked, on its own clock and to the millisecond (supervisord's
   * answer gives whole seconds); what it saw is no older.
   */
  readonly askedAt?: Date;
  /** For EXITED: whether the exit status was one supervisord expects (the listener knows; a poll guesses 0). */
  readonly expected?: boolean | undefined;
  /** Where it came from, for the event's message. */
  readonly source: "poll" | "listener";
  readonly detail?: string | undefined;
}

/** How the registry follows a change supervisord reported. */
export interface Follow {
  // A crash keeps the pid the process registered with: when supervisord restarts it, the
  // pid that differs is how health tells a restarted process from the one that registered.
  /** Move the registry row from one of these… */
  readonly from: readonly ProcessStatus[];
  /** …to this. */
  readonly to: ProcessStatus;
  readonly clearPid: boolean;
  readonly message: string;
  /** Also an alert (PROCESS_CRASHED). */
  readonly crash: boolean;
}

const ALIVE = [ProcessStatus.RUNNING, ProcessStatus.STOPPING, ProcessStatus.ERROR];

/**
 * The registry follows supervisord (the status lifecycle in docs/architecture.md): stopped or killed without a
 * deregister → `stopped`; FATAL / BACKOFF / an unexpected exit → `error`; stopping outside
 * Fleetvisor → `stopping`. `starting` is Fleetvisor's own mark for a start under way and
 * is left to that start. Returns `null` when the registry has nothing to follow.
 */
export function followSupervisor(observation: Observation): Follow | null {
  switch (observation.state) {
    case SupervisorState.STOPPED:
      return {
        from: ALIVE,
        to: ProcessStatus.STOPPED,
        clearPid: true,
        message: "supervisord stopped it; no deregister came",
        crash: false,
      };
    case SupervisorState.EXITED:
      return observation.expected === false
        ? {
            from: [...ALIVE, ProcessStatus.STOPPED],
            to: ProcessStatus.ERROR,
            clearPid: false,
            message: `exited unexpectedly${detail(observation)}`,
            crash: true,
          }
        : {
            from: ALIVE,
            to: ProcessStatus.STOPPED,
            clearPid: true,
            message: `exited${detail(observation)}; no deregister came`,
            crash: false,
          };
    case SupervisorState.FATAL:
    case SupervisorState.BACKOFF:
      return {
        from: [ProcessStatus.RUNNING, ProcessStatus.STOPPING, ProcessStatus.STOPPED, ProcessStatus.STARTING],
        to: ProcessStatus.ERROR,
        clearPid: false,
        message: `supervisord says ${observation.state}${detail(observation)}`,
        crash: true,
      };
    case SupervisorState.STOPPING:
      return {
        from: [ProcessStatus.RUNNING],
        to: ProcessStatus.STOPPING,
        clearPid: false,
        message: "supervisord is stopping it",
        crash: false,
      };
    case SupervisorState.STARTING:
    case SupervisorState.RUNNING:
    case SupervisorState.UNKNOWN:
    case "UNREACHABLE":
      return null;
  }
}

function detail(observation: Observation): string {
  return observation.detail ? ` (${observation.detail})` : "";
}
