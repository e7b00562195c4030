import { describe, expect, it } from "vitest";
import { DesiredState } from "../domain/desired-state.js";
import { ProcessEventKind as K } from "../domain/event-kind.js";
import { IncidentKind as I } from "../domain/incident.js";
import { ProcessStatus } from "../domain/process-status.js";
import {
  changesInWindow,
  endsIncident,
  incidentKey,
  incidentOpenedBy,
  isFlapping,
  keysEndedBy,
  kindsFromColumn,
  kindsToColumn,
  silences,
  silencePatternProblem,
  type EventSubject,
  type SilenceRule,
} from "./incident-rules.js";

const web: EventSubject = { processName: "web-1", supervisorHost: "10.0.0.5", supervisorPort: 9101 };
const loose: EventSubject = { processName: "loose", supervisorHost: null, supervisorPort: null };

describe("incident keying", () => {
  it.each<[K, EventSubject, string | null]>([
    [K.HEARTBEAT_LOST, web, "HEARTBEAT_LOST process web-1"],
    [K.PROCESS_CRASHED, web, "PROCESS_CRASHED process web-1"],
    [K.DRIFT_DETECTED, web, "DRIFT process web-1"],
    [K.QUARANTINED, web, "QUARANTINED process web-1"],
    // One per supervisord, whichever of its programs reported it.
    [K.SUPERVISOR_UNREACHABLE, web, "SUPERVISOR_UNREACHABLE supervisor 10.0.0.5:9101"],
    [K.SUPERVISOR_UNREACHABLE, { ...web, processName: "web-2" }, "SUPERVISOR_UNREACHABLE supervisor 10.0.0.5:9101"],
    // Without a supervisord there is nothing to be unreachable.
    [K.SUPERVISOR_UNREACHABLE, loose, null],
    [K.STATUS_CHANGED, web, null],
    [K.SUPERVISOR_STATE_CHANGED, web, null],
    [K.DRIFT_RESOLVED, web, null],
    [K.INCIDENT_CHANGED, web, null],
    // Deliberately stopped: a crash or a lost heartbeat is no incident; drift still is.
    [K.PROCESS_CRASHED, { ...web, desiredState: DesiredState.STOPPED }, null],
    [K.HEARTBEAT_LOST, { ...web, desiredState: DesiredState.STOPPED }, null],
    [K.PROCESS_CRASHED, { ...web, desiredState: DesiredState.RUNNING }, "PROCESS_CRASHED process web-1"],
    [K.DRIFT_DETECTED, { ...web, desiredState: DesiredState.STOPPED }, "DRIFT process web-1"],
  ])("%s on %o opens %s", (kind, subject, key) => {
    const opened = incidentOpenedBy(kind, subject);
    expect(opened ? incidentKey(opened.kind, opened.subject) : null).toBe(key);
  });

  it("keys of one kind on two processes differ, and two kinds on one process differ", () => {
    const a = incidentKey(I.PROCESS_CRASHED, { type: "process", processName: "a" });
    expect(a).not.toBe(incidentKey(I.PROCESS_CRASHED, { type: "process", processName: "b" }));
    expect(a).not.toBe(incidentKey(I.FLAPPING, { type: "process", processName: "a" }));
  });

  it("an event looks up only the keys of the incidents it ends: none for most events", () => {
    const ev = (kind: K, status: ProcessStatus | null = null, message: string | null = null) => ({
      kind,
      status,
      message,
    });
    expect(keysEndedBy(ev(K.HEARTBEAT_LOST), web)).toEqual([]);
    // A move to a status that ends nothing, a state change between two reachable states.
    expect(keysEndedBy(ev(K.STATUS_CHANGED, ProcessStatus.STARTING), web)).toEqual([]);
    expect(keysEndedBy(ev(K.SUPERVISOR_STATE_CHANGED, null, "STARTING → RUNNING (pid 4) (poll)"), web)).toEqual([]);
    expect(keysEndedBy(ev(K.UPDATED, ProcessStatus.RUNNING), web)).toEqual([]);
    expect(keysEndedBy(ev(K.REGISTERED, ProcessStatus.RUNNING), web)).toEqual(["HEARTBEAT_LOST process web-1"]);
    expect(keysEndedBy(ev(K.STATUS_CHANGED, ProcessStatus.STOPPED), web).sort()).toEqual([
      "FLAPPING process web-1",
      "HEARTBEAT_LOST process web-1",
      "PROCESS_CRASHED process web-1",
    ]);
    expect(keysEndedBy(ev(K.SUPERVISOR_STATE_CHANGED, null, "UNREACHABLE → RUNNING (pid 9) (poll)"), web)).toEqual([
      "SUPERVISOR_UNREACHABLE supervisor 10.0.0.5:9101",
    ]);
    expect(keysEndedBy(ev(K.SUPERVISOR_STATE_CHANGED, null, "UNREACHABLE → RUNNING (pid 9) (poll)"), loose)).toEqual(
      [],
    );
  });
});

