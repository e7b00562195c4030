/**
 * What a process is meant to be doing, as someone last said (a control mutation, a
 * rollout, an admin): kept in `kb_server_processes.desired_state`; NULL while nobody has
 * expressed an intent.
 */
export enum DesiredState {
  RUNNING = "RUNNING",
  STOPPED = "STOPPED",
}

export const DESIRED_STATES: readonly DesiredState[] = Object.values(DesiredState);

/** How supervisord differs from the desired state (`kb_server_processes.drift`; NULL reads as NONE). */
export enum Drift {
  /** As desired, or nothing desired. */
  NONE = "NONE",
  /** Meant to run; supervisord has it stopped, exited or failed. */
  SHOULD_RUN = "SHOULD_RUN",
  /** Meant to be stopped; supervisord runs it. */
  SHOULD_NOT_RUN = "SHOULD_NOT_RUN",
  /** Something is desired, but its supervisord has no such program. */
  UNKNOWN_PROGRAM = "UNKNOWN_PROGRAM",
}

export const DRIFTS: readonly Drift[] = Object.values(Drift);
