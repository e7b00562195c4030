import { describe, expect, it } from "vitest";
import { ProcessEntity } from "../db/process.entity.js";
import { ProcessStatus } from "../domain/process-status.js";
import { ProcessHealth } from "../health/health.js";
import type { ProcessLastSeen } from "../registry/observations.js";
import { countByHealth } from "./fleet-state.js";

const NOW = new Date("2026-11-26T12:00:00Z");
const STALE = 90;
const secondsAgo = (s: number) => new Date(NOW.getTime() - s * 1000);
const { RUNNING, STOPPED, ERROR } = ProcessStatus;

function row(
  status: ProcessStatus,
  pid: number | null,
  heartbeatSecondsAgo: number | null,
  supervisor = true,
): ProcessEntity {
  return Object.assign(new ProcessEntity(), {
    name: "domaeka-test-01",
    port: 8001,
    pid,
    status,
    supervisorHost: supervisor ? "domaeka-server-test-01" : null,
    supervisorPort: supervisor ? 9101 : null,
    program: "python-server",
    lastHeartbeat: heartbeatSecondsAgo === null ? null : secondsAgo(heartbeatSecondsAgo),
  });
}

const seen = (state: string, pid: number, secondsBefore: number): ProcessLastSeen["seen"] => ({
  state,
  pid,
  at: secondsAgo(secondsBefore),
});

const healthOf = (entry: ProcessLastSeen): ProcessHealth => {
  const counts = countByHealth([entry], NOW, STALE);
  return [...counts].find(([, n]) => n === 1)![0];
};

describe("countByHealth, from the registry and what the watchers last saw", () => {
  it.each<[string, ProcessEntity, ProcessLastSeen["seen"], ProcessHealth]>([
    [
      "registered with the pid supervisord runs, fresh heartbeat",
      row(RUNNING, 42, 10),
      seen("RUNNING", 42, 3600),
      ProcessHealth.HEALTHY,
    ],
    // Registered a moment before the poll saw it run: still this run, by its pid.
    ["registered before the RUNNING was seen", row(RUNNING, 42, 10), seen("RUNNING", 42, 2), ProcessHealth.HEALTHY],
    [
      "the same pid, heartbeat stale: hung",
      row(RUNNING, 42, 300),
      seen("RUNNING", 42, 3600),
      ProcessHealth.UNRESPONSIVE,
    ],
    [
      "restarted by supervisord, not registered yet",
      row(ERROR, 42, 20),
      seen("RUNNING", 43, 5),
      ProcessHealth.STARTING,
    ],
    ["restarted long ago, never registered", row(ERROR, 42, 600), seen("RUNNING", 43, 500), ProcessHealth.UNRESPONSIVE],
    ["stopped and deregistered", row(STOPPED, null, 30), seen("STOPPED", 0, 25), ProcessHealth.STOPPED],
    ["an exit the registry recorded as a crash", row(ERROR, 42, 40), seen("EXITED", 0, 35), ProcessHealth.CRASHED],
    ["an expected exit", row(STOPPED, null, 40), seen("EXITED", 0, 35), ProcessHealth.STOPPED],
    ["FATAL", row(ERROR, null, null), seen("FATAL", 0, 10), ProcessHealth.CRASHED],
    [
      "a heartbeat after supervisord saw it stop: something else runs it",
      row(RUNNING, 42, 5),
      seen("STOPPED", 0, 60),
      ProcessHealth.ORPHANED,
    ],
    [
      "its supervisord did not answer the polls",
      row(RUNNING, 42, 10),
      seen("UNREACHABLE", 0, 60),
      ProcessHealth.UNREACHABLE,
    ],
    ["STARTING", row(STOPPED, null, null), seen("STARTING", 0, 1), ProcessHealth.STARTING],
    ["a state this version does not know", row(RUNNING, 42, 10), seen("SLEEPING", 42, 1), ProcessHealth.UNKNOWN],
    // Not observed yet: the registry and the heartbeat alone.
    ["not observed yet, beating", row(RUNNING, 42, 10), null, ProcessHealth.HEALTHY],
    ["not observed yet, silent", row(RUNNING, 42, 300), null, ProcessHealth.UNRESPONSIVE],
    [
      "no supervisord named, whatever was seen before",
      row(STOPPED, null, null, false),
      seen("RUNNING", 42, 10),
      ProcessHealth.STOPPED,
    ],
  ])("%s", (_what, process, last, expected) => {
    expect(healthOf({ process, seen: last })).toBe(expected);
  });

  it("names every health, 0 for those no process has", () => {
    const counts = countByHealth(
      [
        { process: row(RUNNING, 1, 5), seen: seen("RUNNING", 1, 100) },
        { process: row(RUNNING, 2, 5), seen: seen("RUNNING", 2, 100) },
        { process: row(STOPPED, null, null), seen: seen("STOPPED", 0, 100) },
      ],
      NOW,
      STALE,
    );
    expect(Object.fromEntries(counts)).toEqual({
      HEALTHY: 2,
      STOPPED: 1,
      STARTING: 0,
      STOPPING: 0,
      UNRESPONSIVE: 0,
      ORPHANED: 0,
      CRASHED: 0,
      UNREACHABLE: 0,
      UNKNOWN: 0,
    });
  });
});
