import { Brackets, In, LessThan } from "typeorm";
import type { Database } from "../db/database.js";
import { IncidentEntity } from "../db/incident.entity.js";
import { SilenceEntity } from "../db/silence.entity.js";
import { IncidentState } from "../domain/incident.js";
import type { PrunedBatch } from "../events/event-retention.js";

/**
 * The retention of incidents and silences, pruned with the event log (EventPruner): a
 * resolved incident and a silence over (expired, or past its `until`) go once they are
 * older than the cutoff; open incidents and silences in force stay, however old. Each
 * batch reads at most `limit` ids and deletes those, by id.
 */
export class IncidentRetention {
  readonly what = "resolved incidents and silences over";

  constructor(private readonly database: Database) {}

  async pruneBatch(cutoff: Date, limit: number): Promise<PrunedBatch> {
    const incidents = await this.database.dataSource.getRepository(IncidentEntity).find({
      select: { id: true },
      where: { state: IncidentState.RESOLVED, resolvedAt: LessThan(cutoff) },
      order: { id: "ASC" },
      take: limit,
    });
    const silences = (await this.database.dataSource
      .getRepository(SilenceEntity)
      .createQueryBuilder("s")
      .select("s.id", "id")
      .where(
        new Brackets((w) => w.where("s.until < :cutoff", { cutoff }).orWhere("s.expired_at < :cutoff", { cutoff })),
      )
      .orderBy("s.id", "ASC")
      .limit(limit)
      .getRawMany()) as { id: number | string }[];
    let deleted = 0;
    if (incidents.length > 0) {
      const done = await this.database.write(() =>
        this.database.dataSource
          .getRepository(IncidentEntity)
          .delete({ id: In(incidents.map((row) => row.id)), state: IncidentState.RESOLVED }),
      );
      deleted += done.affected ?? incidents.length;
    }
    if (silences.length > 0) {
      const done = await this.database.write(() =>
        this.database.dataSource.getRepository(SilenceEntity).delete({ id: In(silences.map((row) => Number(row.id))) }),
      );
      deleted += done.affected ?? silences.length;
    }
    return { deleted, more: incidents.length === limit || silences.length === limit };
  }
}
