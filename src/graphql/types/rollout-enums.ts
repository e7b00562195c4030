import { registerEnumType } from "type-graphql";
import { RolloutAction, RolloutState, StepOutcome } from "../../domain/rollout.js";

registerEnumType(RolloutAction, {
  name: "RolloutAction",
  description: "What a rollout does to each of its processes.",
  valuesConfig: {
    RESTART: { description: "Stop, then start; with waitForHealthy, until the new run heartbeats." },
    START: { description: "Start (a running process is left running)." },
    STOP: { description: "Stop (a stopped process is left stopped)." },
    RECONCILE: {
      description: "Back to the desired state: START where it should run, STOP where it should not (reconcile).",
    },
  },
});

registerEnumType(RolloutState, {
  name: "RolloutState",
  valuesConfig: {
    PLANNED: { description: "A dry run's plan: nothing was stored or done." },
    RUNNING: { description: "Steps are under way (on whichever replica holds its lease)." },
    SUCCEEDED: { description: "Every step DONE." },
    FAILED: { description: "A step FAILED or timed out waiting for health; the steps after it were SKIPPED." },
    CANCELLED: { description: "Cancelled: the steps under way finished, the rest are CANCELLED." },
  },
});

registerEnumType(StepOutcome, {
  name: "RolloutStepOutcome",
  valuesConfig: {
    PENDING: { description: "Not begun." },
    IN_PROGRESS: { description: "Under way." },
    DONE: { description: "Done (with waitForHealthy: the new run heartbeats)." },
    FAILED: { description: "supervisord refused or could not be reached; see error." },
    HEALTH_TIMEOUT: { description: "Started, but no heartbeat from the new run within healthTimeoutSeconds." },
    SKIPPED: { description: "Not begun: an earlier step failed." },
    CANCELLED: { description: "Not begun: the rollout was cancelled." },
  },
});

export { RolloutAction, RolloutState, StepOutcome };
