import type { DataSource, EntityManager, ObjectLiteral, SelectQueryBuilder } from "typeorm";
import type { Principal } from "../auth/principal.js";
import type { Clock } from "../clock.js";
import type { Database } from "../db/database.js";
import { IncidentEntity } from "../db/incident.entity.js";
import { SilenceEntity } from "../db/silence.entity.js";
import { INCIDENT_KINDS, IncidentState, type IncidentKind } from "../domain/incident.js";
import { BadUserInputError, ForbiddenError, NotFoundError, type InvalidField } from "../errors.js";
import type { EventLogService } from "../events/event-log.service.js";
import type { ProcessEventRecord } from "../events/process-event.js";
import { dateOf } from "../registry/process-rows.js";
import { incidentChange } from "./incident-events.js";
import {
  kindsFromColumn,
  kindsToColumn,
  namesSupervisor,
  silenceActive,
  silencePatternProblem,
  silences,
} from "./incident-rules.js";
import { parseRowId } from "./incident.service.js";
import { subjectOf, supervisorsOfProcesses, toIncident } from "./incident.js";

/** The longest a silence may last. */
export const MAX_SILENCE_DAYS = 90;

const COMMENT_LIMIT = 1000;

/** The most silences one list holds. */
const LIST_LIMIT = 500;

/** One silence as the API shows it. */
export interface Silence {
  readonly id: number;
  readonly namePattern: string;
  readonly kinds: IncidentKind[];
  readonly until: Date;
  readonly comment: string;
  readonly createdBy: string;
  readonly createdAt: Date;
  readonly expiredAt: Date | null;
  readonly active: boolean;
}

export interface NewSilence {
  readonly namePattern: string;
  readonly kinds?: readonly IncidentKind[] | null;
  readonly until: Date;
  readonly comment: string;
}

/**
 * Silences: while one matches an incident (its process, or `host:port` for a supervisord,
 * by pattern; its kind), the incident is recorded and shown as silenced, and its webhook is
 * not sent. Creating or expiring one marks the open incidents it covers, each with
 * INCIDENT_CHANGED. Bound tokens may not manage them: a pattern can cover processes beyond
 * the token's.
 */
export class SilenceService {
  constructor(
    private readonly database: Database,
    private readonly dataSource: DataSource,
    private readonly events: EventLogService,
    private readonly clock: Clock,
  ) {}

  /** The silences in force, newest first; with `includeExpired`, the newest {@link LIST_LIMIT} of all. */
  async list(includeExpired: boolean): Promise<Silence[]> {
    const now = this.clock.now();
    const query = this.dataSource.getRepository(SilenceEntity).createQueryBuilder("s").orderBy("s.id", "DESC");
    if (!includeExpired) activeAt(query, now);
    const rows = await query.take(LIST_LIMIT).getMany();
    return rows.map((row) => this.toSilence(row, now));
  }

  async create(input: NewSilence, principal: Principal): Promise<Silence> {
    refuseBound(principal);
    const now = this.clock.now();
    const problems: InvalidField[] = [];
    const patternProblem = silencePatternProblem(input.namePattern);
    if (patternProblem) problems.push({ field: "input.namePattern", message: patternProblem });
    const until = input.until;
    if (!(until instanceof Date) || Number.isNaN(until.getTime()) || until.getTime() <= now.getTime()) {
      problems.push({ field: "input.until", message: "must be a time in the future" });
    } else if (until.getTime() > now.getTime() + MAX_SILENCE_DAYS * 86_400_000) {
      problems.push({ field: "input.until", message: `must be within ${MAX_SILENCE_DAYS} days` });
    }
    const comment = input.comment.trim();
    if (comment === "") problems.push({ field: "input.comment", message: "must say why (it is empty)" });
    if (comment.length > COMMENT_LIMIT) {
      problems.push({ field: "input.comment", message: `must be at most ${COMMENT_LIMIT} characters` });
    }
    (input.kinds ?? []).forEach((kind, i) => {
      if (!INCIDENT_KINDS.includes(kind))
        problems.push({ field: `input.kinds[${i}]`, message: `is not an incident kind` });
    });
    if (problems.length > 0) throw BadUserInputError.of(problems);
    return this.change(principal, false, async (manager) => {
      const inserted = await manager.insert(SilenceEntity, {
        namePattern: input.namePattern,
        kinds: kindsToColumn(input.kinds ?? []),
        until,
        comment,
        createdBy: principal.name.slice(0, 100),
        createdByTokenId: principal.tokenId,
        createdAt: now,
        expiredAt: null,
      });
      return Number(inserted.identifiers[0]?.id);
    });
  }

