import { describe, expect, it } from "vitest";
import { ProcessStatus } from "../domain/process-status.js";
import { SupervisorState, type SupervisorProcessInfo, type SupervisorView } from "../supervisor/supervisor-state.js";
import { deriveHealth, ProcessHealth, type RegistryView } from "./health.js";

const NOW = new Date("2026-11-26T12:00:00Z");
const STALE = 90;
const secondsAgo = (s: number) => new Date(NOW.getTime() - s * 1000);

function registry(status: ProcessStatus, heartbeatSecondsAgo: number | null, pid: number | null = 100): RegistryView {
  return { status, pid, lastHeartbeat: heartbeatSecondsAgo === null ? null : secondsAgo(heartbeatSecondsAgo) };
}

function supervisor(state: SupervisorState, extra: Partial<SupervisorProcessInfo> = {}): SupervisorView {
  return {
    kind: "info",
    info: {
      program: "python-server",
      name: "python-server",
      group: "python-server",
      state,
      stateName: state,
      pid: state === SupervisorState.RUNNING ? 100 : 0,
      startedAt: secondsAgo(3600),
      stoppedAt: null,
      now: NOW,
      exitStatus: 0,
      spawnError: "",
      description: "",
      ...extra,
    },
  };
}

const { RUNNING, STOPPED, STARTING, STOPPING, ERROR } = ProcessStatus;
const S = SupervisorState;

describe("deriveHealth", () => {
  it.each<[string, RegistryView, SupervisorView, ProcessHealth, string]>([
    [
      "running, fresh heartbeat",
      registry(RUNNING, 10),
      supervisor(S.RUNNING),
      ProcessHealth.HEALTHY,
      "supervisord says RUNNING, last heartbeat 10s ago",
    ],
    [
      "running, stale heartbeat: hung",
      registry(RUNNING, 300),
      supervisor(S.RUNNING),
      ProcessHealth.UNRESPONSIVE,
      "stale after 90s",
    ],
    [
      "running, never registered, up for an hour",
      registry(STOPPED, null, null),
      supervisor(S.RUNNING),
      ProcessHealth.UNRESPONSIVE,
      "no heartbeat yet",
    ],
    [
      "running, just started, not registered yet",
      registry(STOPPED, null, null),
      supervisor(S.RUNNING, { startedAt: secondsAgo(5) }),
      ProcessHealth.STARTING,
      "not registered yet",
    ],
    [
      "running, registry starting",
      registry(STARTING, 500),
      supervisor(S.RUNNING),
      ProcessHealth.STARTING,
      "not registered yet",
    ],
    [
      "stopped, fresh heartbeat: orphaned",
      registry(RUNNING, 5),
      supervisor(S.STOPPED),
      ProcessHealth.ORPHANED,
      "supervisord says STOPPED, but the last heartbeat 5s ago is fresh",
    ],
    ["fatal, fresh heartbeat: orphaned", registry(RUNNING, 5), supervisor(S.FATAL), ProcessHealth.ORPHANED, "FATAL"],
    [
      "stopped, deregistered",
      registry(STOPPED, 5, null),
      supervisor(S.STOPPED),
      ProcessHealth.STOPPED,
      "supervisord says STOPPED",
    ],
    [
      "stopped, old heartbeat",
      registry(RUNNING, 500),
      supervisor(S.STOPPED),
      ProcessHealth.STOPPED,
      "supervisord says STOPPED",
    ],
    [
      "fatal",
      registry(STOPPED, null),
      supervisor(S.FATAL, { spawnError: "can't find command" }),
      ProcessHealth.CRASHED,
      "supervisord says FATAL: can't find command",
    ],
    ["backoff", registry(ERROR, 500), supervisor(S.BACKOFF), ProcessHealth.CRASHED, "BACKOFF"],
    [
      "exited with status 3",
      registry(STOPPED, null),
      supervisor(S.EXITED, { exitStatus: 3 }),
      ProcessHealth.CRASHED,
      "supervisord says EXITED with status 3",
    ],
    [
      "exited with status 0",
      registry(STOPPED, null),
      supervisor(S.EXITED),
      ProcessHealth.STOPPED,
      "EXITED with status 0",
    ],
    [
      "registry error, supervisord running",
      registry(ERROR, 500),
      supervisor(S.RUNNING),
      ProcessHealth.CRASHED,
      "registry says error",
    ],
    ["starting", registry(STARTING, null), supervisor(S.STARTING), ProcessHealth.STARTING, "supervisord says STARTING"],
    ["stopping", registry(STOPPING, 5), supervisor(S.STOPPING), ProcessHealth.STOPPING, "supervisord says STOPPING"],
    [
      "supervisord state UNKNOWN",
      registry(RUNNING, 500),
      supervisor(S.UNKNOWN),
      ProcessHealth.UNKNOWN,
      "supervisord says UNKNOWN",
    ],
    [
      "supervisord unreachable",
      registry(RUNNING, 5),
      { kind: "unreachable", reason: "supervisord at h:1 refused the connection" },
      ProcessHealth.UNREACHABLE,
      "refused the connection",
    ],
    [
      "supervisord misconfigured",
      registry(RUNNING, 5),
      { kind: "unknown", reason: "no [rpcinterface:supervisor] section" },
      ProcessHealth.UNKNOWN,
      "[rpcinterface:supervisor]",
    ],
    [
      "no supervisord, fresh",
      registry(RUNNING, 5),
      { kind: "none" },
      ProcessHealth.HEALTHY,
      "no supervisord in the registry",
    ],
    [
      "no supervisord, stale",
      registry(RUNNING, 500),
      { kind: "none" },
      ProcessHealth.UNRESPONSIVE,
      "no supervisord in the registry",
    ],
    ["no supervisord, error", registry(ERROR, 5), { kind: "none" }, ProcessHealth.CRASHED, "registry says error"],
    [
      "no supervisord, stopped",
      registry(STOPPED, null, null),
      { kind: "none" },
      ProcessHealth.STOPPED,
      "registry says stopped",
    ],
  ])("%s → %s", (_label, reg, sup, health, reason) => {
    const report = deriveHealth(reg, sup, NOW, STALE);
    expect(report.health).toBe(health);
    expect(report.reasons.join(" | ")).toContain(reason);
  });

  it("names a pid that differs between the registry and supervisord", () => {
    const report = deriveHealth(registry(RUNNING, 10, 100), supervisor(S.RUNNING, { pid: 222 }), NOW, STALE);
    expect(report.health).toBe(ProcessHealth.HEALTHY);
    expect(report.reasons).toContain("pid differs: registry has 100, supervisord runs 222");
  });

  it("a heartbeat exactly at the limit is still fresh", () => {
    expect(deriveHealth(registry(RUNNING, 90), supervisor(S.RUNNING), NOW, STALE).health).toBe(ProcessHealth.HEALTHY);
    expect(deriveHealth(registry(RUNNING, 91), supervisor(S.RUNNING), NOW, STALE).health).toBe(
      ProcessHealth.UNRESPONSIVE,
    );
  });
});
