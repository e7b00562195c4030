import { setTimeout as sleep } from "node:timers/promises";
import type { Clock } from "../clock.js";
import { FAILED_STEP_OUTCOMES, FINISHED_STEP_OUTCOMES, RolloutState, StepOutcome } from "../domain/rollout.js";
import type { Logger } from "../logger.js";
import { LeaseLost, type RolloutLeases } from "./rollout-leases.js";
import type { RolloutReads } from "./rollout-reads.js";
import type { RolloutStore } from "./rollout-store.js";
import type { RolloutStep, StoredRollout } from "./rollout.js";
import type { StepRunner } from "./step-runner.js";

/** What a runner needs: the rollout's storage, the steps, and whose lease it runs under. */
export interface RunnerDeps {
  readonly store: RolloutStore;
  readonly leases: RolloutLeases;
  readonly reads: RolloutReads;
  readonly steps: StepRunner;
  readonly clock: Clock;
  readonly logger: Logger;
  /** This replica's id: the lease owner. */
  readonly owner: string;
  /** The lease's term: each renewal holds it this long. */
  readonly leaseMs: number;
  readonly renewEveryMs: number;
}

/**
 * How a run ended: the rollout finished; this replica's lease was taken over; or the
 * replica is stopping (the lease is let go, and another replica goes on).
 */
export type RunEnd = "finished" | "lost" | "stopped";

/** How often a pause looks for a cancel asked on another replica. */
const PAUSE_CHECK_MS = 500;

/**
 * Runs one rollout whose lease this replica holds, batch after batch, from the first
 * batch with a step not finished: its steps not begun are done, and its steps begun by a
 * replica that died are re-checked ({@link StepRunner.recheck}). Every write renews the
 * lease, and a timer renews it between writes; once it is lost, nothing more is written.
 *
 * A cancel ends it before the next batch (the steps under way finish); a failed step ends
 * it once its batch has finished, the steps not begun SKIPPED.
 */
export class RolloutRunner {
  private readonly abort = new AbortController();
  private wake: (() => void) | undefined;

  constructor(
    private readonly deps: RunnerDeps,
    readonly id: number,
  ) {}

  /** Stops before the next step (the replica is stopping); steps under way finish their action. */
  stop(): void {
    this.abort.abort();
    this.wake?.();
  }

  /** A cancel was asked for on this replica: a pause between batches ends at once. */
  nudge(): void {
    this.wake?.();
  }

  async run(): Promise<RunEnd> {
    const { leases, owner, leaseMs, renewEveryMs, logger, clock } = this.deps;
    let lost = false;
    let renewedAt = clock.now().getTime();
    const giveUp = () => {
      lost = true;
      this.abort.abort();
    };
    const renewal = setInterval(() => {
      leases.renew(this.id, owner, leaseMs).then(
        (held) => {
          if (!held) return giveUp();
          renewedAt = clock.now().getTime();
        },
        (error: unknown) => {
          // Unrenewed for a whole term, the lease may have lapsed and another replica
          // taken the rollout over: no further step begins here. (A step's action already
          // under way finishes; the replica that takes over re-checks that step.)
          const unrenewedMs = clock.now().getTime() - renewedAt;
          logger.warn(
            { reason: (error as Error).message, rollout: this.id, unrenewedMs },
            unrenewedMs >= leaseMs
              ? "lease renewal failed for a whole term: leaving the rollout"
              : "lease renewal failed",
          );
          if (unrenewedMs >= leaseMs) giveUp();
        },
      );
    }, renewEveryMs);
    renewal.unref();
    try {
      return await this.batches();
    } catch (error) {
      if (error instanceof LeaseLost || lost) return "lost";
      if (this.abort.signal.aborted) return "stopped";
      throw error;
    } finally {
      clearInterval(renewal);
    }
  }

  private async batches(): Promise<RunEnd> {
    const { store, reads, owner, leaseMs } = this.deps;
    for (;;) {
      if (this.abort.signal.aborted) return "stopped";
      const rollout = await reads.find(this.id);
      if (!rollout || rollout.state !== RolloutState.RUNNING || rollout.leaseOwner !== owner) return "lost";
      if (rollout.cancelRequestedAt) {
        await store.finish(rollout, owner, leaseMs, RolloutState.CANCELLED);
        return "finished";
      }
      // A step that failed before a replica died ends the rollout as it would have.
      if (rollout.steps.some((step) => FAILED_STEP_OUTCOMES.has(step.outcome))) {
        await store.finish(rollout, owner, leaseMs, RolloutState.FAILED);
        return "finished";
      }
      const batch = nextBatch(rollout.steps);
      if (batch === null) {
        await store.finish(rollout, owner, leaseMs, RolloutState.SUCCEEDED);
        return "finished";
      }
      const ends = await Promise.allSettled(
        rollout.steps.filter((s) => s.batch === batch && !isFinished(s)).map((s) => this.step(rollout, s)),
      );
      const thrown = ends.find((end): end is PromiseRejectedResult => end.status === "rejected");
      if (thrown) throw thrown.reason;
      const failed = ends.some((end) => end.status === "fulfilled" && FAILED_STEP_OUTCOMES.has(end.value));
      if (!failed && nextBatch(rollout.steps, batch) !== null) await this.pause(rollout);
    }
  }

  /** One step: begun and done, or (begun by a replica that died) re-checked; its outcome saved. */
  private async step(rollout: StoredRollout, step: RolloutStep): Promise<StepOutcome> {
    const { store, steps, owner, leaseMs, clock } = this.deps;
    const signal = this.abort.signal;
    let begun = step;
    let result;
    if (step.outcome === StepOutcome.PENDING) {
      begun = {
        ...step,
        outcome: StepOutcome.IN_PROGRESS,
        pidBefore: await steps.pidNow(step),
        startedAt: clock.now(),
      };
      signal.throwIfAborted();
      await store.saveStep(rollout, owner, leaseMs, begun, StepOutcome.PENDING);
      result = await steps.run(rollout, begun, signal);
    } else {
      result = await steps.recheck(rollout, step, signal);
    }
    await store.saveStep(
      rollout,
      owner,
      leaseMs,
      { ...begun, outcome: result.outcome, error: result.error, finishedAt: clock.now() },
      StepOutcome.IN_PROGRESS,
    );
    return result.outcome;
  }

  /** `pauseSeconds` between batches; a cancel (asked here or on another replica) ends it early. */
  private async pause(rollout: StoredRollout): Promise<void> {
    const until = this.deps.clock.now().getTime() + rollout.pauseSeconds * 1000;
    while (this.deps.clock.now().getTime() < until && !this.abort.signal.aborted) {
      if (await this.deps.store.cancelRequested(this.id)) return;
      const woken = new Promise<void>((resolve) => (this.wake = resolve));
      const waitMs = Math.min(PAUSE_CHECK_MS, until - this.deps.clock.now().getTime());
      await Promise.race([woken, sleep(Math.max(0, waitMs))]);
      this.wake = undefined;
    }
  }
}

function isFinished(step: RolloutStep): boolean {
  return FINISHED_STEP_OUTCOMES.has(step.outcome);
}

/** The first batch after `after` with a step not finished, or `null`. */
function nextBatch(steps: readonly RolloutStep[], after = -1): number | null {
  const open = steps.filter((step) => step.batch > after && !isFinished(step)).map((step) => step.batch);
  return open.length === 0 ? null : Math.min(...open);
}
