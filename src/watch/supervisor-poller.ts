import { SYSTEM_PRINCIPAL } from "../auth/principal.js";
import { systemClock, type Clock } from "../clock.js";
import type { ProcessEntity } from "../db/process.entity.js";
import type { Logger } from "../logger.js";
import { forEachAtMost } from "../for-each-at-most.js";
import type { HostObservation, HostObservations } from "../registry/host-observations.js";
import type { LastSeen, Observations } from "../registry/observations.js";
import type { ProcessReads } from "../registry/process-reads.js";
import type { SupervisorClient } from "../supervisor/supervisor-client.js";
import { SupervisorFault, SupervisorUnavailable, type SupervisorAddress } from "../supervisor/supervisor.errors.js";
import { SupervisorState, type SupervisorProcessInfo } from "../supervisor/supervisor-state.js";
import { addressOf, groupBySupervisor, supervisorKey } from "../supervisor/host-answers.js";
import type { Observation } from "../registry/follow.js";
import { SupervisorProblems } from "./supervisor-problems.js";

/** How many supervisords answered this replica's last poll of them, and how many did not. */
export interface Reachability {
  readonly reachable: number;
  readonly unreachable: number;
}

export interface PollerOptions {
  /** Polls in a row without an answer before the host's processes are reported unreachable. */
  readonly unreachableAfterPolls: number;
  /** A supervisord whose event listener reported within this long is polled less often. */
  readonly listenerFreshSeconds: number;
  /** How often such a supervisord is polled (its listener pushes changes meanwhile). */
  readonly pollIntervalWithListenerSeconds: number;
  /** Supervisords asked at once: 500 hosts never open 500 sockets together. */
  readonly concurrency: number;
}

/** Which replica polls which supervisord. */
export interface PollOwnership {
  owns(supervisorKey: string): boolean;
}

/** The observation a poll asked at `askedAt` makes of one program. */
export function observationOf(info: SupervisorProcessInfo, askedAt: Date): Observation {
  const exited = info.state === SupervisorState.EXITED;
  return {
    state: info.state,
    pid: info.pid,
    at: info.now,
    askedAt,
    // A poll cannot see supervisord's exitcodes: status 0 counts as expected.
    expected: exited ? info.exitStatus === 0 : undefined,
    source: "poll",
    detail: exited ? `exit status ${info.exitStatus}` : info.spawnError || undefined,
  };
}

/**
 * Asks each supervisord this replica owns (see {@link PollOwnership}: every supervisord is
 * polled by one live replica) once per poll (`getAllProcessInfo`, a bounded number of hosts
 * at once), stores the whole answer (what observed reads serve), compares it with what the
 * database says was last seen, and hands only the differences to the registry, which
 * records each change once. A supervisord whose event listener reports is polled only now
 * and then: its listener pushes the changes. What goes wrong with a supervisord
 * (unreachable, credentials rejected, no rpcinterface section) is logged when it begins
 * and when it ends.
 */
export class SupervisorPoller {
  /** Each failing host's problem and its polls in a row (this replica's view). */
  private readonly problems: SupervisorProblems;
  /** Whether each supervisord the registry names answered its last poll (a fault is an answer). */
  private readonly answeredLastPoll = new Map<string, boolean>();
  /** When this replica last polled each supervisord it owns. */
  private readonly lastPolledAt = new Map<string, number>();
  private polled = false;

  constructor(
    private readonly processes: ProcessReads,
    private readonly observations: Observations,
    private readonly hosts: HostObservations,
    private readonly client: SupervisorClient,
    private readonly ownership: PollOwnership,
    private readonly options: PollerOptions,
    private readonly logger: Logger,
    private readonly clock: Clock = systemClock,
  ) {
    this.problems = new SupervisorProblems(logger, { afterPolls: options.unreachableAfterPolls }, clock);
  }

  async pollOnce(): Promise<void> {
    // Two reads per poll, whatever the size of the fleet: the rows that name a supervisord,
    // and what was last seen of each.
    const [rows, last] = await Promise.all([this.processes.withSupervisor(), this.observations.lastSeen()]);
    const groups = new Map([...groupBySupervisor(rows)].filter(([key]) => this.ownership.owns(key)));
    const keys = new Set(groups.keys());
    this.problems.retain(keys);
    for (const map of [this.answeredLastPoll, this.lastPolledAt]) {
      for (const key of map.keys()) if (!keys.has(key)) map.delete(key);
    }
    const due = await this.due(groups);
    await forEachAtMost(this.options.concurrency, due, async ([key, group]) => {
      this.lastPolledAt.set(key, this.clock.now().getTime());
      await this.pollHost(addressOf(group[0]!)!, group, last);
    });
    this.polled = true;
  }

