/** What a rollout does to each of its processes. */
export enum RolloutAction {
  RESTART = "RESTART",
  START = "START",
  STOP = "STOP",
  /** Each process back to its desired state: START where it should run, STOP where it should not. */
  RECONCILE = "RECONCILE",
}

/** What one step does; a reconcile's steps start or stop. */
export type StepAction = Exclude<RolloutAction, RolloutAction.RECONCILE>;

export enum RolloutState {
  /** A dry run's plan: nothing was stored or done. */
  PLANNED = "PLANNED",
  RUNNING = "RUNNING",
  SUCCEEDED = "SUCCEEDED",
  /** A step failed or timed out waiting for health; the steps after it were skipped. */
  FAILED = "FAILED",
  CANCELLED = "CANCELLED",
}

export const FINISHED_ROLLOUT_STATES: ReadonlySet<RolloutState> = new Set([
  RolloutState.SUCCEEDED,
  RolloutState.FAILED,
  RolloutState.CANCELLED,
]);

export enum StepOutcome {
  PENDING = "PENDING",
  IN_PROGRESS = "IN_PROGRESS",
  DONE = "DONE",
  /** supervisord refused or could not be reached; see the step's error. */
  FAILED = "FAILED",
  /** Started, but no heartbeat from the new run within healthTimeoutSeconds. */
  HEALTH_TIMEOUT = "HEALTH_TIMEOUT",
  /** Not attempted: an earlier step failed. */
  SKIPPED = "SKIPPED",
  /** Not attempted: the rollout was cancelled. */
  CANCELLED = "CANCELLED",
}

/** Outcomes after which a step is over. */
export const FINISHED_STEP_OUTCOMES: ReadonlySet<StepOutcome> = new Set([
  StepOutcome.DONE,
  StepOutcome.FAILED,
  StepOutcome.HEALTH_TIMEOUT,
  StepOutcome.SKIPPED,
  StepOutcome.CANCELLED,
]);

/** Outcomes that stop a rollout. */
export const FAILED_STEP_OUTCOMES: ReadonlySet<StepOutcome> = new Set([StepOutcome.FAILED, StepOutcome.HEALTH_TIMEOUT]);
