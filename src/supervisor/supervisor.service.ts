import type { Principal } from "../auth/principal.js";
import type { Clock } from "../clock.js";
import type { ProcessEntity } from "../db/process.entity.js";
import { BadUserInputError, NotFoundError, type AppError, type InvalidField } from "../errors.js";
import { unexpectedAnswer } from "./fault-mapping.js";
import type { LogRead, LogStart, LogStream } from "./process-log.js";
import {
  addressOf,
  groupBySupervisor,
  HostAnswers,
  SharedHostAnswers,
  liveStateFrom,
  parseKey,
  supervisorKey,
  type HostSnapshot,
  type LiveState,
} from "./host-answers.js";
import type { SupervisorClient } from "./supervisor-client.js";
import {
  describeAddress,
  SupervisorFault,
  SupervisorUnavailable,
  type SupervisorAddress,
} from "./supervisor.errors.js";
import {
  isRawProcessInfo,
  parseProcessInfo,
  type SupervisorProcessInfo,
  type SupervisorView,
} from "./supervisor-state.js";

/** The most a single log read returns. */
export const MAX_LOG_BYTES = 64 * 1024;

/** Selections whose supervisords {@link SupervisorService.lastNamed} remembers. */
const REMEMBERED_SELECTIONS = 256;

/** What `Query.supervisors` reports of one supervisord. */
export interface SupervisordStatus {
  readonly host: string;
  readonly port: number;
  readonly reachable: boolean;
  /** supervisord's own state (RUNNING, RESTARTING, SHUTDOWN, FATAL). */
  readonly state: string | null;
  readonly version: string | null;
  readonly latencyMs: number | null;
  /** Programs supervisord runs. */
  readonly processCount: number | null;
  /** What it runs, from the same answer; null when it could not say. */
  readonly programs: readonly SupervisorProcessInfo[] | null;
  readonly error: string | null;
  readonly errorCode: string | null;
}

/** A program a supervisord runs, and the registry's processes that name it there. */
export interface SupervisedProgram {
  readonly info: SupervisorProcessInfo;
  /** In name order; empty when the registry does not know the program. */
  readonly processNames: readonly string[];
}

/** One supervisord the registry names: its status joined with the registry's rows. */
export interface SupervisordOverview extends Omit<SupervisordStatus, "programs"> {
  /** Registry rows that name this supervisord. */
  readonly registeredProcessCount: number;
  /** In supervisord's order; null when it could not say what it runs. */
  readonly programs: readonly SupervisedProgram[] | null;
  /** Programs it runs that no registry row on this supervisord names; null when it could not say. */
  readonly unregisteredPrograms: readonly string[] | null;
}

/**
 * A supervisord's status joined with the registry rows that name it (all of them name it):
 * each program with the processes naming it, and the programs none names. Pure.
 */
export function joinRegistry(status: SupervisordStatus, rows: readonly ProcessEntity[]): SupervisordOverview {
  const namesByProgram = new Map<string, string[]>();
  for (const row of [...rows].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
    const names = namesByProgram.get(row.program);
    if (names) names.push(row.name);
    else namesByProgram.set(row.program, [row.name]);
  }
  const programs =
    status.programs?.map((info) => ({ info, processNames: namesByProgram.get(info.program) ?? [] })) ?? null;
  return {
    ...status,
    registeredProcessCount: rows.length,
    programs,
    unregisteredPrograms:
      programs?.filter((program) => program.processNames.length === 0).map((program) => program.info.program) ?? null,
  };
}

/** Why a supervisord gave no usable answer. */
export type SupervisorAnswerError = SupervisorUnavailable | SupervisorFault;

/**
 * The overview as a token bound to a pattern sees it (`rows` were its processes only): the
 * programs its processes name, and nothing of what else the supervisord runs — neither
 * those programs nor how many there are.
 */
export function onlyNamedPrograms(overview: SupervisordOverview): SupervisordOverview {
  const programs = overview.programs?.filter((program) => program.processNames.length > 0) ?? null;
  return {
    ...overview,
    programs,
    processCount: programs ? programs.length : null,
    unregisteredPrograms: programs ? [] : null,
  };
}

/**
 * Reads of supervisord for the GraphQL layer: a request's answers (each host once, all
 * hosts in parallel), supervisord's own status, and log tails.
 */
export class SupervisorService {
  private readonly named = new Map<string, readonly string[]>();
  private readonly shared = new SharedHostAnswers(
    (key) => this.snapshot(parseKey(key)),
    () => this.clock.now().getTime(),
  );

  constructor(
    readonly client: SupervisorClient,
    private readonly clock: Clock,
    /** Told of every whole answer (or why there was none), to keep what was observed current. */
    private readonly onAnswer: (
      address: SupervisorAddress,
      answer: HostSnapshot | SupervisorAnswerError,
    ) => void = () => undefined,
  ) {}

  /** `getAllProcessInfo` of one supervisord, now. */
  async snapshot(address: SupervisorAddress): Promise<HostSnapshot> {
    const started = performance.now();
    try {
      const processes = await this.client.getAllProcessInfo(address);
      const snapshot = {
        address,
        byProgram: new Map(processes.map((info) => [info.program, info])),
        latencyMs: performance.now() - started,
        observedAt: this.clock.now(),
      };
      this.onAnswer(address, snapshot);
      return snapshot;
    } catch (error) {
      if (error instanceof SupervisorUnavailable || error instanceof SupervisorFault) this.onAnswer(address, error);
      throw error;
    }
  }

  /** A request's answers from supervisord (see {@link HostAnswers}). */
  answers(keep = true): HostAnswers {
    return new HostAnswers((key) => this.snapshot(parseKey(key)), keep);
  }

