import { matchesProcessPattern, processPatternProblem } from "../auth/process-pattern.js";
import { DesiredState } from "../domain/desired-state.js";
import { ProcessEventKind } from "../domain/event-kind.js";
import { IncidentKind } from "../domain/incident.js";
import { ProcessStatus } from "../domain/process-status.js";
import { hostProblem, portProblem } from "../domain/validation.js";
import { UnreachableCaseError } from "../errors.js";
import type { ProcessEventRecord } from "../events/process-event.js";
import { observedStateIn } from "../registry/observations.js";

/** What an incident is about: a process, or a supervisord (SUPERVISOR_UNREACHABLE). */
export type IncidentSubject =
  | { readonly type: "process"; readonly processName: string }
  | { readonly type: "supervisor"; readonly host: string; readonly port: number };

/** The event's process, as far as incidents need it. */
export interface EventSubject {
  readonly processName: string;
  readonly supervisorHost: string | null;
  readonly supervisorPort: number | null;
  /** What it is meant to be doing; absent when unknown. */
  readonly desiredState?: DesiredState | null;
}

/**
 * Whether the process was deliberately stopped (its desired state is STOPPED): then a
 * crash, a lost heartbeat or flapping is no incident. Such reports come from a stop under
 * way, or late from a listener after the stop; a program that runs anyway is DRIFT.
 */
export function deliberatelyStopped(process: EventSubject): boolean {
  return process.desiredState === DesiredState.STOPPED;
}

/**
 * The key of the one incident of `kind` on `subject` that may be open at a time: the
 * incident row's `open_key` while it is OPEN.
 */
export function incidentKey(kind: IncidentKind, subject: IncidentSubject): string {
  return subject.type === "process"
    ? `${kind} process ${subject.processName}`
    : `${kind} supervisor ${subject.host}:${subject.port}`;
}

/** The name a silence's pattern is matched against: the process, or `host:port` for a supervisord. */
export function subjectName(subject: IncidentSubject): string {
  return subject.type === "process" ? subject.processName : `${subject.host}:${subject.port}`;
}

function supervisorOf(process: EventSubject): IncidentSubject | null {
  return process.supervisorHost !== null && process.supervisorPort !== null
    ? { type: "supervisor", host: process.supervisorHost, port: process.supervisorPort }
    : null;
}

/**
 * The incident an alert opens (or counts on, while it is open): HEARTBEAT_LOST,
 * PROCESS_CRASHED, DRIFT_DETECTED and QUARANTINED on the process; SUPERVISOR_UNREACHABLE on
 * its supervisord, so that a supervisord down makes one incident, not one per program.
 * `null` for every other kind, and for a crash or a lost heartbeat of a process
 * {@link deliberatelyStopped}. FLAPPING is not an event's: see {@link isFlapping}.
 */
export function incidentOpenedBy(
  kind: ProcessEventKind,
  process: EventSubject,
): { readonly kind: IncidentKind; readonly subject: IncidentSubject } | null {
  const onProcess = (incident: IncidentKind) => ({
    kind: incident,
    subject: { type: "process", processName: process.processName } as const,
  });
  switch (kind) {
    case ProcessEventKind.HEARTBEAT_LOST:
      return deliberatelyStopped(process) ? null : onProcess(IncidentKind.HEARTBEAT_LOST);
    case ProcessEventKind.PROCESS_CRASHED:
      return deliberatelyStopped(process) ? null : onProcess(IncidentKind.PROCESS_CRASHED);
    case ProcessEventKind.DRIFT_DETECTED:
      return onProcess(IncidentKind.DRIFT);
    case ProcessEventKind.QUARANTINED:
      return onProcess(IncidentKind.QUARANTINED);
    case ProcessEventKind.SUPERVISOR_UNREACHABLE: {
      const supervisor = supervisorOf(process);
      return supervisor ? { kind: IncidentKind.SUPERVISOR_UNREACHABLE, subject: supervisor } : null;
    }
    default:
      return null;
  }
}

