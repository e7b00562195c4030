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
  /** An API token was created. Audit trail only: no process, not delivered on processChanged. */
  TOKEN_CREATED = "TOKEN_CREATED",
  /** An API token was revoked. Audit trail only, as TOKEN_CREATED. */
  TOKEN_REVOKED = "TOKEN_REVOKED",
  /** supervisord differs from the process's desired state (kb_server_processes.drift left NONE). */
  DRIFT_DETECTED = "DRIFT_DETECTED",
  /** supervisord agrees with the desired state again (drift back to NONE). */
  DRIFT_RESOLVED = "DRIFT_RESOLVED",
  /** The healer gave up on the process: its automatic-restart budget is spent (actor `fleetvisor:healer`). */
  QUARANTINED = "QUARANTINED",
  /** The process left quarantine: the healer may restart it again. */
  QUARANTINE_CLEARED = "QUARANTINE_CLEARED",
  /** A rollout began. No single process: its process name is empty; see ROLLOUT_KINDS. */
  ROLLOUT_STARTED = "ROLLOUT_STARTED",
  /** One step of a rollout began or ended; the process is the step's. */
  ROLLOUT_STEP = "ROLLOUT_STEP",
  /** A rollout ended (succeeded, failed, cancelled), and why. No single process, as ROLLOUT_STARTED. */
  ROLLOUT_FINISHED = "ROLLOUT_FINISHED",
  /** An incident opened, was seen again, resolved or was acknowledged; the message starts with `incident <id>:`. */
  INCIDENT_CHANGED = "INCIDENT_CHANGED",
}

/** Kinds that are alerts: each opens an incident (or counts on the open one), see src/incident. */
export const ALERT_KINDS: ReadonlySet<ProcessEventKind> = new Set([
  ProcessEventKind.HEARTBEAT_LOST,
  ProcessEventKind.PROCESS_CRASHED,
  ProcessEventKind.SUPERVISOR_UNREACHABLE,
]);

/**
 * Kinds that record what happened to a token, not to a process: their process name is
 * empty, and only admins see them (in `events`); subscribers never receive them.
 */
export const TOKEN_KINDS: ReadonlySet<ProcessEventKind> = new Set([
  ProcessEventKind.TOKEN_CREATED,
  ProcessEventKind.TOKEN_REVOKED,
]);

/** A rollout's events; each message starts with `rollout <id>:`. */
export const ROLLOUT_KINDS: ReadonlySet<ProcessEventKind> = new Set([
  ProcessEventKind.ROLLOUT_STARTED,
  ProcessEventKind.ROLLOUT_STEP,
  ProcessEventKind.ROLLOUT_FINISHED,
]);

/**
 * Kinds that are about no single process: their process name is empty, and
 * `processChanged` never delivers them (its subscribers key everything on the process).
 */
export const FLEET_KINDS: ReadonlySet<ProcessEventKind> = new Set([
  ProcessEventKind.ROLLOUT_STARTED,
  ProcessEventKind.ROLLOUT_FINISHED,
]);

/**
 * Kinds that say what happened to an incident, not to a process: `processChanged` never
 * delivers them; `incidentChanged` follows them.
 */
export const INCIDENT_EVENT_KINDS: ReadonlySet<ProcessEventKind> = new Set([ProcessEventKind.INCIDENT_CHANGED]);

export const PROCESS_EVENT_KINDS: readonly ProcessEventKind[] = Object.values(ProcessEventKind);
