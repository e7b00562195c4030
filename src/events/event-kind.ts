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
}

export const PROCESS_EVENT_KINDS: readonly ProcessEventKind[] = Object.values(ProcessEventKind);