  /** Ends the silence now. NOT_FOUND for an unknown id; one already over is left as it is. */
  async expire(id: string, principal: Principal): Promise<Silence> {
    refuseBound(principal);
    const silenceId = parseRowId(id, "id", "a silence id");
    return this.change(principal, true, async (manager) => {
      const row = await manager.findOneBy(SilenceEntity, { id: silenceId });
      if (!row) throw new NotFoundError(`no silence ${silenceId}`);
      const now = this.clock.now();
      if (silenceActive(this.rule(row), now))
        await manager.update(SilenceEntity, { id: silenceId }, { expiredAt: now });
      return silenceId;
    });
  }

  /**
   * Marks the open incidents still shown silenced whose silences have all run out (their
   * `until` passed; nobody expired them), each with INCIDENT_CHANGED. Run now and then by
   * every replica: a mark is a conditional UPDATE, so each is recorded once.
   */
  async sweep(): Promise<number> {
    const silenced = await this.dataSource
      .getRepository(IncidentEntity)
      .existsBy({ state: IncidentState.OPEN, silenced: true });
    if (!silenced) return 0;
    const recorded = await this.database.transaction((manager) =>
      this.remark(manager, { name: "fleetvisor", tokenId: null }, true),
    );
    await this.events.publish(recorded);
    return recorded.length;
  }

  /**
   * Runs `write`, then marks the open incidents whose silencing changed; records each. A new
   * silence can only silence incidents that are not yet; an expired one only unsilence
   * those that are (`silencedBefore`).
   */
  private async change(
    principal: Principal,
    silencedBefore: boolean,
    write: (manager: EntityManager) => Promise<number>,
  ): Promise<Silence> {
    let recorded: ProcessEventRecord[] = [];
    const silence = await this.database.transaction(async (manager) => {
      const id = await write(manager);
      recorded = await this.remark(manager, principal, silencedBefore);
      return this.toSilence((await manager.findOneBy(SilenceEntity, { id }))!, this.clock.now());
    });
    await this.events.publish(recorded);
    return silence;
  }

  /**
   * Of the open incidents marked `silencedBefore`, marks those the silences in force now
   * say otherwise of, each with INCIDENT_CHANGED by `actor`. Only a row still marked as it
   * was read is changed and recorded.
   */
  private async remark(
    manager: EntityManager,
    actor: Pick<Principal, "name" | "tokenId">,
    silencedBefore: boolean,
  ): Promise<ProcessEventRecord[]> {
    const now = this.clock.now();
    const active = await activeAt(manager.createQueryBuilder(SilenceEntity, "s"), now).getMany();
    const open = await manager.find(IncidentEntity, {
      where: { state: IncidentState.OPEN, silenced: silencedBefore },
      order: { id: "ASC" },
    });
    // Processes' incidents are also silenced by their supervisord's host:port.
    const supervisors = active.some((s) => namesSupervisor(s.namePattern))
      ? await supervisorsOfProcesses(manager, [...new Set(open.flatMap((row) => row.processName ?? []))])
      : new Map<string, { host: string; port: number }>();
    const recorded: ProcessEventRecord[] = [];
    for (const row of open) {
      const supervisor = (row.processName && supervisors.get(row.processName)) || null;
      const silenced = active.some((s) =>
        silences(this.rule(s), row.kind as IncidentKind, subjectOf(row), now, supervisor),
      );
      if (silenced === silencedBefore) continue;
      const marked = await manager.update(
        IncidentEntity,
        { id: row.id, state: IncidentState.OPEN, silenced: silencedBefore },
        { silenced },
      );
      if (!marked.affected) continue;
      const incident = toIncident({ ...row, silenced });
      recorded.push(
        await this.events.record(
          manager,
          incidentChange(incident, actor, silenced ? "silenced" : "no longer silenced"),
          null,
        ),
      );
    }
    return recorded;
  }

  private rule(row: SilenceEntity) {
    return {
      namePattern: row.namePattern,
      kinds: kindsFromColumn(row.kinds),
      until: dateOf(row.until)!,
      expiredAt: dateOf(row.expiredAt),
    };
  }

  private toSilence(row: SilenceEntity, now: Date): Silence {
    const rule = this.rule(row);
    return {
      id: row.id,
      namePattern: row.namePattern,
      kinds: rule.kinds,
      until: rule.until,
      comment: row.comment,
      createdBy: row.createdBy,
      createdAt: row.createdAt,
      expiredAt: rule.expiredAt,
      active: silenceActive(rule, now),
    };
  }
}

/** `query` (of silences as `s`) narrowed to those in force at `now`. */
function activeAt<T extends ObjectLiteral>(query: SelectQueryBuilder<T>, now: Date): SelectQueryBuilder<T> {
  return query.andWhere("s.until > :now AND s.expired_at IS NULL", { now });
}

function refuseBound(principal: Principal): void {
  if (principal.processPattern === null) return;
  throw new ForbiddenError(
    `token "${principal.name}" is bound to "${principal.processPattern}" and may not manage silences, which may cover other processes`,
  );
}
