/** What happened to a process. Stored as the member name in the event log. */
export enum ProcessEventKind {
  CREATED = "CREATED",
  UPDATED = "UPDATED",
  DELETED = "DELETED",
  REGISTERED = "REGISTERED",
  /** Not recorded: delivered live, only to subscribers that ask for it. */
  HEARTBEAT = "HEARTBEAT",
  DEREGISTERED = "DEREGISTERED",
  STATUS_CHANGED = "STATUS_CHANGED",
  HEARTBEAT_LOST = "HEARTBEAT_LOST",
  HEARTBEAT_RESTORED = "HEARTBEAT_RESTORED",
  SUPERVISOR_STATE_CHANGED = "SUPERVISOR_STATE_CHANGED",
  /** Alert: supervisord reports FATAL, BACKOFF or an unexpected exit. */
  PROCESS_CRASHED = "PROCESS_CRASHED",
  /** Alert: the process's supervisord has not answered for several polls in a row. */
  SUPERVISOR_UNREACHABLE = "SUPERVISOR_UNREACHABLE",
}

/** Kinds that are alerts: POSTed to ALERT_WEBHOOK_URL when it is set. */
export const ALERT_KINDS: ReadonlySet<ProcessEventKind> = new Set([
  ProcessEventKind.HEARTBEAT_LOST,
  ProcessEventKind.PROCESS_CRASHED,
  ProcessEventKind.SUPERVISOR_UNREACHABLE,
]);

export const PROCESS_EVENT_KINDS: readonly ProcessEventKind[] = Object.values(ProcessEventKind);
