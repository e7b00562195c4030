import { In, LessThan, type EntityManager } from "typeorm";
import type { Clock } from "../clock.js";
import type { Database } from "../db/database.js";
import { isDuplicateKey } from "../db/db-errors.js";
import { IncidentEntity } from "../db/incident.entity.js";
import { ProcessEventEntity } from "../db/process-event.entity.js";
import { SilenceEntity } from "../db/silence.entity.js";
import { ProcessEventKind } from "../domain/event-kind.js";
import { IncidentKind, IncidentState } from "../domain/incident.js";
import type { EventDraft, EventLogService, RecordingHook } from "../events/event-log.service.js";
import type { ProcessEventRecord } from "../events/process-event.js";
import { dateOf } from "../registry/process-rows.js";
import type { IncidentNotice } from "./incident-payload.js";
import {
  deliberatelyStopped,
  endsIncident,
  FLAP_COUNTED_KIND,
  incidentKey,
  incidentOpenedBy,
  isFlapping,
  keysEndedBy,
  kindsFromColumn,
  silences,
  type EventSubject,
  type FlapSettings,
  type IncidentSubject,
} from "./incident-rules.js";
import { toIncident, type Incident } from "./incident.js";
import { incidentMessage } from "./incident-events.js";

type RecordFollowUp = (draft: EventDraft) => Promise<ProcessEventRecord>;

/** The event an incident change is recorded for: who caused it, and the process status then. */
type Cause = Pick<ProcessEventRecord, "actor" | "actorTokenId" | "status" | "message" | "kind">;

/**
 * Incidents, kept in the transaction of the events that open, count and resolve them (a
 * {@link RecordingHook} on the event log): an alert opens the incident of its kind and
 * subject or counts an occurrence on the one open; an event that ends it resolves it; a
 * process whose supervisord state changes more than `threshold` times in `windowSeconds`
 * gets one FLAPPING incident. Each change records INCIDENT_CHANGED with it.
 *
 * Exactly once across replicas: an event is recorded by one replica only, and an incident
 * key can be open only once (`open_key` is unique), so two replicas opening the same
 * incident at once collide, and the second one's insert becomes an occurrence. The replica
 * whose transaction opened or resolved an incident is the one that sends its webhook
 * ({@link noticeOf}, read after the commit).
 */
export class IncidentTracker {
  private readonly notices = new WeakMap<ProcessEventRecord, IncidentNotice>();

  constructor(
    private readonly clock: Clock,
    private readonly flaps: FlapSettings,
  ) {}

  /** The webhook due for a recorded INCIDENT_CHANGED, when its transaction opened or resolved the incident. */
  noticeOf(event: ProcessEventRecord): IncidentNotice | undefined {
    return this.notices.get(event);
  }

  readonly hook: RecordingHook = async (manager, event, recordFollowUp) => {
    if (event.id === null || event.processName === "" || event.kind === ProcessEventKind.INCIDENT_CHANGED) return;
    const subject: EventSubject = {
      processName: event.processName,
      supervisorHost: event.process?.supervisorHost ?? null,
      supervisorPort: event.process?.supervisorPort ?? null,
      desiredState: event.process?.desiredState ?? null,
    };
    const keys = keysEndedBy(event, subject);
    const opened = incidentOpenedBy(event.kind, subject);
    if (keys.length === 0 && !opened && event.kind !== FLAP_COUNTED_KIND) return;
    await lockProcess(manager, event.processName);
    if (keys.length > 0) {
      const open = await manager.find(IncidentEntity, { where: { openKey: In(keys) } });
      for (const row of open) {
        if (endsIncident(row.kind as IncidentKind, event)) await this.resolve(manager, row, event, recordFollowUp);
      }
    }
    if (opened) await this.openOrCount(manager, opened.kind, opened.subject, event, recordFollowUp);
    if (event.kind === FLAP_COUNTED_KIND && !deliberatelyStopped(subject)) {
      await this.judgeFlapping(manager, event, recordFollowUp);
    }
  };

