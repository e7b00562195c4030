import { UnreachableCaseError } from "../errors.js";
import { ProcessStatus } from "../domain/process-status.js";
import { SupervisorState, type SupervisorView } from "../supervisor/supervisor-state.js";

/** A process's health, from the registry and supervisord compared. */
export enum ProcessHealth {
  HEALTHY = "HEALTHY",
  STOPPED = "STOPPED",
  STARTING = "STARTING",
  STOPPING = "STOPPING",
  /** supervisord says running, but the heartbeat is stale (hung, or never registered). */
  UNRESPONSIVE = "UNRESPONSIVE",
  /** supervisord says not running, but the heartbeat is fresh (something else runs it). */
  ORPHANED = "ORPHANED",
  /** FATAL, BACKOFF, an unexpected exit, or `error` in the registry. */
  CRASHED = "CRASHED",
  /** Its supervisord did not answer. */
  UNREACHABLE = "UNREACHABLE",
  /** Nothing trustworthy to go on (supervisord misconfigured, program unknown, state UNKNOWN). */
  UNKNOWN = "UNKNOWN",
}

/** What is known of the process on the registry's side. */
export interface RegistryView {
  readonly status: ProcessStatus;
  readonly pid: number | null;
  readonly lastHeartbeat: Date | null;
}

export interface HealthReport {
  readonly health: ProcessHealth;
  /** Why, in words; the first one explains `health`, further ones add what else is off. */
  readonly reasons: readonly string[];
}

const NOT_RUNNING = new Set([
  SupervisorState.STOPPED,
  SupervisorState.EXITED,
  SupervisorState.FATAL,
  SupervisorState.BACKOFF,
]);

function ago(seconds: number): string {
  return seconds < 120 ? `${Math.round(seconds)}s ago` : `${Math.round(seconds / 60)}min ago`;
}

/**
 * Health from both sources. Pure: everything it needs comes in as arguments.
 *
 * A heartbeat is fresh when it is at most `staleSeconds` old and the registry still counts
 * the process as alive (not `stopped`: a deregistered process's last heartbeat is history).
 * An exit with status 0 counts as expected; any other exit as a crash.
 */
export function deriveHealth(
  registry: RegistryView,
  supervisor: SupervisorView,
  now: Date,
  staleSeconds: number,
): HealthReport {
  const age = registry.lastHeartbeat ? (now.getTime() - registry.lastHeartbeat.getTime()) / 1000 : null;
  const fresh = age !== null && age <= staleSeconds && registry.status !== ProcessStatus.STOPPED;
  const heartbeat = age === null ? "no heartbeat yet" : `last heartbeat ${ago(age)}`;
  const report = (health: ProcessHealth, ...reasons: string[]): HealthReport => ({
    health,
    reasons: reasons.filter(Boolean),
  });

  switch (supervisor.kind) {
    case "unreachable":
      return report(ProcessHealth.UNREACHABLE, supervisor.reason, `registry says ${registry.status}, ${heartbeat}`);
    case "unknown":
      return report(ProcessHealth.UNKNOWN, supervisor.reason);
    case "none":
      return fromRegistryOnly(registry, fresh, heartbeat);
    case "info":
      break;
    default:
      throw new UnreachableCaseError(supervisor);
  }

  const { info } = supervisor;
  const extra: string[] = [];
  if (info.state === SupervisorState.RUNNING && registry.pid !== null && info.pid !== 0 && registry.pid !== info.pid) {
    extra.push(`pid differs: registry has ${registry.pid}, supervisord runs ${info.pid}`);
  }
  const says = `supervisord says ${info.state}`;

  if (NOT_RUNNING.has(info.state) && fresh) {
    return report(ProcessHealth.ORPHANED, `${says}, but the ${heartbeat} is fresh`, ...extra);
  }
  if (info.state === SupervisorState.FATAL || info.state === SupervisorState.BACKOFF) {
    return report(ProcessHealth.CRASHED, info.spawnError ? `${says}: ${info.spawnError}` : says, ...extra);
  }
  if (info.state === SupervisorState.EXITED && info.exitStatus !== 0) {
    return report(ProcessHealth.CRASHED, `${says} with status ${info.exitStatus}`, ...extra);
  }
  if (registry.status === ProcessStatus.ERROR) {
    return report(ProcessHealth.CRASHED, `registry says error (${says}, ${heartbeat})`, ...extra);
  }
  switch (info.state) {
    case SupervisorState.STOPPED:
    case SupervisorState.EXITED:
      return report(
        ProcessHealth.STOPPED,
        info.state === SupervisorState.EXITED ? `${says} with status 0` : says,
        ...extra,
      );
    case SupervisorState.STARTING:
      return report(ProcessHealth.STARTING, says, ...extra);
    case SupervisorState.STOPPING:
      return report(ProcessHealth.STOPPING, says, ...extra);
    case SupervisorState.UNKNOWN:
      return report(ProcessHealth.UNKNOWN, says, ...extra);
    case SupervisorState.RUNNING: {
      if (fresh) return report(ProcessHealth.HEALTHY, `${says}, ${heartbeat}`, ...extra);
      const upSeconds = info.startedAt ? (info.now.getTime() - info.startedAt.getTime()) / 1000 : Infinity;
      const sinceStart = age === null || (info.startedAt !== null && registry.lastHeartbeat! < info.startedAt);
      if (registry.status === ProcessStatus.STARTING || (sinceStart && upSeconds <= staleSeconds)) {
        return report(ProcessHealth.STARTING, `${says} for ${Math.round(upSeconds)}s, not registered yet`, ...extra);
      }
      return report(ProcessHealth.UNRESPONSIVE, `${says}, but ${heartbeat} (stale after ${staleSeconds}s)`, ...extra);
    }
    default:
      // FATAL and BACKOFF were handled above.
      return report(ProcessHealth.CRASHED, says, ...extra);
  }
}

function fromRegistryOnly(registry: RegistryView, fresh: boolean, heartbeat: string): HealthReport {
  const note = "no supervisord in the registry";
  switch (registry.status) {
    case ProcessStatus.RUNNING:
      return fresh
        ? { health: ProcessHealth.HEALTHY, reasons: [`registry says running, ${heartbeat}`, note] }
        : { health: ProcessHealth.UNRESPONSIVE, reasons: [`registry says running, but ${heartbeat}`, note] };
    case ProcessStatus.ERROR:
      return { health: ProcessHealth.CRASHED, reasons: ["registry says error", note] };
    case ProcessStatus.STARTING:
      return { health: ProcessHealth.STARTING, reasons: ["registry says starting", note] };
    case ProcessStatus.STOPPING:
      return { health: ProcessHealth.STOPPING, reasons: ["registry says stopping", note] };
    case ProcessStatus.STOPPED:
      return { health: ProcessHealth.STOPPED, reasons: ["registry says stopped", note] };
    default:
      throw new UnreachableCaseError(registry.status);
  }
}
