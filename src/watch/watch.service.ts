import type { Principal } from "../auth/principal.js";
import { mayTouchProcess, SYSTEM_PRINCIPAL } from "../auth/principal.js";
import type { Clock } from "../clock.js";
import type { ProcessEntity } from "../db/process.entity.js";
import { BadUserInputError, ForbiddenError, NotFoundError, type InvalidField } from "../errors.js";
import type { Logger } from "../logger.js";
import type { HeartbeatWatchdog } from "../registry/heartbeat-watchdog.js";
import type { HostObservations } from "../registry/host-observations.js";
import type { Observations } from "../registry/observations.js";
import type { ProcessReads } from "../registry/process-reads.js";
import { check, hostProblem, portProblem, programNameProblem } from "../domain/validation.js";
import { SupervisorState } from "../supervisor/supervisor-state.js";
import { Periodic } from "./periodic.js";
import type { SupervisorPoller } from "./supervisor-poller.js";

/**
 * A listener's clock may run a little ahead; far ahead, its events would hide every later
 * poll (an observation older than the last one changes nothing).
 */
const MAX_CLOCK_AHEAD_MS = 60_000;
/** supervisord keeps a FAILed event and sends it again; a day covers any outage worth replaying. */
const MAX_EVENT_AGE_MS = 24 * 3_600_000;

/** States in which supervisord reports no pid (getProcessInfo says 0). */
const NOT_RUNNING: ReadonlySet<SupervisorState> = new Set([
  SupervisorState.STOPPED,
  SupervisorState.EXITED,
  SupervisorState.FATAL,
  SupervisorState.BACKOFF,
  SupervisorState.UNKNOWN,
]);

/** One PROCESS_STATE event, as the supervisord event listener reports it. */
export interface SupervisorEventReport {
  /** The supervisord, named as the registry names it. */
  readonly supervisorHost: string;
  readonly supervisorPort: number;
  /** `group:name`, or `name` when the group has the program's name. */
  readonly program: string;
  readonly state: SupervisorState;
  readonly pid?: number | null | undefined;
  /** For EXITED: supervisord's `expected`. */
  readonly expected?: boolean | null | undefined;
  /** When the listener received it (supervisord's clock); defaults to now. */
  readonly at?: Date | null | undefined;
}

export interface WatchSettings {
  readonly heartbeatStaleSeconds: number;
  /** 0: no watchdog. */
  readonly heartbeatCheckIntervalSeconds: number;
  /** 0: no polling. */
  readonly pollIntervalSeconds: number;
}

/**
 * Live state: the heartbeat watchdog, the supervisord poller, and the intake of the
 * supervisord event listener. Every change they see goes through the registry, which
 * records it once across replicas and publishes it.
 */
export class WatchService {
  private readonly watchdog: Periodic<ProcessEntity[]>;
  /** Whether the watchdog holds back after an outage (logged once per outage, not per pass). */
  private inGrace = false;
  private readonly polling: Periodic<void>;

  constructor(
    private readonly processes: ProcessReads,
    private readonly watchdogPass: HeartbeatWatchdog,
    private readonly observations: Observations,
    private readonly hosts: HostObservations,
    poller: SupervisorPoller,
    private readonly settings: WatchSettings,
    private readonly clock: Clock,
    private readonly logger: Logger,
  ) {
    this.watchdog = new Periodic(
      "heartbeat watchdog",
      settings.heartbeatCheckIntervalSeconds * 1000,
      () => this.heartbeatPass(),
      logger,
    );
    // Each supervisord once per interval, however long a round of them takes.
    this.polling = new Periodic(
      "supervisord poll",
      settings.pollIntervalSeconds * 1000,
      () => poller.pollOnce(),
      logger,
      { fixedRate: true },
    );
  }

  start(): void {
    this.watchdog.start();
    this.polling.start();
  }

  async stop(): Promise<void> {
    await Promise.all([this.watchdog.stop(), this.polling.stop()]);
  }

