import { describe, expect, it } from "vitest";
import { ProcessStatus } from "../domain/process-status.js";
import type { RegistryView } from "../health/health.js";
import { SupervisorState, type SupervisorProcessInfo } from "../supervisor/supervisor-state.js";
import { budgetDecision, judgeRun, runKey, type RunJudgement } from "./healing-decision.js";
import type { HealingPolicy } from "./healing-policy.js";

const NOW = new Date("2026-12-01T12:00:00Z");
const secondsAgo = (s: number) => new Date(NOW.getTime() - s * 1000);
const POLICY: HealingPolicy = {
  namePattern: "svc-*",
  restartWhenUnresponsiveAfterSeconds: 10,
  graceAfterStartSeconds: 30,
  maxRestarts: 2,
  perSeconds: 300,
};

function info(state: SupervisorState, upSeconds: number, pid = 100): SupervisorProcessInfo {
  return {
    program: "svc",
    name: "svc",
    group: "svc",
    state,
    stateName: state,
    pid: state === SupervisorState.RUNNING ? pid : 0,
    startedAt: secondsAgo(upSeconds),
    stoppedAt: null,
    now: NOW,
    exitStatus: 0,
    spawnError: "",
    description: "",
  };
}

const beat = (secondsAgoOrNull: number | null, status = ProcessStatus.RUNNING): RegistryView => ({
  status,
  pid: 100,
  lastHeartbeat: secondsAgoOrNull === null ? null : secondsAgo(secondsAgoOrNull),
});

const S = SupervisorState;

describe("judgeRun", () => {
  it.each<[string, RegistryView, SupervisorProcessInfo, RunJudgement["kind"]]>([
    ["beating", beat(2), info(S.RUNNING, 600), "responsive"],
    ["silent for less than the limit", beat(9), info(S.RUNNING, 600), "responsive"],
    ["silent for longer than the limit", beat(11), info(S.RUNNING, 600), "unresponsive"],
    [
      "the watchdog marked it error, supervisord still runs it",
      beat(11, ProcessStatus.ERROR),
      info(S.RUNNING, 600),
      "unresponsive",
    ],
    [
      "never beat since a start 60s ago (the last beat is an earlier run's)",
      beat(100),
      info(S.RUNNING, 60),
      "unresponsive",
    ],
    ["silent, but started 20s ago: within the grace", beat(100), info(S.RUNNING, 20), "in-grace"],
    ["no heartbeat ever, within the grace", beat(null), info(S.RUNNING, 5), "in-grace"],
    ["supervisord is starting it", beat(100), info(S.STARTING, 600), "not-running"],
    ["supervisord stopped it", beat(100), info(S.STOPPED, 600), "not-running"],
    ["it crashed", beat(100), info(S.FATAL, 600), "not-running"],
  ])("%s", (_, registry, run, expected) => {
    expect(judgeRun(POLICY, registry, run, NOW).kind).toBe(expected);
  });

  it("an unresponsive run is named by its pid and start, and says why", () => {
    const run = info(S.RUNNING, 600, 4242);
    const judged = judgeRun(POLICY, beat(11), run, NOW);
    expect(judged).toEqual({
      kind: "unresponsive",
      run: `4242@${run.startedAt!.getTime()}`,
      reason: "supervisord says RUNNING, but last heartbeat 11s ago (stale after 10s)",
    });
    expect(runKey(run)).toBe(`4242@${run.startedAt!.getTime()}`);
  });

  it("a grace of 0 leaves only the heartbeat limit", () => {
    expect(judgeRun({ ...POLICY, graceAfterStartSeconds: 0 }, beat(100), info(S.RUNNING, 11), NOW).kind).toBe(
      "unresponsive",
    );
  });
});

describe("budgetDecision", () => {
  it.each([
    [0, "RESTART"],
    [1, "RESTART"],
    [2, "QUARANTINE"],
    [5, "QUARANTINE"],
  ] as const)("%i restarts in the window with at most 2 allowed: %s", (used, expected) => {
    expect(budgetDecision(used, POLICY)).toBe(expected);
  });
});
