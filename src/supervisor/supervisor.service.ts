import DataLoader from "dataloader";
import type { ProcessEntity } from "../db/process.entity.js";
import { NotFoundError, type AppError } from "../errors.js";
import type { SupervisorView } from "../health/health.js";
import type { LogTail, SupervisorClient } from "./supervisor-client.js";
import {
  describeAddress,
  SupervisorFault,
  SupervisorUnavailable,
  type SupervisorAddress,
} from "./supervisor.errors.js";
import type { SupervisorProcessInfo } from "./supervisor-state.js";

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

/** The loader key of a supervisord. */
export function supervisorKey(address: SupervisorAddress): string {
  return `${address.host.toLowerCase()}:${address.port}`;
}

function parseKey(key: string): SupervisorAddress {
  const at = key.lastIndexOf(":");
  return { host: key.slice(0, at), port: Number(key.slice(at + 1)) };
}

/** A row's live state from its supervisord's answer (or the error asking it). */
function liveStateFrom(process: ProcessEntity, answer: HostSnapshot | Error): LiveState {
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
 * Reads of supervisord for the GraphQL layer: snapshots batched per request (each host
 * once, all hosts in parallel), supervisord's own status, and log tails.
 */
export class SupervisorService {
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

  /**
   * A per-request loader: however many rows and fields ask, each supervisord is asked
   * once (`getAllProcessInfo`), all of them at the same time. A failing host fails only
   * its own key.
   */
  createSnapshotLoader(cache = true): DataLoader<string, HostSnapshot> {
    return new DataLoader<string, HostSnapshot>(
      (keys) => Promise.all(keys.map((key) => this.snapshot(parseKey(key)).catch((error: Error) => error))),
      { cache },
    );
  }

  /** The live state of `process`, through the request's loader. */
  async liveState(process: ProcessEntity, loader: DataLoader<string, HostSnapshot>): Promise<LiveState> {
    const address = addressOf(process);
    if (!address) return { view: { kind: "none" } };
    return liveStateFrom(process, await loader.load(supervisorKey(address)).catch((error: Error) => error));
  }

  /**
   * The live states of many rows: each supervisord they name is asked once (through the
   * loader, all at the same time), then every row's state is read off its host's answer.
   */
  async liveStates(
    processes: readonly ProcessEntity[],
    loader: DataLoader<string, HostSnapshot>,
  ): Promise<LiveState[]> {
    const keys = [
      ...new Set(
        processes
          .map((p) => addressOf(p))
          .filter((a) => a !== null)
          .map(supervisorKey),
      ),
    ];
    const answers = new Map(keys.map((key, i) => [key, i]));
    const results = await loader.loadMany(keys);
    return processes.map((process) => {
      const address = addressOf(process);
      return address
        ? liveStateFrom(process, results[answers.get(supervisorKey(address))!]!)
        : { view: { kind: "none" } };
    });
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

  /** The end of a program's log (`offset` 0), or what was written since `offset`. */
  async tailLog(
    process: ProcessEntity,
    stream: "stdout" | "stderr",
    offset: number,
    bytes: number,
  ): Promise<LogTail | null> {
    const address = addressOf(process);
    if (!address) return null;
    try {
      return await this.client.tailLog(address, process.program, stream, offset, bytes);
    } catch (error) {
      if (error instanceof SupervisorFault && error.faultName === "BAD_NAME") {
        throw new NotFoundError(`supervisord at ${describeAddress(address)} has no program "${process.program}"`);
      }
      throw error;
    }
  }
}
