import { registerEnumType } from "type-graphql";
import { DesiredState, Drift } from "../../domain/desired-state.js";
import { Role } from "../../domain/role.js";
import { ProcessEventKind } from "../../domain/event-kind.js";
import { ProcessHealth } from "../../health/health.js";
import { ProcessStatus } from "../../domain/process-status.js";
import { SupervisorState } from "../../supervisor/supervisor-state.js";

registerEnumType(ProcessStatus, {
  name: "ProcessStatus",
  description: "The registry's status column (kb_server_processes.status).",
  valuesConfig: {
    STOPPED: { description: "Not running: deregistered, stopped, or never started." },
    STARTING: { description: "A start was requested; the server has not registered yet." },
    RUNNING: { description: "Registered and heartbeating." },
    STOPPING: { description: "A stop was requested; the server has not deregistered yet." },
    ERROR: { description: "Crashed, failed to start, or its heartbeat was lost." },
  },
});

registerEnumType(ProcessEventKind, {
  name: "ProcessEventKind",
  description: "What happened to a process.",
  valuesConfig: {
    HEARTBEAT: { description: "Not recorded: delivered live, only to subscribers that ask for it by kind." },
    HEARTBEAT_LOST: { description: "Alert: a running process's heartbeat went stale; it is now ERROR." },
    HEARTBEAT_RESTORED: { description: "A process in ERROR sent a heartbeat again; it is RUNNING." },
    SUPERVISOR_STATE_CHANGED: { description: "supervisord reported a new state or pid (listener or poll)." },
    PROCESS_CRASHED: { description: "Alert: supervisord reports FATAL, BACKOFF or an unexpected exit." },
    SUPERVISOR_UNREACHABLE: { description: "Alert: the process's supervisord has not answered for several polls." },
    TOKEN_CREATED: {
      description:
        "An API token was created (the message names it). Audit trail only: in events, for admins; never on " +
        "processChanged. processName is empty.",
    },
    TOKEN_REVOKED: { description: "An API token was revoked. As TOKEN_CREATED: events only, for admins." },
    DRIFT_DETECTED: { description: "supervisord differs from the process's desired state (see Process.drift)." },
    DRIFT_RESOLVED: { description: "supervisord agrees with the process's desired state again." },
    QUARANTINED: { description: "Its automatic-restart budget is spent: no more automatic restarts." },
    QUARANTINE_CLEARED: { description: "It left quarantine: automatic restarts may happen again." },
    ROLLOUT_STARTED: {
      description: "A rollout began. Not a process's change: never delivered by processChanged; see rolloutChanged.",
    },
    ROLLOUT_STEP: { description: "A step of a rollout began or ended on this process; the message says how." },
    ROLLOUT_FINISHED: {
      description: "A rollout ended, and why. Not a process's change: never delivered by processChanged.",
    },
    INCIDENT_CHANGED: {
      description:
        "An incident opened, was seen again, resolved or was acknowledged (`incident <id>: …`). Not a process's " +
        "change: never delivered by processChanged; see incidentChanged.",
    },
  },
});

registerEnumType(DesiredState, {
  name: "DesiredState",
  description: "What a process is meant to be doing, as the control mutations, rollouts and admins last said.",
});

registerEnumType(Drift, {
  name: "Drift",
  description: "How supervisord differs from the process's desired state.",
  valuesConfig: {
    NONE: { description: "As desired, or nothing desired." },
    SHOULD_RUN: { description: "Meant to run; supervisord has it stopped, exited or failed." },
    SHOULD_NOT_RUN: { description: "Meant to be stopped; supervisord runs it." },
    UNKNOWN_PROGRAM: { description: "Something is desired, but its supervisord has no such program." },
  },
});

registerEnumType(Role, {
  name: "Role",
  description: "What an API token may do.",
  valuesConfig: {
    VIEWER: { description: "Queries and subscriptions; if bound to a pattern, of those processes only." },
    OPERATOR: {
      description:
        "Viewer, plus start / stop / restart and the audit trail; if bound to a pattern, of those processes only.",
    },
    ADMIN: { description: "Operator, plus registry changes and tokens." },
    AGENT: { description: "Register / heartbeat / deregister and read only the processes the token is bound to." },
  },
});

registerEnumType(SupervisorState, {
  name: "SupervisorState",
  description: "supervisord's state of a program (supervisor/states.py).",
});

registerEnumType(ProcessHealth, {
  name: "ProcessHealth",
  description: "The registry and supervisord compared.",
  valuesConfig: {
    HEALTHY: { description: "supervisord runs it and it sent a fresh heartbeat since this run started." },
    STARTING: {
      description:
        "supervisord is starting it, or it started less than the stale limit ago and has not registered yet.",
    },
    UNRESPONSIVE: {
      description:
        "supervisord runs it, but no fresh heartbeat from this run: hung, or never registered (whatever the registry's status).",
    },
    ORPHANED: {
      description: "supervisord does not run it, but a heartbeat came after it stopped: something else runs it.",
    },
    CRASHED: {
      description: "FATAL, BACKOFF, an exit with a non-zero status, or an exit the registry recorded as unexpected.",
    },
    UNREACHABLE: { description: "Its supervisord did not answer." },
    UNKNOWN: { description: "supervisord misconfigured, program unknown to it, or state UNKNOWN." },
  },
});

export enum LogStream {
  STDOUT = "stdout",
  STDERR = "stderr",
}
registerEnumType(LogStream, { name: "LogStream" });

export enum ControlOutcome {
  DONE = "DONE",
  FAILED = "FAILED",
  SKIPPED = "SKIPPED",
}
registerEnumType(ControlOutcome, {
  name: "ControlOutcome",
  valuesConfig: { SKIPPED: { description: "Not attempted: an earlier one failed (and continueOnError was false)." } },
});

export { DesiredState, Drift, ProcessEventKind, ProcessHealth, ProcessStatus, Role, SupervisorState };
