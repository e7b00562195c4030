import { UnreachableCaseError } from "../errors.js";
import { ProcessStatus } from "../domain/process-status.js";
import { SupervisorState, type SupervisorProcessInfo, type SupervisorView } from "../supervisor/supervisor-state.js";

/** A process's health, from the registry and supervisord compared. */
export enum ProcessHealth {
  HEALTHY = "HEALTHY",
  STOPPED = "STOPPED",
  /** supervisord is starting it, or it started less than the stale limit ago and has not registered yet. */
  STARTING = "STARTING",
  STOPPING = "STOPPING",
  /** supervisord says running, but no fresh heartbeat from this run (hung, or never registered). */
  UNRESPONSIVE = "UNRESPONSIVE",
  /** supervisord says not running, but a heartbeat came after it stopped (something else runs it). */
  ORPHANED = "ORPHANED",
  /** FATAL, BACKOFF, an exit with a non-zero status, or an exit the registry recorded as a crash. */
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

/** The heartbeat as health reads it: its age, and whether the registry still counts it. */
interface Heartbeat {
  /** Seconds since the last heartbeat, on Fleetvisor's clock; `null` when there was none. */
  readonly age: number | null;
  /** At most the stale limit old, and the process not deregistered. */
  readonly fresh: boolean;
  /** "last heartbeat 12s ago", or "no heartbeat yet". */
  readonly said: string;
}

function ago(seconds: number): string {
  return seconds < 120 ? `${Math.round(seconds)}s ago` : `${Math.round(seconds / 60)}min ago`;
}

const report = (health: ProcessHealth, ...reasons: (string | undefined)[]): HealthReport => ({
  health,
  reasons: reasons.filter((reason): reason is string => Boolean(reason)),
});

/**
 * Health from both sources. Pure: everything it needs comes in as arguments.
 *
 * Health follows the cause, and the live facts come first: what supervisord says, and the
 * heartbeat compared with supervisord's start and stop times. The registry's `status` is read
 * only where supervisord cannot tell, because `error` has two authors: the heartbeat
 * watchdog (a process that stopped beating, which supervisord may still run) and a crash
 * that supervisord reported (FATAL, BACKOFF, an unexpected exit). So a stale heartbeat
 * while supervisord runs the process is UNRESPONSIVE whatever the column says.
 *
 * A heartbeat is fresh when it is at most `staleSeconds` old and the registry still counts
 * the process as alive (not `stopped`: a deregistered process's last heartbeat is history).
 * While supervisord runs the process, only a heartbeat of this run counts: one older than
 * the run's start came from a run before (a crash that supervisord restarted).
 *
 * Durations on the two clocks are compared, never instants across them: the heartbeat's age
 * on Fleetvisor's (`now`), the run's uptime and time since its stop on supervisord's
 * (`info.now`), so that clocks set apart do not matter. `now` should be close to when
 * supervisord answered.
 */
export function deriveHealth(
  registry: RegistryView,
  supervisor: SupervisorView,
  now: Date,
  staleSeconds: number,
): HealthReport {
  const age = registry.lastHeartbeat ? (now.getTime() - registry.lastHeartbeat.getTime()) / 1000 : null;
  const heartbeat: Heartbeat = {
    age,
    fresh: age !== null && age <= staleSeconds && registry.status !== ProcessStatus.STOPPED,
    said: age === null ? "no heartbeat yet" : `last heartbeat ${ago(age)}`,
  };

  switch (supervisor.kind) {
    case "unreachable":
      return report(
        ProcessHealth.UNREACHABLE,
        supervisor.reason,
        `registry says ${registry.status}, ${heartbeat.said}`,
      );
    case "unknown":
      return report(ProcessHealth.UNKNOWN, supervisor.reason);
    case "none":
      return fromRegistryOnly(registry, heartbeat, staleSeconds);
    case "info":
      return fromSupervisor(registry, supervisor.info, heartbeat, staleSeconds);
    default:
      throw new UnreachableCaseError(supervisor);
  }
}

function fromSupervisor(
  registry: RegistryView,
  info: SupervisorProcessInfo,
  heartbeat: Heartbeat,
  staleSeconds: number,
): HealthReport {
  const says = `supervisord says ${info.state}`;
  const pidDiffers =
    info.state === SupervisorState.RUNNING && registry.pid !== null && info.pid !== 0 && registry.pid !== info.pid
      ? `pid differs: registry has ${registry.pid}, supervisord runs ${info.pid}`
      : undefined;
  const secondsSince = (at: Date | null): number | null =>
    at === null ? null : (info.now.getTime() - at.getTime()) / 1000;
  const sinceStop = secondsSince(info.stoppedAt);
  // Not running, yet a heartbeat came after supervisord's run stopped (or it never ran).
  const orphaned =
    heartbeat.fresh && (sinceStop === null || (heartbeat.age !== null && heartbeat.age < sinceStop))
      ? report(ProcessHealth.ORPHANED, `${says}, but the ${heartbeat.said} is fresh`)
      : undefined;
  const registryError = registry.status === ProcessStatus.ERROR ? `registry says error, ${heartbeat.said}` : undefined;

  switch (info.state) {
    case SupervisorState.RUNNING:
      return running(registry, info, heartbeat, staleSeconds, pidDiffers);
    case SupervisorState.STARTING:
      return report(ProcessHealth.STARTING, says);
    case SupervisorState.STOPPING:
      return report(ProcessHealth.STOPPING, says);
    case SupervisorState.FATAL:
    case SupervisorState.BACKOFF:
      return orphaned ?? report(ProcessHealth.CRASHED, info.spawnError ? `${says}: ${info.spawnError}` : says);
    case SupervisorState.EXITED: {
      if (orphaned) return orphaned;
      if (info.exitStatus !== 0) return report(ProcessHealth.CRASHED, `${says} with status ${info.exitStatus}`);
      // supervisord does not say whether status 0 was expected (its exitcodes); the listener
      // does, and an `error` it recorded is a crash. An `error` from the watchdog is not: the
      // heartbeat had gone stale before the exit, and the exit itself was clean.
      const lostBeforeExit = heartbeat.age !== null && sinceStop !== null && heartbeat.age - sinceStop > staleSeconds;
      if (registry.status === ProcessStatus.ERROR && !lostBeforeExit) {
        return report(
          ProcessHealth.CRASHED,
          `${says} with status 0, which the registry recorded as a crash (an exit status its exitcodes do not expect)`,
        );
      }
      return report(ProcessHealth.STOPPED, `${says} with status 0`, registryError);
    }
    case SupervisorState.STOPPED:
      // A stop is deliberate, whatever came before it.
      return orphaned ?? report(ProcessHealth.STOPPED, says, registryError);
    case SupervisorState.UNKNOWN:
      return report(ProcessHealth.UNKNOWN, says);
    default:
      throw new UnreachableCaseError(info.state);
  }
}

/**
 * supervisord runs it: HEALTHY on a fresh heartbeat of this run; otherwise STARTING within
 * the startup grace (up for at most the stale limit), UNRESPONSIVE after it.
 */
function running(
  registry: RegistryView,
  info: SupervisorProcessInfo,
  heartbeat: Heartbeat,
  staleSeconds: number,
  pidDiffers: string | undefined,
): HealthReport {
  const says = `supervisord says ${info.state}`;
  // Without a start time there is no grace, and any heartbeat may be of this run.
  const upSeconds = info.startedAt ? (info.now.getTime() - info.startedAt.getTime()) / 1000 : Infinity;
  const age = heartbeat.age;
  // supervisord gives both instants in whole seconds: the run may be up to a second older
  // than they say, and a server that registered in its first second looked older than its
  // own run until its next heartbeat. The guide's `last_heartbeat` (DATETIME) keeps whole
  // seconds too, and MariaDB drops the fraction: a heartbeat read back without milliseconds
  // may be up to a second younger than it reads, and gets that second as well.
  const storedToTheSecond = registry.lastHeartbeat !== null && registry.lastHeartbeat.getMilliseconds() === 0;
  const ofThisRun = age !== null && age < upSeconds + (storedToTheSecond ? 2 : 1);
  if (heartbeat.fresh && ofThisRun) return report(ProcessHealth.HEALTHY, `${says}, ${heartbeat.said}`, pidDiffers);

  if (!ofThisRun && upSeconds <= staleSeconds) {
    return report(
      ProcessHealth.STARTING,
      `${says} for ${Math.round(upSeconds)}s, not registered yet (grace of ${staleSeconds}s)`,
      pidDiffers,
    );
  }
  let why: string;
  if (age === null) why = "no heartbeat yet";
  else if (!ofThisRun)
    why = `no heartbeat since it started ${ago(upSeconds)} (the ${heartbeat.said} came from an earlier run)`;
  else if (registry.status === ProcessStatus.STOPPED) why = `it deregistered (${heartbeat.said})`;
  else why = heartbeat.said;
  return report(ProcessHealth.UNRESPONSIVE, `${says}, but ${why} (stale after ${staleSeconds}s)`, pidDiffers);
}

/**
 * No supervisord to ask: the registry and the heartbeat are all there is. Only the
 * watchdog marks such a process `error` (nothing else watches it), so `error` is a stale
 * heartbeat, UNRESPONSIVE, as `running` with a stale heartbeat is.
 */
function fromRegistryOnly(registry: RegistryView, heartbeat: Heartbeat, staleSeconds: number): HealthReport {
  const note = "no supervisord in the registry";
  const says = `registry says ${registry.status}`;
  switch (registry.status) {
    case ProcessStatus.RUNNING:
    case ProcessStatus.ERROR:
      return heartbeat.fresh
        ? report(ProcessHealth.HEALTHY, `${says}, ${heartbeat.said}`, note)
        : report(ProcessHealth.UNRESPONSIVE, `${says}, but ${heartbeat.said} (stale after ${staleSeconds}s)`, note);
    case ProcessStatus.STARTING:
      return report(ProcessHealth.STARTING, says, note);
    case ProcessStatus.STOPPING:
      return report(ProcessHealth.STOPPING, says, note);
    case ProcessStatus.STOPPED:
      return report(ProcessHealth.STOPPED, says, note);
    default:
      throw new UnreachableCaseError(registry.status);
  }
}
