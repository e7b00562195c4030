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
  // The last element, when there, is when Fleetvisor reads the answer (NOW otherwise).
  it.each<[string, RegistryView, SupervisorView, ProcessHealth, string, Date?]>([
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
      "running, registry starting (a start under way), not registered yet",
      registry(STARTING, 500),
      supervisor(S.RUNNING, { startedAt: secondsAgo(5) }),
      ProcessHealth.STARTING,
      "not registered yet",
    ],
    [
      "running for an hour, registry starting, stale: the mark does not hide a hang",
      registry(STARTING, 500),
      supervisor(S.RUNNING),
      ProcessHealth.UNRESPONSIVE,
      "stale after 90s",
    ],
    [
      "running, the watchdog marked it error: hung, not crashed",
      registry(ERROR, 300),
      supervisor(S.RUNNING),
      ProcessHealth.UNRESPONSIVE,
      "supervisord says RUNNING, but last heartbeat 5min ago (stale after 90s)",
    ],
    [
      "running, registry error, beating again",
      registry(ERROR, 2),
      supervisor(S.RUNNING),
      ProcessHealth.HEALTHY,
      "last heartbeat 2s ago",
    ],
    [
      "a crash supervisord restarted 5s ago; the last heartbeat is the old run's",
      registry(ERROR, 8),
      supervisor(S.RUNNING, { startedAt: secondsAgo(5), pid: 222 }),
      ProcessHealth.STARTING,
      "supervisord says RUNNING for 5s, not registered yet",
    ],
    [
      "restarted 5s ago without a recorded crash; the last heartbeat is the old run's",
      registry(RUNNING, 8),
      supervisor(S.RUNNING, { startedAt: secondsAgo(5), pid: 222 }),
      ProcessHealth.STARTING,
      "not registered yet",
    ],
    [
      "registered in its first second: older than supervisord's whole-second uptime, of this run still",
      registry(RUNNING, 2.6, 222),
      supervisor(S.RUNNING, { startedAt: secondsAgo(2), pid: 222 }),
      ProcessHealth.HEALTHY,
      "last heartbeat 3s ago",
    ],
    [
      // Started at 12:00:00.1 and registered at 12:00:00.5, which MariaDB keeps as 12:00:00;
      // supervisord answered at 12:00:00.95 (now 12:00:00), read at 12:00:01.05.
      "registered in the second it started, the heartbeat kept to the whole second",
      { status: RUNNING, pid: 222, lastHeartbeat: NOW },
      supervisor(S.RUNNING, { startedAt: NOW, pid: 222 }),
      ProcessHealth.HEALTHY,
      "last heartbeat 1s ago",
      new Date(NOW.getTime() + 1050),
    ],
    [
      "a heartbeat with milliseconds over a second older than the run's start is an earlier run's",
      { status: RUNNING, pid: 222, lastHeartbeat: new Date(NOW.getTime() - 1300) },
      supervisor(S.RUNNING, { startedAt: NOW, pid: 222 }),
      ProcessHealth.STARTING,
      "not registered yet",
      new Date(NOW.getTime() + 100),
    ],
    [
      "restarted after a crash and registered again",
      registry(RUNNING, 1, 222),
      supervisor(S.RUNNING, { startedAt: secondsAgo(5), pid: 222 }),
      ProcessHealth.HEALTHY,
      "last heartbeat 1s ago",
    ],
    [
      "restarted 10min ago and never registered: the last heartbeat is the old run's",
      registry(ERROR, 660),
      supervisor(S.RUNNING, { startedAt: secondsAgo(600), pid: 222 }),
      ProcessHealth.UNRESPONSIVE,
      "no heartbeat since it started 10min ago (the last heartbeat 11min ago came from an earlier run)",
    ],
    [
      "running, deregistered, still up",
      registry(STOPPED, 30, null),
      supervisor(S.RUNNING),
      ProcessHealth.UNRESPONSIVE,
      "it deregistered",
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
      "exited with status 1 a second after its last heartbeat: crashed, not orphaned",
      registry(ERROR, 3),
      supervisor(S.EXITED, { exitStatus: 1, stoppedAt: secondsAgo(2) }),
      ProcessHealth.CRASHED,
      "supervisord says EXITED with status 1",
    ],
    [
      "exited with status 0, recorded as an unexpected exit",
      registry(ERROR, 3),
      supervisor(S.EXITED, { stoppedAt: secondsAgo(2) }),
      ProcessHealth.CRASHED,
      "which the registry recorded as a crash",
    ],
    [
      "exited with status 0 after the watchdog had marked it error",
      registry(ERROR, 600),
      supervisor(S.EXITED, { stoppedAt: secondsAgo(60) }),
      ProcessHealth.STOPPED,
      "supervisord says EXITED with status 0 | registry says error, last heartbeat 10min ago",
    ],
    [
      "stopped after a crash was recorded: a stop is deliberate",
      registry(ERROR, 600),
      supervisor(S.STOPPED, { stoppedAt: secondsAgo(60) }),
      ProcessHealth.STOPPED,
      "supervisord says STOPPED | registry says error",
    ],
    [
      "stopped a minute ago, a heartbeat since: orphaned",
      registry(RUNNING, 5),
      supervisor(S.STOPPED, { stoppedAt: secondsAgo(60) }),
      ProcessHealth.ORPHANED,
      "but the last heartbeat 5s ago is fresh",
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
    [
      "no supervisord, error: only the watchdog marks it, so hung",
      registry(ERROR, 500),
      { kind: "none" },
      ProcessHealth.UNRESPONSIVE,
      "registry says error, but last heartbeat 8min ago (stale after 90s)",
    ],
    [
      "no supervisord, error, beating again",
      registry(ERROR, 5),
      { kind: "none" },
      ProcessHealth.HEALTHY,
      "no supervisord in the registry",
    ],
    [
      "no supervisord, stopped",
      registry(STOPPED, null, null),
      { kind: "none" },
      ProcessHealth.STOPPED,
      "registry says stopped",
    ],
  ])("%s → $3", (_label, reg, sup, health, reason, readAt = NOW) => {
    const report = deriveHealth(reg, sup, readAt, STALE);
    expect(report.health).toBe(health);
    expect(report.reasons.join(" | ")).toContain(reason);
  });

  it("names a pid that differs between the registry and supervisord", () => {
    const report = deriveHealth(registry(RUNNING, 10, 100), supervisor(S.RUNNING, { pid: 222 }), NOW, STALE);
    expect(report.health).toBe(ProcessHealth.HEALTHY);
    expect(report.reasons).toContain("pid differs: registry has 100, supervisord runs 222");
  });

  it("the startup grace lasts the stale limit", () => {
    const notRegistered = registry(STOPPED, null, null);
    const up = (s: number) => supervisor(S.RUNNING, { startedAt: secondsAgo(s) });
    expect(deriveHealth(notRegistered, up(90), NOW, STALE).health).toBe(ProcessHealth.STARTING);
    expect(deriveHealth(notRegistered, up(91), NOW, STALE).health).toBe(ProcessHealth.UNRESPONSIVE);
  });

  it("compares durations, so that supervisord's clock may be set apart from Fleetvisor's", () => {
    // supervisord's clock is an hour behind: it started the run 5 s ago by its own clock.
    const behind = (s: number) => new Date(NOW.getTime() - 3_600_000 - s * 1000);
    const restarted = supervisor(S.RUNNING, { now: behind(0), startedAt: behind(5), pid: 222 });
    expect(deriveHealth(registry(RUNNING, 8), restarted, NOW, STALE).health).toBe(ProcessHealth.STARTING);
    expect(deriveHealth(registry(RUNNING, 2, 222), restarted, NOW, STALE).health).toBe(ProcessHealth.HEALTHY);
  });

  it("a heartbeat exactly at the limit is still fresh", () => {
    expect(deriveHealth(registry(RUNNING, 90), supervisor(S.RUNNING), NOW, STALE).health).toBe(ProcessHealth.HEALTHY);
    expect(deriveHealth(registry(RUNNING, 91), supervisor(S.RUNNING), NOW, STALE).health).toBe(
      ProcessHealth.UNRESPONSIVE,
    );
  });
});