  /** The live state of `process`, from the request's answers. */
  async liveState(process: ProcessEntity, answers: HostAnswers): Promise<LiveState> {
    const address = addressOf(process);
    if (!address) return { view: { kind: "none" } };
    return liveStateFrom(process, await answers.of(supervisorKey(address)));
  }

  /**
   * The live state of `process` as a subscriber's event shows it: from an answer asked at or
   * after `changedAt` (when the event was recorded), shared by every subscriber on this
   * replica (see {@link SharedHostAnswers}).
   */
  async liveStateSince(process: ProcessEntity, changedAt: Date): Promise<LiveState> {
    const address = addressOf(process);
    if (!address) return { view: { kind: "none" } };
    return liveStateFrom(process, await this.shared.of(supervisorKey(address), changedAt.getTime()));
  }

  /**
   * The supervisords a list of processes named the last time it was asked for with the
   * same selection (filter and caller), to ask them before the rows arrive. A guess: the
   * rows themselves decide which answers are read.
   */
  lastNamed(selection: string): readonly string[] | undefined {
    const keys = this.named.get(selection);
    if (keys) {
      // Least recently used first: keep the map in order of use.
      this.named.delete(selection);
      this.named.set(selection, keys);
    }
    return keys;
  }

  rememberNamed(selection: string, keys: readonly string[]): void {
    this.named.delete(selection);
    this.named.set(selection, keys);
    if (this.named.size > REMEMBERED_SELECTIONS) this.named.delete(this.named.keys().next().value!);
  }

  /**
   * Every supervisord that `rows` name (each row whose supervisord is set), each asked once
   * and all in parallel (see {@link status}), joined with the rows that name it; ordered by
   * host and port. The host is spelled as the first of its rows (by name) spells it. With
   * `onlyNamedPrograms`, each as {@link onlyNamedPrograms} narrows it.
   */
  async overview(
    rows: readonly ProcessEntity[],
    options: { readonly onlyNamedPrograms?: boolean } = {},
  ): Promise<SupervisordOverview[]> {
    const groups = [...groupBySupervisor(rows).values()];
    const overviews = await Promise.all(
      groups.map(async (group) => {
        const [first] = [...group].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
        const overview = joinRegistry(await this.status(addressOf(first!)!), group);
        return options.onlyNamedPrograms ? onlyNamedPrograms(overview) : overview;
      }),
    );
    return overviews.sort((a, b) => {
      const [hostA, hostB] = [a.host.toLowerCase(), b.host.toLowerCase()];
      return hostA < hostB ? -1 : hostA > hostB ? 1 : a.port - b.port;
    });
  }

  /**
   * The supervisords of `rows`, the processes `principal` may see, as it may see them: a
   * token bound to a pattern learns only of its own programs.
   */
  overviewFor(rows: readonly ProcessEntity[], principal: Principal): Promise<SupervisordOverview[]> {
    return this.overview(rows, { onlyNamedPrograms: principal.processPattern !== null });
  }

  /** supervisord's state, version and programs, in one round trip. */
  async status(address: SupervisorAddress): Promise<SupervisordStatus> {
    const base = { host: address.host, port: address.port };
    const started = performance.now();
    const unusable = (error: SupervisorFault | SupervisorUnavailable, latencyMs: number | null) => ({
      ...base,
      reachable: error instanceof SupervisorFault,
      state: null,
      version: null,
      latencyMs,
      processCount: null,
      programs: null,
      error: error.message,
      errorCode: error.code,
    });
    try {
      const [state, version, processes] = await this.client.multicall(address, [
        { method: "supervisor.getState" },
        { method: "supervisor.getSupervisorVersion" },
        { method: "supervisor.getAllProcessInfo" },
      ]);
      const latencyMs = performance.now() - started;
      const fault = [state, version, processes].find((r): r is SupervisorFault => r instanceof SupervisorFault);
      if (fault) return unusable(fault, latencyMs);
      if (!Array.isArray(processes) || !processes.every(isRawProcessInfo)) {
        const odd = unexpectedAnswer(address, "supervisor.getAllProcessInfo", "a list of processes");
        return unusable(odd, latencyMs);
      }
      const programs = processes.map(parseProcessInfo);
      return {
        ...base,
        reachable: true,
        state: (state as { statename: string }).statename,
        version: version as string,
        latencyMs,
        processCount: programs.length,
        programs,
        error: null,
        errorCode: null,
      };
    } catch (error) {
      if (error instanceof SupervisorUnavailable || error instanceof SupervisorFault) return unusable(error, null);
      throw error;
    }
  }

  /**
   * A program's log from `from`, a byte offset or its end: exactly the bytes there, at most
   * `bytes` of them, and the offset to go on from (see {@link readProcessLog}). Null when
   * the registry names no supervisord.
   */
  async readLog(process: ProcessEntity, stream: LogStream, from: LogStart, bytes: number): Promise<LogRead | null> {
    const problems: InvalidField[] = [];
    if (!Number.isInteger(bytes) || bytes < 1 || bytes > MAX_LOG_BYTES)
      problems.push({ field: "bytes", message: `must be between 1 and ${MAX_LOG_BYTES} (got ${bytes})` });
    if (from !== "end" && (!Number.isInteger(from) || from < 0))
      problems.push({ field: "offset", message: `must not be negative (got ${from})` });
    if (problems.length > 0) throw BadUserInputError.of(problems);
    const address = addressOf(process);
    if (!address) return null;
    try {
      return await this.client.readLog(address, process.program, stream, from, bytes);
    } catch (error) {
      if (error instanceof SupervisorFault && error.faultName === "BAD_NAME") {
        throw new NotFoundError(`supervisord at ${describeAddress(address)} has no program "${process.program}"`);
      }
      throw error;
    }
  }
}
