import { Brackets } from "typeorm";
import { ApiTokenEntity } from "../db/api-token.entity.js";
import type { Database } from "../db/database.js";
import { describeDatabaseError, isDatabaseUnavailable } from "../db/db-errors.js";
import type { Logger } from "../logger.js";

/** `last_used_at` is not written again for a token within this long. */
export const LAST_USED_RESOLUTION_MS = 60_000;
/** Bounds the memory of when each token was last written. */
const REMEMBERED_TOKENS = 10_000;

/**
 * Records when each token was last accepted (`fleetvisor_api_tokens.last_used_at`), at
 * most once a minute per token, out of every request's way.
 *
 * Each replica writes a token's time at most once a minute, and the write itself is
 * conditional on the stored time being a minute old, so that replicas together write it
 * at most once a minute too. The write is started and not awaited: a request never
 * waits for it, and a write that fails (the database is away) is logged and dropped;
 * the next use after the minute writes again.
 */
export class TokenUsage {
  /** Token id → when its last write was started (epoch ms of the clock passed to `note`). */
  private readonly written = new Map<number, number>();
  private readonly writes = new Set<Promise<void>>();

  constructor(
    private readonly database: Database,
    private readonly logger: Logger,
  ) {}

  /** Notes that the token `tokenId` was accepted at `at`. Returns at once. */
  note(tokenId: number, at: Date): void {
    const last = this.written.get(tokenId);
    if (last !== undefined && at.getTime() - last < LAST_USED_RESOLUTION_MS) return;
    if (this.written.size >= REMEMBERED_TOKENS) this.written.clear();
    this.written.set(tokenId, at.getTime());
    const write: Promise<void> = this.write(tokenId, at).finally(() => this.writes.delete(write));
    this.writes.add(write);
  }

  /** Resolves once every write under way has ended (before the pool closes; tests). */
  async settled(): Promise<void> {
    await Promise.all([...this.writes]);
  }

  private async write(tokenId: number, at: Date): Promise<void> {
    // DATETIME keeps whole seconds; MySQL would round a fraction up, MariaDB cut it off.
    const second = new Date(Math.floor(at.getTime() / 1000) * 1000);
    try {
      await this.database.write(() =>
        this.database.dataSource
          .createQueryBuilder()
          .update(ApiTokenEntity)
          .set({ lastUsedAt: second })
          .where("id = :tokenId", { tokenId })
          .andWhere(
            new Brackets((w) =>
              w
                .where("last_used_at IS NULL")
                .orWhere("last_used_at <= :stale", { stale: new Date(second.getTime() - LAST_USED_RESOLUTION_MS) }),
            ),
          )
          .execute(),
      );
    } catch (error) {
      if (isDatabaseUnavailable(error)) {
        this.logger.debug({ tokenId, reason: describeDatabaseError(error) }, "could not record a token's last use");
      } else {
        this.logger.warn({ err: error, tokenId }, "could not record a token's last use");
      }
    }
  }
}
