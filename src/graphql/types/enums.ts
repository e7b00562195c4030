import { registerEnumType } from "type-graphql";
import { Role } from "../../auth/role.js";
import { ProcessEventKind } from "../../events/event-kind.js";
import { ProcessStatus } from "../../registry/process-status.js";

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
  },
});

registerEnumType(Role, {
  name: "Role",
  description: "What an API token may do.",
  valuesConfig: {
    VIEWER: { description: "Queries and subscriptions." },
    OPERATOR: { description: "Viewer, plus start / stop / restart." },
    ADMIN: { description: "Operator, plus registry changes and tokens." },
    AGENT: { description: "Register / heartbeat / deregister and read only the processes the token is bound to." },
  },
});

export { ProcessEventKind, ProcessStatus, Role };