  /**
   * Resolves the FLAPPING incidents whose process has not changed state for a whole flap
   * window, each with a conditional UPDATE that one replica wins. Returns how many.
   */
  async settleQuiet(database: Database, events: EventLogService): Promise<number> {
    const cutoff = new Date(this.clock.now().getTime() - this.flaps.windowSeconds * 1000);
    const quiet = await database.dataSource.getRepository(IncidentEntity).find({
      where: { state: IncidentState.OPEN, kind: IncidentKind.FLAPPING, lastSeenAt: LessThan(cutoff) },
      take: 100,
    });
    let settled = 0;
    for (const row of quiet) {
      const recorded: ProcessEventRecord[] = [];
      const cause: Cause = {
        kind: ProcessEventKind.INCIDENT_CHANGED,
        actor: "fleetvisor",
        actorTokenId: null,
        status: null,
        message: `no state change for ${this.flaps.windowSeconds}s`,
      };
      const resolved = await database.transaction((manager) =>
        this.resolve(manager, row, cause, async (draft) => {
          const event = await events.record(manager, draft, null);
          recorded.push(event);
          return event;
        }),
      );
      await events.publish(recorded);
      if (resolved) settled++;
    }
    return settled;
  }

  private async resolve(
    manager: EntityManager,
    row: IncidentEntity,
    cause: Cause,
    recordFollowUp: RecordFollowUp,
  ): Promise<boolean> {
    const now = this.clock.now();
    const done = await manager
      .createQueryBuilder()
      .update(IncidentEntity)
      .set({ state: IncidentState.RESOLVED, openKey: null, resolvedAt: now })
      .where("id = :id AND state = :open", { id: row.id, open: IncidentState.OPEN })
      .execute();
    if (done.affected === 0) return false;
    const incident = toIncident((await manager.findOneBy(IncidentEntity, { id: row.id }))!);
    const reason = describeCause(cause);
    const event = await recordFollowUp(this.draft(incident, cause, `resolved: ${reason}`));
    if (row.notified) this.notices.set(event, { status: "resolved", incident, reason });
    return true;
  }

  private async openOrCount(
    manager: EntityManager,
    kind: IncidentKind,
    subject: IncidentSubject,
    cause: Cause,
    recordFollowUp: RecordFollowUp,
    reason = cause.message,
  ): Promise<void> {
    const key = incidentKey(kind, subject);
    const now = this.clock.now();
    const silenced = await this.silenced(manager, kind, subject, now);
    // A plain read: a locking read of a missing key would lock the gap, and two such
    // transactions inserting into it deadlock.
    const open = await manager.findOneBy(IncidentEntity, { openKey: key });
    if (open && (await this.count(manager, open.id, cause, silenced, now, recordFollowUp))) return;
    let id: number;
    try {
      const inserted = await manager.insert(IncidentEntity, {
        kind,
        processName: subject.type === "process" ? subject.processName : null,
        supervisorHost: subject.type === "supervisor" ? subject.host : null,
        supervisorPort: subject.type === "supervisor" ? subject.port : null,
        state: IncidentState.OPEN,
        openKey: key,
        occurrences: 1,
        openedAt: now,
        lastSeenAt: now,
        resolvedAt: null,
        acknowledgedBy: null,
        acknowledgedByTokenId: null,
        acknowledgedAt: null,
        note: null,
        silenced,
        notified: !silenced,
        reason: reason?.slice(0, 1000) ?? null,
      });
      id = Number(inserted.identifiers[0]?.id);
    } catch (error) {
      // Another replica opened it a moment ago (its transaction committed while ours waited
      // on the key): this is one more occurrence of that incident.
      if (!isDuplicateKey(error)) throw error;
      const opened = await lockedOpen(manager, key);
      if (opened && (await this.count(manager, opened.id, cause, silenced, now, recordFollowUp))) return;
      throw error;
    }
    const incident = toIncident((await manager.findOneBy(IncidentEntity, { id }))!);
    const event = await recordFollowUp(
      this.draft(incident, cause, `opened${silenced ? " (silenced)" : ""}${reason ? `: ${reason}` : ""}`),
    );
    if (!silenced) this.notices.set(event, { status: "firing", incident, reason: reason ?? null });
  }