describe("endsIncident", () => {
  const event = (kind: K, status: ProcessStatus | null = null, message: string | null = null) => ({
    kind,
    status,
    message,
  });
  it.each<[I, ReturnType<typeof event>, boolean]>([
    [I.HEARTBEAT_LOST, event(K.HEARTBEAT_RESTORED, ProcessStatus.RUNNING), true],
    [I.HEARTBEAT_LOST, event(K.REGISTERED, ProcessStatus.RUNNING), true],
    [I.HEARTBEAT_LOST, event(K.STATUS_CHANGED, ProcessStatus.STOPPED), true],
    [I.HEARTBEAT_LOST, event(K.STATUS_CHANGED, ProcessStatus.ERROR), false],
    // An event that only carries the status along is no move to it.
    [I.HEARTBEAT_LOST, event(K.UPDATED, ProcessStatus.RUNNING), false],
    [I.PROCESS_CRASHED, event(K.STATUS_CHANGED, ProcessStatus.STOPPED), true],
    [I.PROCESS_CRASHED, event(K.DEREGISTERED, ProcessStatus.STOPPED), true],
    // Running again is not the end of a crash loop, whether supervisord restarted the program
    // or it registered again on its new run: a crash loop stays one incident.
    [I.PROCESS_CRASHED, event(K.REGISTERED, ProcessStatus.RUNNING), false],
    [I.PROCESS_CRASHED, event(K.HEARTBEAT_RESTORED, ProcessStatus.RUNNING), false],
    [I.PROCESS_CRASHED, event(K.SUPERVISOR_STATE_CHANGED, ProcessStatus.ERROR, "STARTING → RUNNING (pid 4)"), false],
    [I.FLAPPING, event(K.STATUS_CHANGED, ProcessStatus.STOPPED), true],
    [I.FLAPPING, event(K.REGISTERED, ProcessStatus.RUNNING), false],
    [I.DRIFT, event(K.DRIFT_RESOLVED, ProcessStatus.RUNNING), true],
    [I.DRIFT, event(K.STATUS_CHANGED, ProcessStatus.STOPPED), false],
    [I.QUARANTINED, event(K.QUARANTINE_CLEARED), true],
    [I.QUARANTINED, event(K.STATUS_CHANGED, ProcessStatus.RUNNING), false],
    [I.SUPERVISOR_UNREACHABLE, event(K.SUPERVISOR_STATE_CHANGED, null, "UNREACHABLE → RUNNING (pid 9) (poll)"), true],
    [I.SUPERVISOR_UNREACHABLE, event(K.SUPERVISOR_STATE_CHANGED, null, "RUNNING (pid 9) → UNREACHABLE (poll)"), false],
    [I.SUPERVISOR_UNREACHABLE, event(K.STATUS_CHANGED, ProcessStatus.RUNNING), false],
    // A change between two reachable states says nothing new of the supervisord.
    [I.SUPERVISOR_UNREACHABLE, event(K.SUPERVISOR_STATE_CHANGED, null, "STARTING → RUNNING (pid 9) (poll)"), false],
    [I.SUPERVISOR_UNREACHABLE, event(K.SUPERVISOR_STATE_CHANGED, null, "first seen → RUNNING (pid 9) (poll)"), false],
    // Deleting a process ends its incidents, not its supervisord's.
    [I.PROCESS_CRASHED, event(K.DELETED), true],
    [I.DRIFT, event(K.DELETED), true],
    [I.SUPERVISOR_UNREACHABLE, event(K.DELETED), false],
  ])("%s ended by %o: %s", (kind, by, ends) => {
    expect(endsIncident(kind, by)).toBe(ends);
  });
});

describe("flap window counting", () => {
  const now = new Date("2026-12-01T12:00:00Z");
  const ago = (seconds: number) => new Date(now.getTime() - seconds * 1000);

  it("counts the changes within the window that ends now, not those before it", () => {
    expect(changesInWindow([ago(0), ago(10), ago(299), ago(300), ago(301)], now, 300)).toBe(3);
    expect(changesInWindow([], now, 300)).toBe(0);
  });

  it.each<[string, number[], boolean]>([
    ["exactly the threshold is not yet flapping", [1, 2, 3, 4, 5], false],
    ["one more than the threshold is", [1, 2, 3, 4, 5, 6], true],
    ["old changes do not count", [1, 2, 3, 4, 5, 400], false],
    ["many changes long ago do not count", [400, 500, 600, 700, 800, 900, 1000], false],
  ])("%s", (_what, secondsAgo, flapping) => {
    expect(isFlapping(secondsAgo.map(ago), now, { threshold: 5, windowSeconds: 300 })).toBe(flapping);
  });
});

