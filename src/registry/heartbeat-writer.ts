import { Brackets } from "typeorm";
import type { Clock } from "../clock.js";
import type { Database } from "../db/database.js";
import { ProcessEntity } from "../db/process.entity.js";
import { ProcessStatus } from "../domain/process-status.js";

/** Statuses in which a registered process's heartbeat is simply stamped. */
export const HEARTBEAT_STATUSES: readonly ProcessStatus[] = [ProcessStatus.RUNNING, ProcessStatus.STOPPING];

export interface HeartbeatStamp {
  readonly name: string;
  readonly pid: number;
}

interface Pending extends HeartbeatStamp {
  readonly resolve: (stamped: { matched: boolean; at: Date }) => void;
  readonly reject: (error: unknown) => void;
}

export interface HeartbeatWriterOptions {
  /** Batches written at the same time (fewer, larger batches cost less). @default 2 */
  readonly maxInFlight?: number;
  /** Heartbeats per UPDATE. @default 200 */
  readonly maxBatch?: number;
}

/**
 * The heartbeat hot path: stamps `last_heartbeat` of the registered pid with one
 * conditional UPDATE.
 *
 * Heartbeats that arrive while earlier ones are being written are coalesced into one
 * UPDATE for all of them (no timer: an idle server writes each heartbeat at once; a busy
 * one writes fewer, larger statements). When the UPDATE matches every row, every
 * heartbeat in it is acknowledged; when it matches fewer (a pid that is not the
 * registered one, a process in `error`, an unknown name) each heartbeat of that batch is
 * written again on its own, so that each caller learns exactly whether its own matched.
 */
export class HeartbeatWriter {
  private queue: Pending[] = [];
  private inFlight = 0;
  private readonly maxInFlight: number;
  private readonly maxBatch: number;

  constructor(
    private readonly database: Database,
    private readonly clock: Clock,
    options: HeartbeatWriterOptions = {},
  ) {
    this.maxInFlight = options.maxInFlight ?? 2;
    this.maxBatch = options.maxBatch ?? 200;
  }

  /** Whether `pid` is the registered, live pid of `name`; stamped if so. */
  stamp(name: string, pid: number): Promise<{ matched: boolean; at: Date }> {
    return new Promise((resolve, reject) => {
      this.queue.push({ name, pid, resolve, reject });
      this.flush();
    });
  }

  private flush(): void {
    while (this.inFlight < this.maxInFlight && this.queue.length > 0) {
      const batch = this.queue.splice(0, this.maxBatch);
      this.inFlight++;
      void this.write(batch).finally(() => {
        this.inFlight--;
        this.flush();
      });
    }
  }

  private async write(batch: Pending[]): Promise<void> {
    const at = this.clock.now();
    try {
      // The same process twice in one batch would match one row for two heartbeats.
      const distinct = new Map(batch.map((p) => [`${p.name}\u0000${p.pid}`, p]));
      const matched = await this.update([...distinct.values()], at);
      if (matched === distinct.size) {
        for (const pending of batch) pending.resolve({ matched: true, at });
        return;
      }
      for (const pending of batch) {
        pending.resolve({ matched: (await this.update([pending], at)) === 1, at });
      }
    } catch (error) {
      for (const pending of batch) pending.reject(error);
    }
  }

  private async update(stamps: readonly HeartbeatStamp[], at: Date): Promise<number> {
    const result = await this.database.write(() =>
      this.database.dataSource
        .createQueryBuilder()
        .update(ProcessEntity)
        // updated_at marks changes of the row, not liveness: keep it.
        .set({ lastHeartbeat: at, updatedAt: () => "updated_at" })
        .where("status IN (:...statuses)", { statuses: HEARTBEAT_STATUSES })
        .andWhere(
          new Brackets((w) =>
            stamps.forEach((stamp, i) =>
              w.orWhere(`(process_name = :name${i} AND pid = :pid${i})`, {
                [`name${i}`]: stamp.name,
                [`pid${i}`]: stamp.pid,
              }),
            ),
          ),
        )
        .execute(),
    );
    return result.affected ?? 0;
  }
}