  /** One more occurrence of incident `id`; false when it is no longer open. */
  private async count(
    manager: EntityManager,
    id: number,
    cause: Cause,
    silenced: boolean,
    now: Date,
    recordFollowUp: RecordFollowUp,
  ): Promise<boolean> {
    const counted = await manager
      .createQueryBuilder()
      .update(IncidentEntity)
      .set({ occurrences: () => "occurrences + 1", lastSeenAt: now, silenced })
      .where("id = :id AND state = :open", { id, open: IncidentState.OPEN })
      .execute();
    if (counted.affected === 0) return false;
    const incident = toIncident((await manager.findOneBy(IncidentEntity, { id }))!);
    await recordFollowUp(this.draft(incident, cause, `seen again (${incident.occurrences} times)`));
    return true;
  }

  private async judgeFlapping(
    manager: EntityManager,
    event: ProcessEventRecord,
    recordFollowUp: RecordFollowUp,
  ): Promise<void> {
    const rows = (await manager
      .createQueryBuilder(ProcessEventEntity, "e")
      .select("e.at", "at")
      .where("e.process_name = :name AND e.kind = :kind", { name: event.processName, kind: FLAP_COUNTED_KIND })
      .orderBy("e.id", "DESC")
      .limit(this.flaps.threshold + 1)
      .getRawMany()) as { at: Date | string }[];
    const changes = rows.map((row) => dateOf(row.at)!);
    if (!isFlapping(changes, event.at, this.flaps)) return;
    await this.openOrCount(
      manager,
      IncidentKind.FLAPPING,
      { type: "process", processName: event.processName },
      event,
      recordFollowUp,
      `more than ${this.flaps.threshold} state changes within ${this.flaps.windowSeconds}s`,
    );
  }

  private async silenced(
    manager: EntityManager,
    kind: IncidentKind,
    subject: IncidentSubject,
    now: Date,
  ): Promise<boolean> {
    const active = await manager
      .createQueryBuilder(SilenceEntity, "s")
      .where("s.until > :now AND s.expired_at IS NULL", { now })
      .getMany();
    return active.some((s) =>
      silences({ ...s, kinds: kindsFromColumn(s.kinds), until: dateOf(s.until)! }, kind, subject, now),
    );
  }

  private draft(incident: Incident, cause: Cause, what: string): EventDraft {
    return {
      kind: ProcessEventKind.INCIDENT_CHANGED,
      processName: incident.processName ?? "",
      actor: cause.actor,
      actorTokenId: cause.actorTokenId === null || cause.actorTokenId === undefined ? null : Number(cause.actorTokenId),
      message: incidentMessage(incident, what),
      status: cause.status,
    };
  }
}

const isMysql = (manager: EntityManager): boolean =>
  manager.connection.options.type === "mysql" || manager.connection.options.type === "mariadb";

/**
 * Locks the process's registry row for the rest of the transaction, before any incident
 * row: every transaction that writes an incident then takes the process's row first, as
 * the registry's own writes do, and two of them cannot lock the two in opposite orders.
 * (SQLite has one writer at a time: nothing to order.)
 */
async function lockProcess(manager: EntityManager, name: string): Promise<void> {
  if (!isMysql(manager)) return;
  await manager.query("SELECT id FROM kb_server_processes WHERE process_name = ? FOR UPDATE", [name]);
}

/** The incident open under `key`, read and locked as it is now (not as the transaction's snapshot has it). */
async function lockedOpen(manager: EntityManager, key: string): Promise<IncidentEntity | null> {
  const query = manager.createQueryBuilder(IncidentEntity, "i").where("i.open_key = :key", { key });
  if (isMysql(manager)) query.setLock("pessimistic_write");
  return query.getOne();
}

function describeCause(cause: Cause): string {
  return cause.kind === ProcessEventKind.INCIDENT_CHANGED
    ? (cause.message ?? "")
    : `${cause.kind}${cause.message ? ` (${cause.message})` : ""}`;
}
