import { describe, expect, it } from "vitest";
import { ProcessStatus } from "../domain/process-status.js";
import { SupervisorState } from "../supervisor/supervisor-state.js";
import { followSupervisor, type Observation } from "./follow.js";

const seen = (state: Observation["state"], extra: Partial<Observation> = {}): Observation => ({
  state,
  pid: 0,
  at: new Date(0),
  source: "poll",
  ...extra,
});

describe("followSupervisor", () => {
  it.each<[string, Observation, ProcessStatus | null, boolean]>([
    ["stopped outside Fleetvisor", seen(SupervisorState.STOPPED), ProcessStatus.STOPPED, false],
    ["an expected exit", seen(SupervisorState.EXITED, { expected: true }), ProcessStatus.STOPPED, false],
    ["an unexpected exit (kill -9)", seen(SupervisorState.EXITED, { expected: false }), ProcessStatus.ERROR, true],
    ["FATAL", seen(SupervisorState.FATAL), ProcessStatus.ERROR, true],
    ["BACKOFF", seen(SupervisorState.BACKOFF), ProcessStatus.ERROR, true],
    ["stopping outside Fleetvisor", seen(SupervisorState.STOPPING), ProcessStatus.STOPPING, false],
    ["running: the server registers itself", seen(SupervisorState.RUNNING, { pid: 4 }), null, false],
    ["starting", seen(SupervisorState.STARTING), null, false],
    ["unreachable: an alert, not a registry change", seen("UNREACHABLE"), null, false],
  ])("%s", (_label, observation, to, crash) => {
    const follow = followSupervisor(observation);
    expect(follow?.to ?? null).toBe(to);
    expect(follow?.crash ?? false).toBe(crash);
  });

  it("never moves a row that Fleetvisor is starting to stopped", () => {
    expect(followSupervisor(seen(SupervisorState.STOPPED))!.from).not.toContain(ProcessStatus.STARTING);
    expect(followSupervisor(seen(SupervisorState.EXITED, { expected: true }))!.from).not.toContain(
      ProcessStatus.STARTING,
    );
  });

  it("a crash keeps the registered pid (health compares it with the restarted one); a stop clears it", () => {
    expect(followSupervisor(seen(SupervisorState.EXITED, { expected: false }))!.clearPid).toBe(false);
    expect(followSupervisor(seen(SupervisorState.FATAL))!.clearPid).toBe(false);
    expect(followSupervisor(seen(SupervisorState.STOPPED))!.clearPid).toBe(true);
  });

  it("keeps the exit detail in the message", () => {
    expect(followSupervisor(seen(SupervisorState.EXITED, { expected: false, detail: "exit status 9" }))!.message).toBe(
      "exited unexpectedly (exit status 9)",
    );
  });
});
