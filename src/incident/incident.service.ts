import { type DataSource } from "typeorm";
import type { Principal } from "../auth/principal.js";
import { matchesProcessPattern, processPatternCondition } from "../auth/process-pattern.js";
import type { Clock } from "../clock.js";
import type { Database } from "../db/database.js";
import { IncidentEntity } from "../db/incident.entity.js";
import { IncidentStateFilter } from "../domain/incident.js";
import { BadUserInputError, NotFoundError, type InvalidField } from "../errors.js";
import type { EventLogService } from "../events/event-log.service.js";
import type { ProcessEventRecord } from "../events/process-event.js";
import { incidentChange } from "./incident-events.js";
import { toIncident, type Incident } from "./incident.js";

/** The most incidents one page holds. */
export const MAX_INCIDENT_PAGE = 200;

const NOTE_LIMIT = 1000;

/** A row id as clients pass it (a GraphQL ID), or BAD_USER_INPUT saying it must be `what`. */
export function parseRowId(id: string, field: string, what: string): number {
  if (!/^\d{1,9}$/.test(id) || Number(id) < 1) {
    throw BadUserInputError.of([{ field, message: `must be ${what} (got "${id}")` }]);
  }
  return Number(id);
}

/** An incident id as clients pass it (a GraphQL ID), or the problem with it. */
export function parseIncidentId(id: string, field = "id"): number {
  return parseRowId(id, field, "an incident id");
}

/**
 * Incidents: listed newest first, acknowledged. A token bound to a pattern sees only its
 * processes' incidents (never a supervisord's, which are about more than its processes).
 */
export class IncidentService {
  constructor(
    private readonly database: Database,
    private readonly dataSource: DataSource,
    private readonly events: EventLogService,
    private readonly clock: Clock,
  ) {}

  async list(
    options: { readonly state: IncidentStateFilter; readonly first: number; readonly after: string | null },
    principal: Principal,
  ): Promise<Incident[]> {
    const problems: InvalidField[] = [];
    if (!Number.isInteger(options.first) || options.first < 1 || options.first > MAX_INCIDENT_PAGE) {
      problems.push({ field: "first", message: `must be between 1 and ${MAX_INCIDENT_PAGE} (got ${options.first})` });
    }
    let after: number | null = null;
    if (options.after !== null) {
      try {
        after = parseIncidentId(options.after, "after");
      } catch (error) {
        problems.push(...(error as BadUserInputError).invalidFields);
      }
    }
    if (problems.length > 0) throw BadUserInputError.of(problems);
    const query = this.dataSource.getRepository(IncidentEntity).createQueryBuilder("i").orderBy("i.id", "DESC");
    if (options.state !== IncidentStateFilter.ALL) query.andWhere("i.state = :state", { state: options.state });
    if (after !== null) query.andWhere("i.id < :after", { after });
    if (principal.processPattern !== null) {
      const { where, parameters } = processPatternCondition("i.process_name", principal.processPattern, "pattern");
      query.andWhere(where, parameters);
    }
    return (await query.take(options.first).getMany()).map(toIncident);
  }

  /** One incident, or null when there is none the principal may see. */
  async find(id: number, principal: Principal): Promise<Incident | null> {
    const row = await this.dataSource.getRepository(IncidentEntity).findOneBy({ id });
    if (!row || !maySee(principal, row.processName)) return null;
    return toIncident(row);
  }

  /**
   * Records who acknowledged the incident, when and with what note (the last acknowledgement
   * wins), and INCIDENT_CHANGED with it. NOT_FOUND for an incident the principal may not see.
   */
  async acknowledge(id: string, note: string | null | undefined, principal: Principal): Promise<Incident> {
    const incidentId = parseIncidentId(id);
    const text = note?.trim() ?? "";
    if (text.length > NOTE_LIMIT) {
      throw BadUserInputError.of([{ field: "note", message: `must be at most ${NOTE_LIMIT} characters` }]);
    }
    const recorded: ProcessEventRecord[] = [];
    const incident = await this.database.transaction(async (manager) => {
      const row = await manager.findOneBy(IncidentEntity, { id: incidentId });
      // An incident the token may not see is one it is not told of: NOT_FOUND, as `incident` answers.
      if (!row || !maySee(principal, row.processName)) throw new NotFoundError(`no incident ${incidentId}`);
      const now = this.clock.now();
      await manager.update(
        IncidentEntity,
        { id: incidentId },
        {
          acknowledgedBy: principal.name.slice(0, 100),
          acknowledgedByTokenId: principal.tokenId,
          acknowledgedAt: now,
          note: text === "" ? null : text,
        },
      );
      const after = toIncident((await manager.findOneBy(IncidentEntity, { id: incidentId }))!);
      recorded.push(
        await this.events.record(
          manager,
          incidentChange(after, principal, `acknowledged${text ? `: ${text}` : ""}`),
          null,
        ),
      );
      return after;
    });
    await this.events.publish(recorded);
    return incident;
  }
}

/** Whether `principal` may see an incident of `processName` (null: a supervisord's). */
export function maySee(principal: Principal, processName: string | null): boolean {
  if (principal.processPattern === null) return true;
  return processName !== null && processName !== "" && matchesProcessPattern(processName, principal.processPattern);
}
