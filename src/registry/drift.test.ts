import { describe, expect, it } from "vitest";
import { DesiredState, Drift } from "../domain/desired-state.js";
import { SupervisorState } from "../supervisor/supervisor-state.js";
import { judgeDrift, type SeenProgram } from "./drift.js";

const { RUNNING, STOPPED } = DesiredState;
const S = SupervisorState;

describe("judgeDrift", () => {
  it.each<[DesiredState | null, SeenProgram, Drift | undefined]>([
    // Nothing desired is never drift, whatever supervisord says.
    [null, S.RUNNING, Drift.NONE],
    [null, S.FATAL, Drift.NONE],
    [null, "ABSENT", Drift.NONE],
    [null, "UNREACHABLE", Drift.NONE],
    [RUNNING, S.RUNNING, Drift.NONE],
    [RUNNING, S.STOPPED, Drift.SHOULD_RUN],
    [RUNNING, S.EXITED, Drift.SHOULD_RUN],
    [RUNNING, S.FATAL, Drift.SHOULD_RUN],
    [STOPPED, S.STOPPED, Drift.NONE],
    [STOPPED, S.EXITED, Drift.NONE],
    [STOPPED, S.FATAL, Drift.NONE],
    [STOPPED, S.RUNNING, Drift.SHOULD_NOT_RUN],
    [RUNNING, "ABSENT", Drift.UNKNOWN_PROGRAM],
    [STOPPED, "ABSENT", Drift.UNKNOWN_PROGRAM],
    // On the way somewhere, or cannot tell: the drift stays as it was.
    [RUNNING, S.STARTING, undefined],
    [STOPPED, S.STARTING, undefined],
    [RUNNING, S.STOPPING, undefined],
    [RUNNING, S.BACKOFF, undefined],
    [RUNNING, S.UNKNOWN, undefined],
    [STOPPED, "UNREACHABLE", undefined],
  ])("desired %s, supervisord %s → %s", (desired, seen, drift) => {
    expect(judgeDrift(desired, seen)).toBe(drift);
  });
});
