import { RolloutState, StepOutcome } from "../domain/rollout.js";
import type { Rollout, RolloutStep } from "./rollout.js";

/**
 * The messages of a rollout's events. Each starts with `rollout <id>:`, which is how a
 * subscriber on any replica tells which rollout an event it reads from the log is about
 * (see {@link rolloutIdIn}).
 */

const PREFIX = /^rollout (\d{1,10}):/;

/** The rollout an event's message is about, or `null`. */
export function rolloutIdIn(message: string | null): number | null {
  const match = message ? PREFIX.exec(message) : null;
  return match ? Number(match[1]) : null;
}

/** `rollout 12: RESTART of 6 processes, 2 at a time, waiting for health (60s), no pause`. */
export function startedMessage(rollout: Rollout & { readonly id: number }): string {
  const count = rollout.steps.length;
  const health = rollout.waitForHealthy
    ? `waiting for health (${rollout.healthTimeoutSeconds}s)`
    : "not waiting for health";
  const pause = rollout.pauseSeconds > 0 ? `${rollout.pauseSeconds}s between batches` : "no pause";
  return (
    `rollout ${rollout.id}: ${rollout.action} of ${count} process${count === 1 ? "" : "es"}, ` +
    `${rollout.maxUnavailable} at a time, ${health}, ${pause}`
  );
}

/** `rollout 12: step 3/6 RESTART domaeka-test-03 IN_PROGRESS (pid 4242)`, with the error when it failed. */
export function stepMessage(id: number, total: number, step: RolloutStep): string {
  const detail =
    step.outcome === StepOutcome.IN_PROGRESS && step.pidBefore
      ? ` (pid ${step.pidBefore})`
      : step.error
        ? `: ${step.error.message}`
        : "";
  return `rollout ${id}: step ${step.position + 1}/${total} ${step.action} ${step.processName} ${step.outcome}${detail}`;
}

/** `rollout 12: FAILED, domaeka-test-03 HEALTH_TIMEOUT: …; 3 steps SKIPPED`: what ended it, and why. */
export function finishedMessage(id: number, state: RolloutState, steps: readonly RolloutStep[], why: string): string {
  const counts = new Map<StepOutcome, number>();
  for (const step of steps) counts.set(step.outcome, (counts.get(step.outcome) ?? 0) + 1);
  const tally = [...counts].map(([outcome, n]) => `${n} ${outcome}`).join(", ");
  return `rollout ${id}: ${state}${why ? `, ${why}` : ""} (${tally})`;
}

/** Why a rollout ended, in a few words, for its ROLLOUT_FINISHED event. */
export function finishReason(state: RolloutState, steps: readonly RolloutStep[], cancelledBy: string | null): string {
  switch (state) {
    case RolloutState.CANCELLED:
      return `cancelled by ${cancelledBy ?? "someone"}`;
    case RolloutState.FAILED: {
      const failed = steps.find((s) => s.outcome === StepOutcome.FAILED || s.outcome === StepOutcome.HEALTH_TIMEOUT);
      return failed ? `${failed.processName} ${failed.outcome}: ${failed.error?.message ?? "failed"}` : "a step failed";
    }
    default:
      return "";
  }
}
