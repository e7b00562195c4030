import { systemClock, type Clock } from "../clock.js";
import type { ProcessEntity } from "../db/process.entity.js";
import { deriveHealth, ProcessHealth } from "../health/health.js";
import type { Observations, ProcessLastSeen } from "../registry/observations.js";
import { SupervisorState, type SupervisorView } from "../supervisor/supervisor-state.js";

const SUPERVISOR_STATES: ReadonlySet<string> = new Set(Object.values(SupervisorState));

/**
 * The supervisord side of a process, as the watchers last saw it, for {@link deriveHealth}.
 *
 * An observation keeps less than an answer of supervisord: its state, its pid and when it
 * was seen. The rest is read so that health comes out as a live answer would make it:
 *
 * - RUNNING: when the registry holds the pid supervisord runs, that process registered,
 *   so any fresh heartbeat is of this run (no start time needed); otherwise the run is
 *   taken to have started when it was seen, which gives a newly started process its grace.
 * - Not running: it stopped when that was seen (a poll sees it at most one interval late,
 *   which only makes a heartbeat from before the stop look older, never newer).
 * - EXITED: the exit status is not kept; the registry is `error` when the exit was
 *   unexpected (the poller and the listener moved it), which is what health reads then.
 * - Nothing seen yet (a supervisord not polled so far, polling off and no event since
 *   the row was made): the registry and the heartbeat alone, as for a process without one.
 *
 * `now` stands for supervisord's clock too: deployments keep the two within a second.
 */
export function observedView(process: ProcessEntity, seen: ProcessLastSeen["seen"], now: Date): SupervisorView {
  if (process.supervisorHost === null || process.supervisorPort === null || seen === null) return { kind: "none" };
  if (seen.state === "UNREACHABLE") {
    return { kind: "unreachable", reason: "its supervisord did not answer the last polls" };
  }
  if (!SUPERVISOR_STATES.has(seen.state)) {
    return { kind: "unknown", reason: `supervisord was last seen to say ${seen.state}` };
  }
  const state = seen.state as SupervisorState;
  const running = state === SupervisorState.RUNNING;
  const registeredThisRun = process.pid !== null && process.pid === seen.pid;
  const stopped =
    state === SupervisorState.STOPPED ||
    state === SupervisorState.EXITED ||
    state === SupervisorState.FATAL ||
    state === SupervisorState.BACKOFF;
  return {
    kind: "info",
    info: {
      program: process.program,
      name: process.program,
      group: process.program,
      state,
      stateName: state,
      pid: seen.pid,
      startedAt: running && !registeredThisRun ? seen.at : null,
      stoppedAt: stopped ? seen.at : null,
      now,
      exitStatus: 0,
      spawnError: "",
      description: "",
    },
  };
}

/** How many processes have each health (every health named, 0 when none has it). */
export function countByHealth(
  fleet: readonly ProcessLastSeen[],
  now: Date,
  staleSeconds: number,
): Map<ProcessHealth, number> {
  const counts = new Map(Object.values(ProcessHealth).map((health) => [health, 0]));
  for (const { process, seen } of fleet) {
    const { health } = deriveHealth(
      { status: process.status!, pid: process.pid, lastHeartbeat: process.lastHeartbeat },
      observedView(process, seen, now),
      now,
      staleSeconds,
    );
    counts.set(health, (counts.get(health) ?? 0) + 1);
  }
  return counts;
}

/**
 * The fleet's health for the metrics: one read of the registry joined with what the
 * watchers last observed, however large the fleet and however often it is scraped (two
 * scrapes at once share the read); never a call to a supervisord. On the watchers' pool,
 * so that a scrape never takes a connection that requests need.
 */
export class FleetState {
  private reading: Promise<Map<ProcessHealth, number>> | null = null;

  constructor(
    private readonly observations: Observations,
    private readonly staleSeconds: number,
    private readonly clock: Clock = systemClock,
  ) {}

  processesByHealth(): Promise<Map<ProcessHealth, number>> {
    this.reading ??= this.observations
      .everyProcessLastSeen()
      .then((fleet) => countByHealth(fleet, this.clock.now(), this.staleSeconds))
      .finally(() => {
        this.reading = null;
      });
    return this.reading;
  }
}