/** The kinds of event that may end an incident (see {@link endsIncident}). */
export const RESOLVING_KINDS: ReadonlySet<ProcessEventKind> = new Set([
  ProcessEventKind.DELETED,
  ProcessEventKind.REGISTERED,
  ProcessEventKind.HEARTBEAT_RESTORED,
  ProcessEventKind.DEREGISTERED,
  ProcessEventKind.STATUS_CHANGED,
  ProcessEventKind.SUPERVISOR_STATE_CHANGED,
  ProcessEventKind.DRIFT_RESOLVED,
  ProcessEventKind.QUARANTINE_CLEARED,
]);

/**
 * The keys of the incidents `event` of `process` ends, should they be open: only those of
 * the kinds {@link endsIncident} says it ends. Empty for most events (a status move to
 * STARTING, a state change that is no return from UNREACHABLE, …): then nothing is looked up.
 */
export function keysEndedBy(
  event: Pick<ProcessEventRecord, "kind" | "status" | "message">,
  process: EventSubject,
): string[] {
  if (!RESOLVING_KINDS.has(event.kind)) return [];
  const onProcess: IncidentSubject = { type: "process", processName: process.processName };
  const keys = INCIDENT_KINDS_ON_PROCESS.filter((kind) => endsIncident(kind, event)).map((kind) =>
    incidentKey(kind, onProcess),
  );
  const supervisor = supervisorOf(process);
  if (supervisor && endsIncident(IncidentKind.SUPERVISOR_UNREACHABLE, event)) {
    keys.push(incidentKey(IncidentKind.SUPERVISOR_UNREACHABLE, supervisor));
  }
  return keys;
}

/** The kinds of incident on a process (every kind but SUPERVISOR_UNREACHABLE). */
export const INCIDENT_KINDS_ON_PROCESS: readonly IncidentKind[] = [
  IncidentKind.HEARTBEAT_LOST,
  IncidentKind.PROCESS_CRASHED,
  IncidentKind.DRIFT,
  IncidentKind.FLAPPING,
  IncidentKind.QUARANTINED,
];

/** Events that carry a new registry status (a move of the `status` column). */
const STATUS_KINDS: ReadonlySet<ProcessEventKind> = new Set([
  ProcessEventKind.REGISTERED,
  ProcessEventKind.HEARTBEAT_RESTORED,
  ProcessEventKind.DEREGISTERED,
  ProcessEventKind.STATUS_CHANGED,
]);

/**
 * Whether `event`, on the incident's subject, ends an open incident of `kind`:
 *
 * - HEARTBEAT_LOST: the registry says the process runs again (it registered or beat again)
 *   or it is stopped (a stop through Fleetvisor or supervisorctl, a deregister).
 * - PROCESS_CRASHED: the process is stopped. Running again is not enough, whether
 *   supervisord restarted it or the program registered again on its new run: a crash loop
 *   stays one incident. It ends once the process has run a whole flap window without a
 *   crash (IncidentTracker.settle).
 * - FLAPPING: the process is stopped (or it stays quiet for a flap window: IncidentTracker.settle).
 * - DRIFT: DRIFT_RESOLVED. QUARANTINED: QUARANTINE_CLEARED.
 * - SUPERVISOR_UNREACHABLE: one of its programs, last seen UNREACHABLE, is seen in another
 *   state (a change between two other states says nothing new of the supervisord). Its
 *   programs deleted or moved elsewhere: IncidentTracker.settle.
 *
 * Deleting the process ends every incident of it.
 */
export function endsIncident(
  kind: IncidentKind,
  event: Pick<ProcessEventRecord, "kind" | "status" | "message">,
): boolean {
  if (event.kind === ProcessEventKind.DELETED) return kind !== IncidentKind.SUPERVISOR_UNREACHABLE;
  const status = STATUS_KINDS.has(event.kind) ? event.status : null;
  switch (kind) {
    case IncidentKind.HEARTBEAT_LOST:
      return status === ProcessStatus.RUNNING || status === ProcessStatus.STOPPED;
    case IncidentKind.PROCESS_CRASHED:
    case IncidentKind.FLAPPING:
      return status === ProcessStatus.STOPPED;
    case IncidentKind.DRIFT:
      return event.kind === ProcessEventKind.DRIFT_RESOLVED;
    case IncidentKind.QUARANTINED:
      return event.kind === ProcessEventKind.QUARANTINE_CLEARED;
    case IncidentKind.SUPERVISOR_UNREACHABLE: {
      if (event.kind !== ProcessEventKind.SUPERVISOR_STATE_CHANGED) return false;
      const seen = observedStateIn(event.message);
      return seen !== null && seen !== "UNREACHABLE" && Boolean(event.message?.startsWith("UNREACHABLE → "));
    }
    default:
      throw new UnreachableCaseError(kind);
  }
}

