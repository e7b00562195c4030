import { describe, expect, it } from "vitest";
import { RolloutAction, RolloutState, StepOutcome } from "../domain/rollout.js";
import type { RolloutStep } from "./rollout.js";
import { finishedMessage, finishReason, rolloutIdIn, stepMessage } from "./rollout-events.js";

const step = (position: number, outcome: StepOutcome, extra: Partial<RolloutStep> = {}): RolloutStep => ({
  position,
  batch: position,
  processName: `web-0${position + 1}`,
  supervisorHost: "host-a",
  supervisorPort: 9001,
  program: "python-server",
  action: RolloutAction.RESTART,
  outcome,
  pidBefore: null,
  startedAt: null,
  finishedAt: null,
  error: null,
  ...extra,
});

describe("rollout events' messages", () => {
  it("name their rollout first, which is how a subscriber tells them apart", () => {
    const message = stepMessage(12, 6, step(2, StepOutcome.IN_PROGRESS, { pidBefore: 4242 }));
    expect(message).toBe("rollout 12: step 3/6 RESTART web-03 IN_PROGRESS (pid 4242)");
    expect(rolloutIdIn(message)).toBe(12);
  });

  it.each([null, "", "rollout x: nope", "stopped: supervisord confirmed", "the rollout 3: quoted"])(
    "find no rollout in %j",
    (message) => expect(rolloutIdIn(message)).toBeNull(),
  );

  it("say why a rollout failed, and count its steps' outcomes", () => {
    const steps = [
      step(0, StepOutcome.DONE),
      step(1, StepOutcome.HEALTH_TIMEOUT, {
        error: { code: "HEALTH_TIMEOUT", message: "no heartbeat from pid 77 within 5s" },
      }),
      step(2, StepOutcome.SKIPPED),
      step(3, StepOutcome.SKIPPED),
    ];
    const why = finishReason(RolloutState.FAILED, steps, null);
    expect(finishedMessage(7, RolloutState.FAILED, steps, why)).toBe(
      "rollout 7: FAILED, web-02 HEALTH_TIMEOUT: no heartbeat from pid 77 within 5s (1 DONE, 1 HEALTH_TIMEOUT, 2 SKIPPED)",
    );
    expect(finishReason(RolloutState.CANCELLED, steps, "ops")).toBe("cancelled by ops");
    expect(finishedMessage(7, RolloutState.SUCCEEDED, [step(0, StepOutcome.DONE)], "")).toBe(
      "rollout 7: SUCCEEDED (1 DONE)",
    );
  });
});