  /**
   * One watchdog pass now, after the one under way if any: running processes with a stale
   * heartbeat become ERROR, unless the database was away within the last stale period.
   * Returns the processes it moved; rejects if the pass fails. Tests drive the watchdog
   * with it instead of waiting for its interval.
   */
  checkHeartbeats(): Promise<ProcessEntity[]> {
    return this.watchdog.runOnce();
  }

  /**
   * One supervisord poll now, after the one under way if any; rejects if the poll fails.
   * Tests drive the poller with it instead of waiting for its interval.
   */
  pollOnce(): Promise<void> {
    return this.polling.runOnce();
  }

  private async heartbeatPass(): Promise<ProcessEntity[]> {
    const pass = await this.watchdogPass.pass();
    if (pass.kind === "checked") {
      this.inGrace = false;
      return [...pass.lost];
    }
    if (!this.inGrace) {
      this.inGrace = true;
      this.logger.warn(
        { until: pass.until.toISOString() },
        "the registry database was unavailable: no heartbeat is declared lost before one stale period has passed",
      );
    }
    return [];
  }

  /**
   * A state change pushed by the event listener. The processes of the registry that run
   * this program on this supervisord follow it; an agent may only report for its own.
   */
  async report(report: SupervisorEventReport, principal: Principal): Promise<ProcessEntity[]> {
    const problems: InvalidField[] = [];
    check(problems, "input.supervisorHost", report.supervisorHost, hostProblem);
    check(problems, "input.supervisorPort", report.supervisorPort, portProblem);
    check(problems, "input.program", report.program, programNameProblem);
    if (report.pid != null && (!Number.isInteger(report.pid) || report.pid < 0)) {
      problems.push({ field: "input.pid", message: `must be a pid, or 0 when not running (got ${report.pid})` });
    }
    const now = this.clock.now().getTime();
    if (report.at && (report.at.getTime() > now + MAX_CLOCK_AHEAD_MS || report.at.getTime() < now - MAX_EVENT_AGE_MS)) {
      problems.push({
        field: "input.at",
        message: `must be within the last day and at most ${MAX_CLOCK_AHEAD_MS / 1000}s ahead of Fleetvisor's clock (got ${report.at.toISOString()})`,
      });
    }
    if (problems.length > 0) throw BadUserInputError.of(problems);

    const { supervisorHost: host, supervisorPort: port } = report;
    const rows = await this.processes.findBySupervisorProgram(host, port, report.program);
    if (rows.length === 0 && !(await this.processes.namesSupervisor(host, port))) {
      // Most often a mistyped FLEETVISOR_SUPERVISOR in the listener's environment.
      throw new NotFoundError(
        `no process in the registry names the supervisord ${host}:${port}; the listener's FLEETVISOR_SUPERVISOR must be ` +
          "the supervisorHost:supervisorPort of its processes",
        { supervisor: `${host}:${port}` },
      );
    }
    if (rows.some((row) => !mayTouchProcess(principal, row.name))) {
      // Naming the process would tell an agent what lies outside its binding.
      throw new ForbiddenError(
        `token "${principal.name}" is bound to "${principal.processPattern}" and may not report for this supervisord's program`,
      );
    }
    const at = report.at ?? this.clock.now();
    // This supervisord is listened to: the poller may leave it alone for a while.
    this.hosts.noteListener({ host, port }).catch(() => undefined);
    // supervisord's events name the pid a stopped or exited process had; a poll says 0 for
    // it. Observations must compare alike, or every poll would see a "change".
    const pid = NOT_RUNNING.has(report.state) ? 0 : (report.pid ?? 0);
    const results: ProcessEntity[] = [];
    for (const row of rows) {
      const exited = report.state === SupervisorState.EXITED;
      const { process } = await this.observations.apply(
        row.name,
        {
          state: report.state,
          pid,
          at,
          expected: exited ? (report.expected ?? undefined) : undefined,
          source: "listener",
          detail: exited && report.expected === false ? "not an expected exit status" : undefined,
        },
        principal,
      );
      if (process) results.push(process);
    }
    return results;
  }
}