/** The kind of event a flap counts: supervisord seen in another state. */
export const FLAP_COUNTED_KIND = ProcessEventKind.SUPERVISOR_STATE_CHANGED;

/** Flap detection: more than `threshold` state changes within `windowSeconds`. */
export interface FlapSettings {
  /** @default 5 */
  readonly threshold: number;
  /** @default 300 */
  readonly windowSeconds: number;
}

/** How many of `changes` (times of state changes) fall within the window that ends at `now`. */
export function changesInWindow(changes: readonly Date[], now: Date, windowSeconds: number): number {
  const since = now.getTime() - windowSeconds * 1000;
  return changes.filter((at) => at.getTime() > since && at.getTime() <= now.getTime()).length;
}

/** Whether a process whose latest state changes were at `changes` flaps at `now`. */
export function isFlapping(changes: readonly Date[], now: Date, settings: FlapSettings): boolean {
  return changesInWindow(changes, now, settings.windowSeconds) > settings.threshold;
}

/**
 * Why `pattern` cannot be a silence's, or `undefined`: a process pattern (a name,
 * `prefix-*`, `*`), or a supervisord's `host:port` (see {@link subjectName}).
 */
export function silencePatternProblem(pattern: string): string | undefined {
  const colon = pattern.lastIndexOf(":");
  if (colon < 0) return processPatternProblem(pattern);
  const host = pattern.slice(0, colon);
  const port = pattern.slice(colon + 1);
  const hostIssue = hostProblem(host);
  const portIssue = /^\d{1,5}$/.test(port) ? portProblem(Number(port)) : "must be a number between 1 and 65535";
  const problem = hostIssue ? `its host ${hostIssue}` : portIssue ? `its port ${portIssue}` : undefined;
  return problem && `must be a process pattern (a name, prefix-*, *) or a supervisord's host:port: ${problem}`;
}

/** A silence as matching needs it. */
export interface SilenceRule {
  readonly namePattern: string;
  /** Empty: every kind. */
  readonly kinds: readonly IncidentKind[];
  readonly until: Date;
  readonly expiredAt: Date | null;
}

/** Whether `silence` is in force at `now`. */
export function silenceActive(silence: SilenceRule, now: Date): boolean {
  return silence.expiredAt === null && silence.until.getTime() > now.getTime();
}

/**
 * Whether `silence`, in force at `now`, silences an incident of `kind` on `subject`. A
 * supervisord's `host:port` silences its own incident and those of the processes the
 * registry names it for (`supervisor`, for a process subject): a host under maintenance
 * is quiet as a whole.
 */
export function silences(
  silence: SilenceRule,
  kind: IncidentKind,
  subject: IncidentSubject,
  now: Date,
  supervisor: { readonly host: string; readonly port: number } | null = null,
): boolean {
  if (!silenceActive(silence, now) || (silence.kinds.length > 0 && !silence.kinds.includes(kind))) return false;
  if (matchesProcessPattern(subjectName(subject), silence.namePattern)) return true;
  return (
    subject.type === "process" &&
    supervisor !== null &&
    namesSupervisor(silence.namePattern) &&
    `${supervisor.host}:${supervisor.port}`.toLowerCase() === silence.namePattern.toLowerCase()
  );
}

/** Whether a silence's pattern is a supervisord's `host:port` (process names have no colon). */
export function namesSupervisor(pattern: string): boolean {
  return pattern.includes(":");
}

/** Stored form of a silence's kinds. */
export function kindsToColumn(kinds: readonly IncidentKind[]): string {
  return [...new Set(kinds)].join(",");
}

export function kindsFromColumn(column: string): IncidentKind[] {
  return column === "" ? [] : (column.split(",") as IncidentKind[]);
}
