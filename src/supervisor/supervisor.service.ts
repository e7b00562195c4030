import type { ProcessEntity } from "../db/process.entity.js";
import { BadUserInputError, NotFoundError, type AppError, type InvalidField } from "../errors.js";
import type { LogRead, LogStart, LogStream } from "./process-log.js";
import type { SupervisorClient } from "./supervisor-client.js";
import {
  describeAddress,
  SupervisorFault,
  SupervisorUnavailable,
  type SupervisorAddress,
} from "./supervisor.errors.js";
import type { SupervisorProcessInfo, SupervisorView } from "./supervisor-state.js";

/** The most a single log read returns. */
export const MAX_LOG_BYTES = 64 * 1024;

/** Selections whose supervisords {@link SupervisorService.lastNamed} remembers. */
const REMEMBERED_SELECTIONS = 256;

/** One supervisord's answer to `getAllProcessInfo`, indexed by program. */
export interface HostSnapshot {
  readonly address: SupervisorAddress;
  readonly byProgram: ReadonlyMap<string, SupervisorProcessInfo>;
  readonly latencyMs: number;
}

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
  readonly error: string | null;
  readonly errorCode: string | null;
}

/** The live side of one registry row, as the `supervisor` and `health` fields need it. */
export interface LiveState {
  readonly view: SupervisorView;
  /** Why there is no info, as the error the `supervisor` field reports. */
  readonly error?: AppError;
}

/**
 * A request's answers from supervisord: however many rows and fields ask, each
 * supervisord is asked once (`getAllProcessInfo`), and each answer settles on its own, so
 * that a host that hangs holds back only its own rows. With `keep` off (a subscription,
 * which lives longer than any answer should), only calls still in flight are shared.
 */
export class HostAnswers {
  private readonly answers = new Map<string, Promise<HostSnapshot | Error>>();

  constructor(
    private readonly ask: (key: string) => Promise<HostSnapshot>,
    private readonly keep: boolean,
  ) {}

  /** The answer of the supervisord at `key`, or why there is none; never rejects. */
  of(key: string): Promise<HostSnapshot | Error> {
    let answer = this.answers.get(key);
    if (!answer) {
      answer = this.ask(key).catch((error: unknown) => (error instanceof Error ? error : new Error(String(error))));
      this.answers.set(key, answer);
      if (!this.keep) {
        const asked = answer;
        void asked.then(() => {
          if (this.answers.get(key) === asked) this.answers.delete(key);
        });
      }
    }
    return answer;
  }

  /** Asks every supervisord of `keys` now, for fields to read later. */
  prefetch(keys: Iterable<string>): void {
    for (const key of keys) void this.of(key);
  }

  /** Forgets every answer: the next read asks again (after a control call, say). */
  clear(): void {
    this.answers.clear();
  }
}

/** The key of a supervisord in {@link HostAnswers}. */
export function supervisorKey(address: SupervisorAddress): string {
  return `${address.host.toLowerCase()}:${address.port}`;
}

/** `processes` by the supervisord they name (its key); rows that name none are left out. */
export function groupBySupervisor(processes: readonly ProcessEntity[]): Map<string, ProcessEntity[]> {
  const groups = new Map<string, ProcessEntity[]>();
  for (const process of processes) {
    const address = addressOf(process);
    if (!address) continue;
    const key = supervisorKey(address);
    const group = groups.get(key);
    if (group) group.push(process);
    else groups.set(key, [process]);
  }
  return groups;
}

function parseKey(key: string): SupervisorAddress {
  const at = key.lastIndexOf(":");
  return { host: key.slice(0, at), port: Number(key.slice(at + 1)) };
}

/** A row's live state from its supervisord's answer (or the error asking it). */
export function liveStateFrom(process: ProcessEntity, answer: HostSnapshot | Error): LiveState {
  if (answer instanceof SupervisorUnavailable)
    return { view: { kind: "unreachable", reason: answer.message }, error: answer };
  if (answer instanceof SupervisorFault) return { view: { kind: "unknown", reason: answer.message }, error: answer };
  if (answer instanceof Error) throw answer;
  const info = answer.byProgram.get(process.program);
  if (info) return { view: { kind: "info", info } };
  const missing = new NotFoundError(
    `supervisord at ${describeAddress(answer.address)} has no program "${process.program}"`,
    {
      supervisor: describeAddress(answer.address),
      program: process.program,
    },
  );
  return { view: { kind: "unknown", reason: missing.message }, error: missing };
}

/** The supervisord of a registry row, or `null` when the row names none. */
export function addressOf(process: Pick<ProcessEntity, "supervisorHost" | "supervisorPort">): SupervisorAddress | null {
  return process.supervisorHost && process.supervisorPort
    ? { host: process.supervisorHost, port: process.supervisorPort }
    : null;
}

/**
 * Reads of supervisord for the GraphQL layer: a request's answers (each host once, all
 * hosts in parallel), supervisord's own status, and log tails.
 */
export class SupervisorService {
  private readonly named = new Map<string, readonly string[]>();

  constructor(readonly client: SupervisorClient) {}

  async snapshot(address: SupervisorAddress): Promise<HostSnapshot> {
    const started = performance.now();
    const processes = await this.client.getAllProcessInfo(address);
    return {
      address,
      byProgram: new Map(processes.map((info) => [info.program, info])),
      latencyMs: performance.now() - started,
    };
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

  /** supervisord's state, version and program count, in one round trip. */
  async status(address: SupervisorAddress): Promise<SupervisordStatus> {
    const base = { host: address.host, port: address.port };
    const started = performance.now();
    try {
      const [state, version, processes] = await this.client.multicall(address, [
        { method: "supervisor.getState" },
        { method: "supervisor.getSupervisorVersion" },
        { method: "supervisor.getAllProcessInfo" },
      ]);
      const latencyMs = performance.now() - started;
      const fault = [state, version, processes].find((r): r is SupervisorFault => r instanceof SupervisorFault);
      if (fault) {
        return {
          ...base,
          reachable: true,
          state: null,
          version: null,
          latencyMs,
          processCount: null,
          error: fault.message,
          errorCode: fault.code,
        };
      }
      return {
        ...base,
        reachable: true,
        state: (state as { statename: string }).statename,
        version: version as string,
        latencyMs,
        processCount: (processes as unknown[]).length,
        error: null,
        errorCode: null,
      };
    } catch (error) {
      if (error instanceof SupervisorUnavailable || error instanceof SupervisorFault) {
        const reachable = error instanceof SupervisorFault;
        return {
          ...base,
          reachable,
          state: null,
          version: null,
          latencyMs: null,
          processCount: null,
          error: error.message,
          errorCode: error.code,
        };
      }
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