  /** The groups to poll now: all but those whose listener reports and that were polled lately. */
  private async due(groups: Map<string, ProcessEntity[]>): Promise<[string, ProcessEntity[]][]> {
    const now = this.clock.now().getTime();
    const withListener = await this.hosts
      .listenersSince(
        [...groups.values()].map((group) => addressOf(group[0]!)!),
        new Date(now - this.options.listenerFreshSeconds * 1000),
      )
      .catch(() => new Set<string>());
    const everyMs = this.options.pollIntervalWithListenerSeconds * 1000;
    return [...groups].filter(([key]) => {
      if (!withListener.has(key)) return true;
      const last = this.lastPolledAt.get(key);
      return last === undefined || now - last >= everyMs;
    });
  }

  private async pollHost(
    address: SupervisorAddress,
    rows: readonly ProcessEntity[],
    last: ReadonlyMap<string, LastSeen>,
  ): Promise<void> {
    const key = supervisorKey(address);
    let infos: SupervisorProcessInfo[];
    const started = performance.now();
    const askedAt = this.clock.now();
    try {
      infos = await this.client.getAllProcessInfo(address);
    } catch (error) {
      if (!(error instanceof SupervisorUnavailable || error instanceof SupervisorFault)) {
        this.logger.error({ err: error, supervisor: key }, "supervisord poll failed");
        return;
      }
      await this.store(address, error);
      // As the supervisors query says: a fault came from a supervisord that answered.
      this.answeredLastPoll.set(key, error instanceof SupervisorFault);
      const failures = this.problems.failed(key, error);
      // Reachable but misconfigured (a fault): health reports it; nothing to observe.
      if (error instanceof SupervisorFault) return;
      if (failures >= this.options.unreachableAfterPolls) {
        const detail = `${error.message}; ${failures} polls in a row`;
        await this.observeChanged(rows, last, () => ({
          state: "UNREACHABLE",
          pid: 0,
          at: this.clock.now(),
          source: "poll",
          detail,
        }));
      }
      return;
    }
    this.answeredLastPoll.set(key, true);
    this.problems.answered(key);
    const byProgram = new Map(infos.map((info) => [info.program, info]));
    await this.store(address, {
      address,
      byProgram,
      latencyMs: performance.now() - started,
      observedAt: this.clock.now(),
    });
    const applied = await this.observeChanged(rows, last, (row) => {
      const info = byProgram.get(row.program);
      return info ? observationOf(info, askedAt) : null;
    });
    // Drift is judged with each change handed over; the other rows are judged here (a
    // desired state set since, a program this supervisord does not have).
    await this.observations.judgeUnchanged(
      rows.filter((row) => !applied.has(row.name)),
      (row) => byProgram.get(row.program)?.state ?? "ABSENT",
    );
  }

  /** Keeps the whole answer for observed reads; a failure to store it is no failure of the poll. */
  private async store(address: SupervisorAddress, observation: HostObservation): Promise<void> {
    await this.hosts
      .record(address, observation)
      .catch((error: unknown) =>
        this.logger.debug({ reason: (error as Error).message }, "could not store a supervisord's answer"),
      );
  }

  /**
   * Of the supervisords this replica polls, how many answered its last poll and how many
   * did not; `null` before the first poll is done (and so with polling off).
   */
  reachability(): Reachability | null {
    if (!this.polled) return null;
    let reachable = 0;
    for (const answered of this.answeredLastPoll.values()) if (answered) reachable += 1;
    return { reachable, unreachable: this.answeredLastPoll.size - reachable };
  }

  /**
   * Hands over only what differs from the last observation (changes are rare; polls are
   * not). Returns the names of the rows it handed over.
   */
  private async observeChanged(
    rows: readonly ProcessEntity[],
    last: ReadonlyMap<string, LastSeen>,
    observe: (row: ProcessEntity) => Observation | null,
  ): Promise<Set<string>> {
    const applied = new Set<string>();
    for (const row of rows) {
      const observation = observe(row);
      if (!observation) continue;
      const previous = last.get(row.name);
      if (previous && previous.state === observation.state && previous.pid === observation.pid) continue;
      await this.observations.apply(row.name, observation, SYSTEM_PRINCIPAL);
      applied.add(row.name);
    }
    return applied;
  }
}
