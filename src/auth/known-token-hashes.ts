import { IsNull, type DataSource } from "typeorm";
import { ApiTokenEntity } from "../db/api-token.entity.js";
import { beforeDeadline } from "../db/deadline.js";

/** The list is read again at most this often, and only when asked about a hash it lacks. */
export const KNOWN_HASHES_REFRESH_MS = 5_000;
const READ_TIMEOUT_MS = 1_000;

/**
 * The hashes of every unrevoked token, all read in one query: whether a token can be
 * valid at all, without a lookup of its own. What a flood of wrong tokens costs the
 * database is then one read per {@link KNOWN_HASHES_REFRESH_MS}, however many tokens and
 * addresses it comes from, while a valid token (even one created a moment ago on another
 * replica) is found within that time.
 *
 * A hash here is no verdict (the token may have been revoked or have expired since): a
 * token whose hash is found is still looked up. Memory is one string per unrevoked token.
 */
export class KnownTokenHashes {
  private hashes = new Set<string>();
  private readAt = -Infinity;
  private reading: Promise<void> | undefined;
  /** Hashes added while a read was under way, which that read may have missed. */
  private addedDuringRead: string[] = [];

  constructor(
    private readonly dataSource: DataSource,
    /** Told of every read of the list (a metric of token SELECTs). */
    private readonly onRead: () => void = () => undefined,
  ) {}

  /**
   * Whether `hash` is one of an unrevoked token, as of at most
   * {@link KNOWN_HASHES_REFRESH_MS} ago. When the database cannot answer, `false` until
   * the next read is due.
   */
  async has(hash: string): Promise<boolean> {
    if (this.hashes.has(hash)) return true;
    if (Date.now() - this.readAt < KNOWN_HASHES_REFRESH_MS) return false;
    this.reading ??= this.read().finally(() => (this.reading = undefined));
    await this.reading;
    return this.hashes.has(hash);
  }

  /** A token created here: known at once. */
  add(hash: string): void {
    this.hashes.add(hash);
    if (this.reading) this.addedDuringRead.push(hash);
  }

  private async read(): Promise<void> {
    this.addedDuringRead = [];
    try {
      this.onRead();
      const rows = await beforeDeadline(Date.now() + READ_TIMEOUT_MS, () =>
        this.dataSource
          .getRepository(ApiTokenEntity)
          .find({ select: { tokenHash: true }, where: { revokedAt: IsNull() } }),
      );
      this.hashes = new Set([...rows.map((row) => row.tokenHash), ...this.addedDuringRead]);
    } catch {
      // Keep what was known; the next read is due after the same pause, so that a database
      // that cannot answer is not asked for the list on every wrong token.
    } finally {
      this.readAt = Date.now();
    }
  }
}
