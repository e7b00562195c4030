import { Brackets, type DataSource, type SelectQueryBuilder, type UpdateQueryBuilder } from "typeorm";
import { SYSTEM_PRINCIPAL } from "../auth/principal.js";
import type { Clock } from "../clock.js";
import type { DatabaseHealth } from "../db/database-health.js";
import { ProcessEntity } from "../db/process.entity.js";
import { ProcessEventKind } from "../domain/event-kind.js";
import { ProcessStatus } from "../domain/process-status.js";
import { mustFindProcess } from "./process-rows.js";
import type { Transitions } from "./transitions.js";

/** What one pass of the watchdog did. */
export type WatchdogPass =
  | { readonly kind: "checked"; readonly lost: readonly ProcessEntity[] }
  /** The database was away within the last stale period: nobody is declared lost yet. */
  | { readonly kind: "grace"; readonly until: Date };

/**
 * The heartbeat watchdog (a Consul TTL check): every `running` process whose heartbeat is
 * older than `staleSeconds` becomes `error`, with HEARTBEAT_LOST.
 *
 * Heartbeats that could not be written because the database was away are no evidence of
 * a dead process: after an outage, every process gets one stale period from the recovery
 * before it can be declared lost (the agents kept trying, and their next beat lands once
 * the database is back).
 *
 * Each row moves in its own conditional UPDATE, so that with several replicas watching,
 * each loss is recorded exactly once.
 */
export class HeartbeatWatchdog {
  constructor(
    private readonly dataSource: DataSource,
    private readonly transitions: Transitions,
    private readonly health: DatabaseHealth,
    private readonly clock: Clock,
    private readonly staleSeconds: number,
  ) {}

  async pass(): Promise<WatchdogPass> {
    const now = this.clock.now();
    const staleMs = this.staleSeconds * 1000;
    const outage = this.health.lastUnavailableAt;
    if (outage && now.getTime() - outage.getTime() < staleMs) {
      return { kind: "grace", until: new Date(outage.getTime() + staleMs) };
    }
    const cutoff = new Date(now.getTime() - staleMs);
    const stale = <Q extends SelectQueryBuilder<ProcessEntity> | UpdateQueryBuilder<ProcessEntity>>(query: Q): Q => {
      query
        .andWhere("status = :running", { running: ProcessStatus.RUNNING })
        .andWhere(
          new Brackets((w) => w.where("last_heartbeat IS NULL").orWhere("last_heartbeat < :cutoff", { cutoff })),
        );
      return query;
    };
    const candidates = await stale(
      this.dataSource.getRepository(ProcessEntity).createQueryBuilder("p").where("1 = 1"),
    ).getMany();
    const lost: ProcessEntity[] = [];
    for (const candidate of candidates) {
      const moved = await this.transitions.run(candidate.name, SYSTEM_PRINCIPAL, async (manager, record) => {
        const changed = await stale(
          manager
            .createQueryBuilder()
            .update(ProcessEntity)
            .set({ status: ProcessStatus.ERROR, updatedAt: now })
            .where("process_name = :name", { name: candidate.name }),
        ).execute();
        if (changed.affected === 0) return null;
        const row = await mustFindProcess(manager, candidate.name);
        const age = candidate.lastHeartbeat
          ? `${Math.round((now.getTime() - candidate.lastHeartbeat.getTime()) / 1000)}s ago`
          : "never";
        await record(
          {
            kind: ProcessEventKind.HEARTBEAT_LOST,
            message: `last heartbeat ${age}; the limit is ${this.staleSeconds}s`,
          },
          row,
        );
        return row;
      });
      if (moved) lost.push(moved);
    }
    return { kind: "checked", lost };
  }
}
