import type { Principal } from "../auth/principal.js";
import { BadUserInputError, NotFoundError } from "../errors.js";
import type { Logger } from "../logger.js";
import type { ProcessReads } from "../registry/process-reads.js";
import type { LogStream } from "../supervisor/process-log.js";
import { addressOf } from "../supervisor/host-answers.js";
import type { SupervisorService } from "../supervisor/supervisor.service.js";
import type { FollowedChunk } from "./log-cursor.js";
import { DEFAULT_FOLLOWER_SETTINGS, LogFollower, type LogFollowerSettings } from "./log-follower.js";

/**
 * `processLog`: this replica's log followers, one per process and stream while anyone
 * follows it, shared by all its subscribers.
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
    if (!addressOf(row)) {
      throw new BadUserInputError(`"${name}" has no supervisord in the registry: it has no log to follow`);
    }
    const key = `${stream}\0${name}`;
    let follower = this.followers.get(key);
    if (!follower?.active) {
      const created: LogFollower = new LogFollower(
        async (from, bytes) => (await this.supervisors.readLog(row, stream, from, bytes))!,
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

  /** The poll loops running on this replica (one per process and stream followed). */
  get activeFollowers(): number {
    return this.followers.size;
  }

  async stop(): Promise<void> {
    await Promise.all([...this.followers.values()].map((follower) => follower.stop()));
    this.followers.clear();
  }
}
