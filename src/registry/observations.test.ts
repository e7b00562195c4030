import { describe, expect, it } from "vitest";
import { SupervisorState } from "../supervisor/supervisor-state.js";
import type { Observation } from "./follow.js";
import { observedStateIn, stateChangeMessage } from "./observations.js";

const at = new Date("2026-11-26T12:00:00Z");

describe("stateChangeMessage and observedStateIn", () => {
  it.each<[string, Parameters<typeof stateChangeMessage>[0], Observation, string]>([
    [
      "a crash",
      { state: "RUNNING", pid: 12 },
      { state: SupervisorState.EXITED, pid: 0, at, source: "poll", detail: "exit status 1" },
      "RUNNING (pid 12) → EXITED, exit status 1 (poll)",
    ],
    [
      "running again",
      { state: "EXITED", pid: 0 },
      { state: SupervisorState.RUNNING, pid: 40, at, source: "listener" },
      "EXITED → RUNNING (pid 40) (listener)",
    ],
    [
      "unreachable",
      { state: "RUNNING", pid: 12 },
      { state: "UNREACHABLE", pid: 0, at, source: "poll", detail: "refused → 3 polls" },
      "RUNNING (pid 12) → UNREACHABLE, refused → 3 polls (poll)",
    ],
    [
      "a first sighting",
      null,
      { state: SupervisorState.STOPPED, pid: 0, at, source: "poll" },
      "first seen → STOPPED (poll)",
    ],
  ])("%s: the message names the state seen now", (_label, before, observation, message) => {
    expect(stateChangeMessage(before, observation)).toBe(message);
    expect(observedStateIn(message)).toBe(observation.state);
  });

  it("reads nothing from other messages", () => {
    expect(observedStateIn(null)).toBeNull();
    expect(observedStateIn("port: 8011 → 8021")).toBeNull();
  });
});
