import { createHash, randomUUID } from "node:crypto";
import { hostname } from "node:os";
import type { Clock } from "../clock.js";
import type { Database } from "../db/database.js";
import type { Logger } from "../logger.js";
import { Periodic } from "./periodic.js";

export interface ReplicaSettings {
  /** How often this replica says it is alive. @default 1000 */
  readonly heartbeatMs?: number;
  /** A replica not heard of for this long counts as gone. @default 3000 */
  readonly ttlMs?: number;
  /** Whether events between replicas go through Redis (else only through the event log). */
  readonly redis: boolean;
  /** Whether this replica polls supervisords (and so takes a share of them). @default true */
  readonly polls?: boolean;
  /** How often the event log is read, for the warning when replicas share it without Redis. */
  readonly logReadIntervalMs: number;
}

/**
 * The replicas on this database, as each of them sees it: every replica writes a row with
 * a heartbeat (`fleetvisor_replicas`) and reads who else is alive.
 *
 * Work that one replica should do for all (polling a supervisord) goes to its owner by
 * rendezvous hashing over the live replicas that poll (a replica started with polling off
 * says so in its row and takes no share): every replica computes the same owner without
 * talking to the others, and when a replica stops beating, its share moves to the others
 * within the time-to-live, and nothing else moves.
 */
export class Replicas {
  readonly id = randomUUID();
  private alive: readonly string[] = [this.id];
  /** The live replicas that poll, sorted (this one among them when it polls). */
  private pollers: readonly string[];
  private readonly polls: boolean;
  private readonly periodic: Periodic;
  private readonly heartbeatMs: number;
  private readonly ttlMs: number;
  private warnedAlone = false;

  constructor(
    private readonly database: Database,
    private readonly clock: Clock,
    private readonly logger: Logger,
    private readonly settings: ReplicaSettings,
  ) {
    this.heartbeatMs = settings.heartbeatMs ?? 1_000;
    this.ttlMs = settings.ttlMs ?? 3_000;
    this.polls = settings.polls ?? true;
    this.pollers = this.polls ? [this.id] : [];
    this.periodic = new Periodic("replica heartbeat", this.heartbeatMs, () => this.beat(), logger);
  }

  async start(): Promise<void> {
    await this.beat();
    this.periodic.start();
  }

  /** Leaves at once (the others take its share on their next look), rather than after the TTL. */
  async stop(): Promise<void> {
    await this.periodic.stop();
    await this.database
      .write(() => this.database.dataSource.query("DELETE FROM fleetvisor_replicas WHERE id = ?", [this.id]))
      .catch((error: unknown) =>
        this.logger.warn({ reason: (error as Error).message }, "could not leave the replicas table"),
      );
  }

  /** The live replicas' ids, as last read (this one always among them). */
  get live(): readonly string[] {
    return this.alive;
  }

  /** Whether this replica polls the supervisord keyed `key`: never when it polls none. */
  owns(key: string): boolean {
    return this.polls && ownerOf(key, this.pollers) === this.id;
  }

  /** One heartbeat: this replica's row stamped, and who else is alive read. */
  async beat(): Promise<void> {
    const now = this.clock.now();
    const { dataSource } = this.database;
    await this.database.write(async () => {
      const updated = await dataSource
        .createQueryBuilder()
        .update("fleetvisor_replicas")
        .set({ seen_at: now })
        .where("id = :id", { id: this.id })
        .execute();
      if (!updated.affected) {
        await dataSource
          .createQueryBuilder()
          .insert()
          .into("fleetvisor_replicas")
          .values({ id: this.id, hostname: hostname().slice(0, 255), started_at: now, seen_at: now, polls: this.polls })
          .execute();
      }
    });
    const since = new Date(now.getTime() - this.ttlMs);
    const rows = (await dataSource
      .createQueryBuilder()
      .select("r.id", "id")
      .addSelect("r.polls", "polls")
      .from("fleetvisor_replicas", "r")
      .where("r.seen_at >= :since", { since })
      .getRawMany()) as { id: string; polls: boolean | number | string }[];
    const ids = new Set(rows.map((row) => row.id));
    ids.add(this.id);
    this.alive = [...ids].sort();
    // MySQL and SQLite give 1/0; Number() also reads true/false and "1"/"0".
    const pollers = new Set(rows.filter((row) => Number(row.polls) === 1).map((row) => row.id));
    if (this.polls) pollers.add(this.id);
    else pollers.delete(this.id);
    this.pollers = [...pollers].sort();
    this.warnWithoutRedis();
    // Rows of replicas gone long ago (killed, never to leave on their own).
    const longGone = new Date(now.getTime() - 3_600_000);
    await this.database.write(() =>
      dataSource
        .createQueryBuilder()
        .delete()
        .from("fleetvisor_replicas")
        .where("seen_at < :longGone", { longGone })
        .execute(),
    );
  }

  /** One line when this replica first finds others on its database while REDIS_URL is unset. */
  private warnWithoutRedis(): void {
    if (this.settings.redis || this.alive.length < 2 || this.warnedAlone) return;
    this.warnedAlone = true;
    this.logger.warn(
      { replicas: this.alive.length, logReadIntervalMs: this.settings.logReadIntervalMs },
      `${this.alive.length} replicas share this database and REDIS_URL is not set: events recorded by another ` +
        `replica reach this one's subscribers from the event log, within ${this.settings.logReadIntervalMs} ms ` +
        "instead of at once; set REDIS_URL on every replica for the fast path",
    );
  }
}

/** The replica among `replicas` that owns `key`: the highest hash of (replica, key). */
export function ownerOf(key: string, replicas: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestScore = -1n;
  for (const replica of replicas) {
    const score = createHash("sha256").update(replica).update("\0").update(key).digest().readBigUInt64BE(0);
    if (score > bestScore) {
      bestScore = score;
      best = replica;
    }
  }
  return best;
}
