import type { Principal } from "../auth/principal.js";
import type { ProcessEntity } from "../db/process.entity.js";
import { BadUserInputError, ConflictError, NotFoundError } from "../errors.js";
import type { Logger } from "../logger.js";
import type { ProcessReads } from "../registry/process-reads.js";
import type { LogStream } from "../supervisor/process-log.js";
import { addressOf, supervisorKey } from "../supervisor/host-answers.js";
import type { SupervisorService } from "../supervisor/supervisor.service.js";
import type { FollowedChunk } from "./log-cursor.js";
import { DEFAULT_FOLLOWER_SETTINGS, LogFollower, type LogFollowerSettings } from "./log-follower.js";

/**
 * `processLog`: this replica's log followers, one per process and stream while anyone
 * follows it, shared by all its subscribers.
 *
 * Each read looks the process up again: the log followed is that of the program and
 * supervisord the registry named when the follow began. When the process is deleted, no
 * longer names a supervisord (the registry table is shared with other tools), or names
 * another supervisord or program, its follow ends with an error that says so (its offsets
 * mean nothing in another log); following it again starts on the log it names now.
 */
export class LogFollows {
  private readonly followers = new Map<string, LogFollower>();

  constructor(
    private readonly processes: ProcessReads,
    private readonly supervisors: SupervisorService,
    private readonly logger: Logger,
    private readonly settings: LogFollowerSettings = DEFAULT_FOLLOWER_SETTINGS,
  ) {}

  /**
   * The chunks of `name`'s `stream` from `fromOffset` (an offset a chunk or the `log` field
   * returned), or from the end of the log as it is now. NOT_FOUND when the caller may not
   * see the process; BAD_USER_INPUT when it names no supervisord or the offset is negative.
   */
  async follow(
    name: string,
    stream: LogStream,
    fromOffset: number | null,
    principal: Principal,
  ): Promise<AsyncIterableIterator<FollowedChunk>> {
    if (fromOffset !== null && (!Number.isInteger(fromOffset) || fromOffset < 0)) {
      throw BadUserInputError.of([{ field: "fromOffset", message: `must not be negative (got ${fromOffset})` }]);
    }
    const row = await this.processes.get(name, principal);
    if (!row) throw new NotFoundError(`no process named "${name}" in the registry`, { processName: name });
    const followed = whereLogIs(row);
    if (followed === null) {
      throw new BadUserInputError(`"${name}" has no supervisord in the registry: it has no log to follow`);
    }
    const key = `${stream}\0${name}`;
    let follower = this.followers.get(key);
    if (!follower?.active) {
      const created: LogFollower = new LogFollower(
        async (from, bytes) => {
          const current = await this.current(name, followed);
          return (await this.supervisors.readLog(current, stream, from, bytes)) ?? noSupervisor(name);
        },
        () => {
          if (this.followers.get(key) === created) this.followers.delete(key);
        },
        this.logger,
        this.settings,
      );
      follower = created;
      this.followers.set(key, follower);
    }
    try {
      return await follower.subscribe(fromOffset);
    } catch (error) {
      follower.stopIfIdle();
      throw error;
    }
  }

  /** `name`'s row as it is now, if its log is still the one at `followed`; else the follow ends, saying why. */
  private async current(name: string, followed: string): Promise<ProcessEntity> {
    const [row] = await this.processes.getMany([name]);
    if (!row) throw new NotFoundError(`"${name}" is no longer in the registry: its log cannot be followed`);
    const now = whereLogIs(row);
    if (now === null) noSupervisor(name);
    if (now !== followed) {
      throw new ConflictError(
        `"${name}" moved from ${followed} to ${now} while its log was followed: follow it again for the log there`,
      );
    }
    return row;
  }

  /** The poll loops running on this replica (one per process and stream followed). */
  get activeFollowers(): number {
    return this.followers.size;
  }

  async stop(): Promise<void> {
    await Promise.all([...this.followers.values()].map((follower) => follower.stop()));
    this.followers.clear();
  }
}

/** Where a process's log is: its supervisord and program (null without a supervisord). */
function whereLogIs(row: ProcessEntity): string | null {
  const address = addressOf(row);
  return address ? `program "${row.program}" on ${supervisorKey(address)}` : null;
}

function noSupervisor(name: string): never {
  throw new BadUserInputError(`"${name}" no longer has a supervisord in the registry: its log cannot be followed`);
}
