import { systemClock, type Clock } from "../clock.js";
import type { Logger } from "../logger.js";

interface Problem {
  readonly since: Date;
  readonly reason: string;
}

/**
 * What keeps this replica's healer from checking processes, logged at warn once when it
 * begins and once when it ends, never once per process per pass: an unreachable supervisord
 * is one problem (keyed by the supervisord) however many of its processes wait to be
 * checked; anything else is keyed by the process. The state is one entry per problem
 * under way; {@link retain} forgets those that no process needing a check has any more.
 */
export class CheckProblems {
  private readonly open = new Map<string, Problem>();

  constructor(
    private readonly logger: Logger,
    private readonly clock: Clock = systemClock,
  ) {}

  /** `key` (a supervisord's host:port, or a process name) failed a check for `reason`. */
  failed(key: string, reason: string, context: Readonly<Record<string, unknown>>): void {
    if (this.open.has(key)) return;
    this.open.set(key, { since: this.clock.now(), reason });
    this.logger.warn({ ...context, reason }, `healer cannot check ${key}: ${reason}`);
  }

  /** A check through `key` succeeded. */
  answered(key: string): void {
    this.end(key, "it answers again");
  }

  /** Forgets every problem but those of `keys` (the ones this pass still needed). */
  retain(keys: ReadonlySet<string>): void {
    for (const key of [...this.open.keys()]) {
      if (!keys.has(key)) this.end(key, "no process there needs a check any more");
    }
  }

  /** Whether a problem with `key` is under way. */
  has(key: string): boolean {
    return this.open.has(key);
  }

  private end(key: string, why: string): void {
    const problem = this.open.get(key);
    if (!problem) return;
    this.open.delete(key);
    const seconds = Math.round((this.clock.now().getTime() - problem.since.getTime()) / 1000);
    this.logger.warn(
      { key, seconds, reason: problem.reason },
      `healer can check ${key} again (after ${seconds}s): ${why}`,
    );
  }
}
