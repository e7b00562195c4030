/** What an incident is about: the alert that opened it. */
export enum IncidentKind {
  /** A running process's heartbeat went stale. */
  HEARTBEAT_LOST = "HEARTBEAT_LOST",
  /** supervisord reports FATAL, BACKOFF or an unexpected exit. */
  PROCESS_CRASHED = "PROCESS_CRASHED",
  /** A supervisord does not answer: one incident per supervisord, not per process. */
  SUPERVISOR_UNREACHABLE = "SUPERVISOR_UNREACHABLE",
  /** supervisord differs from the process's desired state. */
  DRIFT = "DRIFT",
  /** The process changed state more than FLAP_THRESHOLD times in FLAP_WINDOW_SECONDS. */
  FLAPPING = "FLAPPING",
  /** The healer spent the process's automatic-restart budget. */
  QUARANTINED = "QUARANTINED",
}

export enum IncidentState {
  OPEN = "OPEN",
  RESOLVED = "RESOLVED",
}

/** Which incidents `incidents(state:)` lists. */
export enum IncidentStateFilter {
  OPEN = "OPEN",
  RESOLVED = "RESOLVED",
  ALL = "ALL",
}

export const INCIDENT_KINDS: readonly IncidentKind[] = Object.values(IncidentKind);
