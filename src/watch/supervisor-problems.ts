import { systemClock, type Clock } from "../clock.js";
import { UnreachableCaseError } from "../errors.js";
import type { Logger } from "../logger.js";
import { SupervisorFault, SupervisorUnavailable } from "../supervisor/supervisor.errors.js";

/** What keeps a supervisord from being polled. */
export type ProblemKind =
  /** It did not answer: refused, reset, timed out, no such host, or not XML-RPC. */
  | "unreachable"
  /** It rejected the credentials Fleetvisor has for it (HTTP 401). */
  | "credentials"
  /** It answered without the [rpcinterface:supervisor] section (UNKNOWN_METHOD). */
  | "rpcinterface"
  /** It answered the poll with another fault (SHUTDOWN_STATE while it shuts down, say). */
  | "fault";

export function problemKindOf(error: SupervisorUnavailable | SupervisorFault): ProblemKind {
  if (error instanceof SupervisorFault) return error.faultName === "UNKNOWN_METHOD" ? "rpcinterface" : "fault";
  return error.reason === "unauthorized" ? "credentials" : "unreachable";
}

/**
 * Whether a kind of problem is logged at its first poll. A supervisord with the wrong
 * credentials or without the rpcinterface section stays so until someone changes its
 * configuration; the others may be a blip, and are logged once they have lasted as many
 * polls as make a supervisord unreachable.
 */
function lastsUntilFixed(kind: ProblemKind): boolean {
  switch (kind) {
    case "credentials":
    case "rpcinterface":
      return true;
    case "unreachable":
    case "fault":
      return false;
    default:
      throw new UnreachableCaseError(kind);
  }
}

interface Problem {
  readonly kind: ProblemKind;
  /** When the first poll of it failed. */
  readonly since: Date;
}

interface HostState {
  /** What the polls see now, and how many in a row have. */
  streak: Problem & { polls: number };
  /** The problem whose beginning was logged, whose end will be. */
  logged?: Problem;
}

export interface SupervisorProblemsOptions {
  /** Polls in a row before a problem that may be a blip is logged. */
  readonly afterPolls: number;
}

/**
 * What this replica's poller sees go wrong with each supervisord, logged at warn once when
 * it begins and once when it ends (the supervisord answers again, or the registry no longer
 * names it), never once per poll. A logged problem gives way to another kind only once
 * that one would be logged itself: a supervisord restarted to fix its credentials refuses
 * a poll or two, and that is not news. The state is one entry per supervisord failing now;
 * the poller has supervisords that the registry no longer names forgotten.
 */
export class SupervisorProblems {
  private readonly hosts = new Map<string, HostState>();

  constructor(
    private readonly logger: Logger,
    private readonly options: SupervisorProblemsOptions,
    private readonly clock: Clock = systemClock,
  ) {}

  /** A failed poll of the supervisord at `key`; returns how many in a row failed alike. */
  failed(key: string, error: SupervisorUnavailable | SupervisorFault): number {
    const kind = problemKindOf(error);
    let state = this.hosts.get(key);
    if (!state) {
      state = { streak: { kind, since: this.clock.now(), polls: 0 } };
      this.hosts.set(key, state);
    } else if (state.streak.kind !== kind) {
      state.streak = { kind, since: this.clock.now(), polls: 0 };
    }
    const streak = state.streak;
    streak.polls += 1;
    const news = lastsUntilFixed(kind) || streak.polls >= this.options.afterPolls;
    if (news && state.logged?.kind !== kind) {
      if (state.logged) this.end(key, state.logged, `it now fails otherwise (${kind})`);
      state.logged = { kind, since: streak.since };
      this.logger.warn(
        { supervisor: key, problem: kind, polls: streak.polls, since: streak.since.toISOString() },
        `supervisord problem began: ${error.message}${streak.polls > 1 ? ` (${streak.polls} polls in a row)` : ""}`,
      );
    }
    return streak.polls;
  }

  /** The supervisord at `key` answered a poll. */
  answered(key: string): void {
    const state = this.hosts.get(key);
    if (!state) return;
    this.hosts.delete(key);
    if (state.logged) this.end(key, state.logged, "it answers again");
  }

  /** Forgets every supervisord but those of `keys` (the ones the registry names now). */
  retain(keys: ReadonlySet<string>): void {
    for (const [key, state] of this.hosts) {
      if (keys.has(key)) continue;
      this.hosts.delete(key);
      if (state.logged) this.end(key, state.logged, "no process in the registry names it any more");
    }
  }

  private end(key: string, problem: Problem, why: string): void {
    const seconds = Math.round((this.clock.now().getTime() - problem.since.getTime()) / 1000);
    this.logger.warn(
      { supervisor: key, problem: problem.kind, seconds },
      `supervisord problem ended: ${key} (${problem.kind}, for ${seconds}s): ${why}`,
    );
  }
}
