import type { Principal } from "../auth/principal.js";
import type { RolloutAction, RolloutState, StepAction, StepOutcome } from "../domain/rollout.js";

/** Why a step failed: an `extensions.code` (or HEALTH_TIMEOUT) and what happened. */
export interface StepError {
  readonly code: string;
  readonly message: string;
}

/** One process of a rollout. */
export interface RolloutStep {
  /** The order the steps run in, from 0. */
  readonly position: number;
  /** Steps of one batch run together: at most maxUnavailable, never two on one supervisord. */
  readonly batch: number;
  readonly processName: string;
  readonly supervisorHost: string | null;
  readonly supervisorPort: number | null;
  readonly program: string;
  readonly action: StepAction;
  readonly outcome: StepOutcome;
  /** supervisord's pid of the program when the step began (0: not running); null before. */
  readonly pidBefore: number | null;
  readonly startedAt: Date | null;
  readonly finishedAt: Date | null;
  readonly error: StepError | null;
}

/** How a rollout goes about its steps. */
export interface RolloutOptions {
  /** Steps under way at once (never two on one supervisord). @default 1 */
  readonly maxUnavailable: number;
  /** A started process counts as done once it heartbeats from its new run. @default true */
  readonly waitForHealthy: boolean;
  /** How long a started process has to heartbeat. @default 60 */
  readonly healthTimeoutSeconds: number;
  /** Between batches. @default 0 */
  readonly pauseSeconds: number;
}

/** A rollout as stored (or, with `id` null, as planned by a dry run). */
export interface Rollout extends RolloutOptions {
  /** `null` for a dry run's plan, which is not stored. */
  readonly id: number | null;
  readonly action: RolloutAction;
  readonly state: RolloutState;
  readonly createdBy: string;
  readonly createdAt: Date;
  readonly finishedAt: Date | null;
  readonly cancelRequestedAt: Date | null;
  readonly cancelledBy: string | null;
  readonly steps: readonly RolloutStep[];
}

/** A stored rollout, with what it takes to run it on any replica. */
export interface StoredRollout extends Rollout {
  readonly id: number;
  /** Whom the steps act as: the token that started it (its role and binding as they were then). */
  readonly actor: Principal;
  /** The id of the token that asked for the cancel (null for the bootstrap token). */
  readonly cancelledByTokenId: number | null;
  readonly leaseOwner: string | null;
}
