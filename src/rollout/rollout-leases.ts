import type { EntityManager } from "typeorm";
import type { Clock } from "../clock.js";
import type { Database } from "../db/database.js";
import { RolloutEntity } from "../db/rollout.entity.js";
import { RolloutState } from "../domain/rollout.js";

/** How long a lease lasts, and how often it is renewed and lapsed ones looked for. */
export interface LeaseTimings {
  /** A lease not renewed for this long has lapsed. */
  readonly termMs: number;
  readonly renewEveryMs: number;
  readonly sweepEveryMs: number;
}

/**
 * The timings that let another replica take a dead replica's rollout over within
 * `takeoverSeconds` (ROLLOUT_LEASE_SECONDS): a lease lapses at most two thirds of that
 * after its holder's last renewal, and lapsed leases are looked for every quarter, so the
 * worst case is eleven twelfths; renewals come four times per term.
 */
export function leaseTimings(takeoverSeconds: number): LeaseTimings {
  const takeoverMs = takeoverSeconds * 1000;
  return { termMs: (takeoverMs * 2) / 3, renewEveryMs: takeoverMs / 6, sweepEveryMs: takeoverMs / 4 };
}

/** The replica lost its lease on a rollout (another replica took it over): it must stop running it. */
export class LeaseLost extends Error {
  constructor(readonly rolloutId: number) {
    super(`this replica no longer holds the lease on rollout ${rolloutId}`);
    this.name = "LeaseLost";
  }
}

/**
 * The leases on running rollouts (`lease_owner`, `lease_until` of each rollout row): the
 * replica running a rollout holds its lease and renews it; when it lapses (the replica
 * died) or is let go (the replica stopped), another replica claims it with a conditional
 * UPDATE that only one of them wins, and runs the rollout on. Times are on each replica's
 * clock, which must roughly agree (as for the replicas' own heartbeats).
 */
export class RolloutLeases {
  constructor(
    private readonly database: Database,
    private readonly clock: Clock,
  ) {}

  /** Extends `owner`'s lease; false when it no longer holds it (taken over, or finished). */
  async renew(id: number, owner: string, leaseMs: number): Promise<boolean> {
    return this.database
      .transaction((manager) => holdLease(manager, id, owner, new Date(this.clock.now().getTime() + leaseMs)))
      .then(
        () => true,
        (error: unknown) => {
          if (error instanceof LeaseLost) return false;
          throw error;
        },
      );
  }

  /** Running rollouts whose lease has lapsed (their replica died) or was let go. */
  async lapsed(): Promise<{ id: number; leaseOwner: string | null }[]> {
    const rows = await this.database.dataSource
      .getRepository(RolloutEntity)
      .createQueryBuilder("r")
      .select(["r.id", "r.leaseOwner"])
      .where("r.state = :running", { running: RolloutState.RUNNING })
      .andWhere("(r.lease_until IS NULL OR r.lease_until < :now)", { now: this.clock.now() })
      .orderBy("r.id", "ASC")
      .getMany();
    return rows.map((row) => ({ id: Number(row.id), leaseOwner: row.leaseOwner }));
  }

  /**
   * Takes a lapsed lease for `owner`: a conditional UPDATE that only one of several
   * replicas racing for it wins. True when this one did.
   */
  async claim(id: number, owner: string, leaseMs: number): Promise<boolean> {
    const now = this.clock.now();
    const claimed = await this.database.write(() =>
      this.database.dataSource
        .createQueryBuilder()
        .update(RolloutEntity)
        .set({ leaseOwner: owner, leaseUntil: new Date(now.getTime() + leaseMs) })
        .where("id = :id AND state = :running", { id, running: RolloutState.RUNNING })
        .andWhere("(lease_until IS NULL OR lease_until < :now)", { now })
        .execute(),
    );
    return claimed.affected !== 0;
  }

  /** Lets `owner`'s lease go (a replica stopping): another replica takes the rollout over at once. */
  async release(id: number, owner: string): Promise<void> {
    await this.database.write(() =>
      this.database.dataSource
        .createQueryBuilder()
        .update(RolloutEntity)
        .set({ leaseOwner: null, leaseUntil: null })
        .where("id = :id AND lease_owner = :owner", { id, owner })
        .execute(),
    );
  }
}

/**
 * Renews `owner`'s lease until `until` inside the caller's transaction: a conditional
 * UPDATE (this replica holds it, the rollout still RUNNING), which on MySQL also locks
 * the rollout's row until the transaction ends. {@link LeaseLost} when it is gone.
 */
export async function holdLease(manager: EntityManager, id: number, owner: string, until: Date): Promise<void> {
  const held = await manager
    .createQueryBuilder()
    .update(RolloutEntity)
    .set({ leaseUntil: until })
    .where("id = :id AND lease_owner = :owner AND state = :running", {
      id,
      owner,
      running: RolloutState.RUNNING,
    })
    .execute();
  if (held.affected === 0) throw new LeaseLost(id);
}