describe("silence matching", () => {
  const now = new Date("2026-12-01T12:00:00Z");
  const rule = (over: Partial<SilenceRule> = {}): SilenceRule => ({
    namePattern: "web-*",
    kinds: [],
    until: new Date(now.getTime() + 60_000),
    expiredAt: null,
    ...over,
  });
  const process = (name: string) => ({ type: "process", processName: name }) as const;

  it.each<
    [string, SilenceRule, I, ReturnType<typeof process> | { type: "supervisor"; host: string; port: number }, boolean]
  >([
    ["a prefix pattern, every kind", rule(), I.PROCESS_CRASHED, process("web-1"), true],
    ["another process", rule(), I.PROCESS_CRASHED, process("api-1"), false],
    ["an exact name", rule({ namePattern: "web-1" }), I.FLAPPING, process("web-1"), true],
    ["an exact name is no prefix", rule({ namePattern: "web-1" }), I.FLAPPING, process("web-10"), false],
    ["a kind it names", rule({ kinds: [I.HEARTBEAT_LOST] }), I.HEARTBEAT_LOST, process("web-1"), true],
    ["a kind it does not name", rule({ kinds: [I.HEARTBEAT_LOST] }), I.PROCESS_CRASHED, process("web-1"), false],
    ["over", rule({ until: new Date(now.getTime() - 1) }), I.PROCESS_CRASHED, process("web-1"), false],
    ["ending now", rule({ until: now }), I.PROCESS_CRASHED, process("web-1"), false],
    ["expired early", rule({ expiredAt: new Date(now.getTime() - 1000) }), I.DRIFT, process("web-1"), false],
    [
      "* silences everything",
      rule({ namePattern: "*" }),
      I.SUPERVISOR_UNREACHABLE,
      { type: "supervisor", host: "10.0.0.5", port: 9101 },
      true,
    ],
    [
      "a supervisord by host:port prefix",
      rule({ namePattern: "10.0.0.5*" }),
      I.SUPERVISOR_UNREACHABLE,
      { type: "supervisor", host: "10.0.0.5", port: 9101 },
      true,
    ],
    [
      "a process pattern does not match a supervisord",
      rule(),
      I.SUPERVISOR_UNREACHABLE,
      { type: "supervisor", host: "10.0.0.5", port: 9101 },
      false,
    ],
  ])("%s", (_what, silence, kind, subject, silenced) => {
    expect(silences(silence, kind, subject, now)).toBe(silenced);
  });

  const onHost = { host: "Node-A", port: 9101 };
  it.each<[string, SilenceRule, I, { host: string; port: number } | null, boolean]>([
    ["its supervisord's host:port", rule({ namePattern: "node-a:9101" }), I.HEARTBEAT_LOST, onHost, true],
    ["another port of that host", rule({ namePattern: "node-a:9102" }), I.HEARTBEAT_LOST, onHost, false],
    ["a process without a supervisord", rule({ namePattern: "node-a:9101" }), I.HEARTBEAT_LOST, null, false],
    [
      "host:port, a kind it does not name",
      rule({ namePattern: "node-a:9101", kinds: [I.DRIFT] }),
      I.HEARTBEAT_LOST,
      onHost,
      false,
    ],
    [
      "a process pattern is not its supervisord's name",
      rule({ namePattern: "node-*" }),
      I.HEARTBEAT_LOST,
      onHost,
      false,
    ],
  ])("a process's incident by %s", (_what, silence, kind, supervisor, silenced) => {
    expect(silences(silence, kind, process("web-1"), now, supervisor)).toBe(silenced);
  });

  it("stores kinds as one column and reads them back; empty is every kind", () => {
    expect(kindsFromColumn(kindsToColumn([I.DRIFT, I.FLAPPING, I.DRIFT]))).toEqual([I.DRIFT, I.FLAPPING]);
    expect(kindsFromColumn(kindsToColumn([]))).toEqual([]);
  });
});

describe("silencePatternProblem", () => {
  it.each(["web-1", "web-*", "*", "10.0.0.5:9101", "db.example.com:9001", "10.0.0.5*"])("accepts %s", (pattern) => {
    expect(silencePatternProblem(pattern)).toBeUndefined();
  });
  it.each<[string, string]>([
    ["bad pattern", "must be a process name"],
    ["10.0.0.5:", "its port must be a number"],
    ["10.0.0.5:70000", "its port must be between 1 and 65535"],
    ["bad host:9001", "its host must be a hostname or an IP address"],
    [":9001", "its host must not be empty"],
  ])("refuses %s, saying why", (pattern, why) => {
    expect(silencePatternProblem(pattern)).toContain(why);
  });
  it("a host:port pattern silences that supervisord's incident, and no other", () => {
    const rule: SilenceRule = { namePattern: "10.0.0.5:9101", kinds: [], until: new Date(2_000_000), expiredAt: null };
    const now = new Date(1_000_000);
    expect(silences(rule, I.SUPERVISOR_UNREACHABLE, { type: "supervisor", host: "10.0.0.5", port: 9101 }, now)).toBe(
      true,
    );
    expect(silences(rule, I.SUPERVISOR_UNREACHABLE, { type: "supervisor", host: "10.0.0.5", port: 9102 }, now)).toBe(
      false,
    );
  });
});
