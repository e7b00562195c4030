import type { ProcessEntity } from "../db/process.entity.js";
import { NotFoundError, type AppError } from "../errors.js";
import {
  describeAddress,
  SupervisorFault,
  SupervisorUnavailable,
  type SupervisorAddress,
} from "./supervisor.errors.js";
import type { SupervisorProcessInfo, SupervisorView } from "./supervisor-state.js";

/**
 * Which supervisord a registry row names, and what one request learned from each
 * supervisord: the keys rows are grouped by, the answers shared by every field of a
 * request, and a row's live state read from its host's answer.
 */

/** One supervisord's answer to `getAllProcessInfo`, indexed by program. */
export interface HostSnapshot {
  readonly address: SupervisorAddress;
  readonly byProgram: ReadonlyMap<string, SupervisorProcessInfo>;
  readonly latencyMs: number;
  /** When Fleetvisor received it (its own clock): now for a live answer, earlier for a stored one. */
  readonly observedAt: Date;
}

/** The live side of one registry row, as the `supervisor` and `health` fields need it. */
export interface LiveState {
  readonly view: SupervisorView;
  /** Why there is no info, as the error the `supervisor` field reports. */
  readonly error?: AppError;
  /** When the answer it comes from was received. */
  readonly observedAt?: Date;
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

export function parseKey(key: string): SupervisorAddress {
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
  if (info) return { view: { kind: "info", info }, observedAt: answer.observedAt };
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

interface SharedAsk {
  /** When the ask began (the clock's epoch ms). */
  readonly startedAt: number;
  readonly answer: Promise<HostSnapshot | Error>;
  settledAt?: number;
}

/**
 * Answers shared by every subscription of one replica. Each subscriber's execution of an
 * event that selects `supervisor` or `health` would otherwise ask the process's supervisord
 * itself: one event to 2,000 dashboards, 2,000 calls into a production host. A reader says
 * how fresh the answer must be (`notBefore`: when the change it shows was recorded) and
 * joins an ask begun at or after that time, in flight or settled at most `keepMs` ago;
 * otherwise it asks anew. So no subscriber is shown a state older than its event, and one
 * event costs each supervisord one call.
 */
export class SharedHostAnswers {
  private readonly latest = new Map<string, SharedAsk>();

  constructor(
    private readonly ask: (key: string) => Promise<HostSnapshot>,
    private readonly now: () => number,
    /** How long a settled answer is still shared. @default 1000 */
    private readonly keepMs = 1_000,
  ) {}

  /** The answer of the supervisord at `key`, asked at or after `notBefore`; never rejects. */
  of(key: string, notBefore: number): Promise<HostSnapshot | Error> {
    const now = this.now();
    const shared = this.latest.get(key);
    if (
      shared &&
      shared.startedAt >= notBefore &&
      (shared.settledAt === undefined || now - shared.settledAt <= this.keepMs)
    ) {
      return shared.answer;
    }
    const answer = this.ask(key).catch((error: unknown) => (error instanceof Error ? error : new Error(String(error))));
    const asked: SharedAsk = { startedAt: now, answer };
    this.latest.set(key, asked);
    void answer.then(() => {
      asked.settledAt = this.now();
      // Forgotten once too old to share: the map holds at most one ask per supervisord.
      setTimeout(() => {
        if (this.latest.get(key) === asked) this.latest.delete(key);
      }, this.keepMs).unref();
    });
    return answer;
  }
}
