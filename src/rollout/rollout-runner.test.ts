import { describe, expect, it, vi } from "vitest";
import { systemClock } from "../clock.js";
import { RolloutAction, RolloutState, StepOutcome } from "../domain/rollout.js";
import { createLogger } from "../logger.js";
import type { RolloutLeases } from "./rollout-leases.js";
import type { RolloutReads } from "./rollout-reads.js";
import { RolloutRunner } from "./rollout-runner.js";
import type { RolloutStore } from "./rollout-store.js";
import type { RolloutStep, StoredRollout } from "./rollout.js";
import type { StepRunner } from "./step-runner.js";

const OWNER = "replica-a";

const step: RolloutStep = {
  position: 0,
  batch: 0,
  processName: "web-1",
  supervisorHost: "node-a",
  supervisorPort: 9001,
  program: "web-1",
  action: RolloutAction.RESTART,
  outcome: StepOutcome.PENDING,
  pidBefore: null,
  startedAt: null,
  finishedAt: null,
  error: null,
};

const rollout = {
  id: 7,
  action: RolloutAction.RESTART,
  state: RolloutState.RUNNING,
  leaseOwner: OWNER,
  cancelRequestedAt: null,
  pauseSeconds: 0,
  steps: [step],
} as unknown as StoredRollout;

/**
 * A runner whose one step waits for its health until the runner gives it up, over a
 * lease of `leaseMs` whose renewals (every 20 ms) `renew` answers.
 */
function runner(renew: () => Promise<boolean>, leaseMs: number) {
  const lines: { msg: string }[] = [];
  const deps = {
    store: { saveStep: vi.fn(async () => undefined) } as unknown as RolloutStore,
    leases: { renew: vi.fn(renew) } as unknown as RolloutLeases,
    reads: { find: vi.fn(async () => rollout) } as unknown as RolloutReads,
    steps: {
      pidNow: vi.fn(async () => 100),
      run: vi.fn(
        (_rollout: StoredRollout, _step: RolloutStep, signal: AbortSignal) =>
          new Promise((_resolve, reject) => signal.addEventListener("abort", () => reject(signal.reason))),
      ),
    } as unknown as StepRunner,
    clock: systemClock,
    logger: createLogger("warn", {}, { write: (line) => lines.push(JSON.parse(line) as { msg: string }) }),
    owner: OWNER,
    leaseMs,
    renewEveryMs: 20,
  };
  return { run: new RolloutRunner(deps, rollout.id).run(), lines };
}

describe("RolloutRunner", () => {
  it("leaves a rollout whose lease it could not renew for a whole term: another replica may run it", async () => {
    const { run, lines } = runner(async () => {
      throw new Error("the registry database is unavailable: connect ETIMEDOUT");
    }, 120);
    await expect(run).resolves.toBe("lost");
    expect(lines.map((l) => l.msg)).toContain("lease renewal failed for a whole term: leaving the rollout");
  });

  it("keeps running through failed renewals shorter than a term", async () => {
    let calls = 0;
    const { run, lines } = runner(async () => {
      calls++;
      if (calls <= 2) throw new Error("the registry database is unavailable: connect ETIMEDOUT");
      // Taken over later: the runner stops, having left nothing behind on the earlier failures.
      if (calls >= 6) return false;
      return true;
    }, 5_000);
    await expect(run).resolves.toBe("lost");
    expect(lines.map((l) => l.msg)).toEqual(["lease renewal failed", "lease renewal failed"]);
  });
});
