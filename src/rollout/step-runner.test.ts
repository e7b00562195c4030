import { describe, expect, it } from "vitest";
import { RolloutAction, type StepAction } from "../domain/rollout.js";
import { SupervisorState } from "../supervisor/supervisor-state.js";
import { whatRemains } from "./step-runner.js";

const { RESTART, START, STOP } = RolloutAction;
const S = SupervisorState;

describe("whatRemains: a step a dead replica left under way, looked at again", () => {
  it.each<[StepAction, number | null, SupervisorState, number, StepAction | null | "problem"]>([
    // A restart of pid 100: a new pid means it happened; wait for its health only.
    [RESTART, 100, S.RUNNING, 200, null],
    // The same pid: it never reached supervisord; do it now.
    [RESTART, 100, S.RUNNING, 100, RESTART],
    // Stopped, not started: it got as far as the stop; finish with a start, not a restart.
    [RESTART, 100, S.STOPPED, 0, START],
    [RESTART, 100, S.EXITED, 0, START],
    // It ran, and now cannot start: the start that was made failed.
    [RESTART, 100, S.FATAL, 0, "problem"],
    // Not running before the step (pid 0): a restart of a stopped program is a start.
    [RESTART, 0, S.RUNNING, 300, null],
    [RESTART, 0, S.STOPPED, 0, START],
    [RESTART, 0, S.FATAL, 0, START],
    // No pid known from before (supervisord did not answer then): running counts as done,
    // rather than risk restarting it twice.
    [RESTART, null, S.RUNNING, 300, null],
    [RESTART, 100, S.BACKOFF, 0, "problem"],
    [RESTART, 100, S.UNKNOWN, 0, "problem"],
    [START, 0, S.RUNNING, 300, null],
    [START, 0, S.STOPPED, 0, START],
    [START, 0, S.FATAL, 0, START],
    [START, 0, S.BACKOFF, 0, "problem"],
    [STOP, 100, S.RUNNING, 100, STOP],
    [STOP, 100, S.BACKOFF, 0, STOP],
    [STOP, 100, S.STOPPED, 0, null],
    [STOP, 100, S.EXITED, 0, null],
    [STOP, 100, S.FATAL, 0, null],
    [STOP, 100, S.UNKNOWN, 0, "problem"],
  ])("%s from pid %s, supervisord now %s pid %s: %s", (action, pidBefore, state, pid, expected) => {
    const next = whatRemains(action, pidBefore, { state, pid, spawnError: "" });
    if (expected === "problem") expect(next).toEqual({ problem: `supervisord says ${state}` });
    else expect(next).toEqual({ redo: expected });
  });

  it("names supervisord's spawn error in the problem", () => {
    expect(whatRemains(RESTART, 100, { state: S.FATAL, pid: 0, spawnError: "can't find command 'x'" })).toEqual({
      problem: "supervisord says FATAL: can't find command 'x'",
    });
  });
});
