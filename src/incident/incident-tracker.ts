import { In, type EntityManager } from "typeorm";
import type { Clock } from "../clock.js";
import type { Database, Dialect } from "../db/database.js";
import { isDuplicateKey } from "../db/db-errors.js";
import { IncidentEntity } from "../db/incident.entity.js";
import { ProcessEventEntity } from "../db/process-event.entity.js";
import { ProcessEntity } from "../db/process.entity.js";
import { SilenceEntity } from "../db/silence.entity.js";
import { SupervisorObservationEntity } from "../db/supervisor-observation.entity.js";
import { DesiredState, Drift } from "../domain/desired-state.js";
import { ProcessEventKind } from "../domain/event-kind.js";
import { IncidentKind, IncidentState } from "../domain/incident.js";
import { ProcessStatus } from "../domain/process-status.js";
import { UnreachableCaseError } from "../errors.js";
import type { EventDraft, EventLogService, RecordingHook } from "../events/event-log.service.js";
import type { ProcessEventRecord } from "../events/process-event.js";
import { dateOf } from "../registry/process-rows.js";
import type { IncidentNotice } from "./incident-payload.js";
import {
  deliberatelyStopped,
  FLAP_COUNTED_KIND,
  incidentKey,
  incidentOpenedBy,
  isFlapping,
  keysEndedBy,
  kindsFromColumn,
  namesSupervisor,
  silences,
  type EventSubject,
  type FlapSettings,
  type IncidentSubject,
} from "./incident-rules.js";
import { subjectOf, supervisorsOfProcesses, toIncident, type Incident } from "./incident.js";
import { incidentChange } from "./incident-events.js";

/** The most open incidents one {@link IncidentTracker.settle} pass looks at. */
const SETTLE_BATCH = 200;

/** A process as {@link IncidentTracker.settle} judges its incidents. */
interface ProcessNow {
  readonly name: string;
  readonly status: ProcessStatus | null;
  readonly drift: Drift | null;
  readonly desired: DesiredState | null;
  /** What supervisord was last seen to say of it. */
  readonly seen: string | null;
}

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
 *
 * Locks: incidents take no lock of their own on the registry. The hook runs last in the
 * transaction of its event, after whatever rows that transaction wrote (the process's,
 * its observation's), and it writes incident rows only by a conditional UPDATE on their
 * id or the INSERT of a new `open_key`; every other writer of incidents (silences,
 * acknowledgements, {@link settle}) writes incident rows only, by id. No locking read
 * of a missing key: it would lock the gap, and two transactions inserting into it would
 * deadlock. Looking up what an event ends is therefore a plain read, which may miss an
 * incident another replica opened meanwhile; {@link settle} ends those a moment later.
 */
export class IncidentTracker {
  private readonly notices = new WeakMap<ProcessEventRecord, IncidentNotice>();

  constructor(
    private readonly clock: Clock,
    private readonly flaps: FlapSettings,
    private readonly dialect: Dialect,
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
    // Only the keys of the kinds this very event ends: most events end none, and cost nothing.
    const keys = keysEndedBy(event, subject);
    if (keys.length > 0) {
      // A plain read, no lock (see the class comment); each row found is then resolved by
      // a conditional UPDATE on its id.
      const open = await manager.find(IncidentEntity, {
        select: { id: true, kind: true },
        where: { openKey: In(keys) },
        order: { id: "ASC" },
      });
      for (const row of open) await this.resolve(manager, row.id, event, recordFollowUp);
    }
    const opened = incidentOpenedBy(event.kind, subject);
    if (opened) await this.openOrCount(manager, opened.kind, opened.subject, event, recordFollowUp);
    if (event.kind === FLAP_COUNTED_KIND && !deliberatelyStopped(subject)) {
      await this.judgeFlapping(manager, event, recordFollowUp);
    }
  };

  /**
   * Resolves the open incidents the registry shows are over, each with a conditional
   * UPDATE that one replica wins; returns how many. What no event says at the time:
   *
   * - FLAPPING: no state change for a whole flap window.
   * - PROCESS_CRASHED: the process has run a whole flap window without a crash (a crash
   *   loop, however its program registers on each run, stays one incident).
   * - FLAPPING and PROCESS_CRASHED of a process stopped on purpose (desired and registry
   *   both STOPPED).
   * - SUPERVISOR_UNREACHABLE: none of the registry's programs on that supervisord is seen
   *   UNREACHABLE any more (they were deleted, moved to another one, or seen again).
   * - any incident of a process no longer registered.
   *
   * It also ends what an event should have ended, had its transaction seen the incident
   * (opened by another replica while the event was recorded): HEARTBEAT_LOST of a process
   * RUNNING or STOPPED again, DRIFT of a process without drift.
   */
  async settle(database: Database, events: EventLogService): Promise<number> {
    const open = await database.dataSource.getRepository(IncidentEntity).find({
      where: { state: IncidentState.OPEN },
      order: { id: "ASC" },
      take: SETTLE_BATCH,
    });
    if (open.length === 0) return 0;
    const names = [...new Set(open.flatMap((row) => (row.processName ? [row.processName] : [])))];
    const processes =
      names.length === 0
        ? []
        : ((await database.dataSource
            .getRepository(ProcessEntity)
            .createQueryBuilder("p")
            .leftJoin(SupervisorObservationEntity, "o", "o.process_name = p.process_name")
            .select("p.process_name", "name")
            .addSelect("p.status", "status")
            .addSelect("p.drift", "drift")
            .addSelect("p.desired_state", "desired")
            .addSelect("o.state", "seen")
            .where("p.process_name IN (:...names)", { names })
            .getRawMany()) as ProcessNow[]);
    const byName = new Map(processes.map((process) => [process.name, process]));
    const cutoff = this.clock.now().getTime() - this.flaps.windowSeconds * 1000;
    let settled = 0;
    for (const row of open) {
      const over = await this.overBecause(database, row, byName, cutoff);
      if (over === null) continue;
      const recorded: ProcessEventRecord[] = [];
      const cause: Cause = {
        kind: ProcessEventKind.INCIDENT_CHANGED,
        actor: "fleetvisor",
        actorTokenId: null,
        status: null,
        message: over,
      };
      const resolved = await database.transaction((manager) =>
        this.resolve(manager, row.id, cause, async (draft) => {
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

  /** Why the open incident `row` is over, or null while it is not (see {@link settle}). */
  private async overBecause(
    database: Database,
    row: IncidentEntity,
    processes: ReadonlyMap<string, ProcessNow>,
    cutoff: number,
  ): Promise<string | null> {
    const kind = row.kind as IncidentKind;
    const quiet = dateOf(row.lastSeenAt)!.getTime() < cutoff;
    if (kind === IncidentKind.SUPERVISOR_UNREACHABLE) {
      const unreachable = await database.dataSource
        .getRepository(ProcessEntity)
        .createQueryBuilder("p")
        .innerJoin(SupervisorObservationEntity, "o", "o.process_name = p.process_name")
        .where("p.supervisor_host = :host AND p.supervisor_port = :port AND o.state = :unreachable", {
          host: row.supervisorHost,
          port: row.supervisorPort,
          unreachable: "UNREACHABLE",
        })
        .getCount();
      return unreachable === 0 ? "no program of the registry on it is seen unreachable any more" : null;
    }
    const process = row.processName === null ? undefined : processes.get(row.processName);
    if (!process) return "the process is no longer registered";
    // Stopped on purpose: its crashes are over. The stop's own event ends them; this ends
    // one that a late crash report counted in a transaction the stop's did not see.
    const stoppedOnPurpose =
      process.desired === DesiredState.STOPPED && process.status === ProcessStatus.STOPPED
        ? "the process was stopped on purpose"
        : null;
    switch (kind) {
      case IncidentKind.FLAPPING:
        return quiet ? `no state change for ${this.flaps.windowSeconds}s` : stoppedOnPurpose;
      case IncidentKind.PROCESS_CRASHED:
        if (stoppedOnPurpose) return stoppedOnPurpose;
        // Running: by the registry (it registered or beat again) or by supervisord.
        return quiet && (process.status === ProcessStatus.RUNNING || process.seen === "RUNNING")
          ? `running for ${this.flaps.windowSeconds}s without a crash`
          : null;
      case IncidentKind.HEARTBEAT_LOST:
        return process.status === ProcessStatus.RUNNING || process.status === ProcessStatus.STOPPED
          ? `the process is ${process.status} again`
          : null;
      case IncidentKind.DRIFT:
        return process.drift === null || process.drift === Drift.NONE ? "no drift any more" : null;
      case IncidentKind.QUARANTINED:
        return null;
      default:
        throw new UnreachableCaseError(kind);
    }
  }

  private async resolve(
    manager: EntityManager,
    id: number,
    cause: Cause,
    recordFollowUp: RecordFollowUp,
  ): Promise<boolean> {
    const now = this.clock.now();
    const done = await manager
      .createQueryBuilder()
      .update(IncidentEntity)
      .set({ state: IncidentState.RESOLVED, openKey: null, resolvedAt: now })
      .where("id = :id AND state = :open", { id, open: IncidentState.OPEN })
      .execute();
    if (done.affected === 0) return false;
    // Read after the UPDATE: the row as it is now (whether its firing went out), not as a snapshot had it.
    const row = (await manager.findOneBy(IncidentEntity, { id }))!;
    const incident = toIncident(row);
    const reason = describeCause(cause);
    const event = await recordFollowUp(this.draft(incident, cause, `resolved: ${reason}`));
    // Its firing went out, and no silence covers it now (one made after it fired, for
    // maintenance, say): the receiver hears that it is over.
    if (row.notified && !(await this.silenced(manager, row.kind as IncidentKind, subjectOf(row), now))) {
      this.notices.set(event, { status: "resolved", incident, reason });
    }
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
    if (open) {
      // Seen open, yet resolved when counted: a transaction that committed after this one
      // began ended it (a stop, say, while this late report of a crash waited on a lock).
      // What this event tells predates that end, and opens nothing; this transaction's view
      // of the process (whether it is meant to be stopped) is as old.
      await this.count(manager, open, cause, silenced, now, recordFollowUp);
      return;
    }
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
      const opened = await this.lockedOpen(manager, key);
      if (opened && (await this.count(manager, opened, cause, silenced, now, recordFollowUp))) return;
      throw error;
    }
    const incident = toIncident((await manager.findOneBy(IncidentEntity, { id }))!);
    const event = await recordFollowUp(
      this.draft(incident, cause, `opened${silenced ? " (silenced)" : ""}${reason ? `: ${reason}` : ""}`),
    );
    if (!silenced) this.notices.set(event, { status: "firing", incident, reason: reason ?? null });
  }

  /**
   * One more occurrence of the incident `open`; false when it is no longer open. An
   * incident opened under a silence fires on its first occurrence after the silence ended.
   */
  private async count(
    manager: EntityManager,
    open: IncidentEntity,
    cause: Cause,
    silenced: boolean,
    now: Date,
    recordFollowUp: RecordFollowUp,
  ): Promise<boolean> {
    const counted = await manager
      .createQueryBuilder()
      .update(IncidentEntity)
      .set({ occurrences: () => "occurrences + 1", lastSeenAt: now, silenced })
      .where("id = :id AND state = :open", { id: open.id, open: IncidentState.OPEN })
      .execute();
    if (counted.affected === 0) return false;
    // `notified` never goes back to false: only a row read as not yet notified may fire now,
    // and the conditional UPDATE lets one transaction only send it.
    let firing = false;
    if (!silenced && !open.notified) {
      const marked = await manager
        .createQueryBuilder()
        .update(IncidentEntity)
        .set({ notified: true })
        .where("id = :id AND notified = :no", { id: open.id, no: false })
        .execute();
      firing = marked.affected !== 0;
    }
    const incident = toIncident((await manager.findOneBy(IncidentEntity, { id: open.id }))!);
    const event = await recordFollowUp(
      this.draft(incident, cause, `seen again (${incident.occurrences} times)${firing ? ", no longer silenced" : ""}`),
    );
    if (firing) this.notices.set(event, { status: "firing", incident, reason: incident.reason });
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

  /** The incident open under `key`, read and locked as it is now (not as the transaction's snapshot has it). */
  private async lockedOpen(manager: EntityManager, key: string): Promise<IncidentEntity | null> {
    const query = manager.createQueryBuilder(IncidentEntity, "i").where("i.open_key = :key", { key });
    // SQLite has one writer at a time: nothing to lock.
    if (this.dialect === "mysql") query.setLock("pessimistic_write");
    return query.getOne();
  }

  private async silenced(
    manager: EntityManager,
    kind: IncidentKind,
    subject: IncidentSubject,
    now: Date,
  ): Promise<boolean> {
    const active = (
      await manager
        .createQueryBuilder(SilenceEntity, "s")
        .where("s.until > :now AND s.expired_at IS NULL", { now })
        .getMany()
    ).map((s) => ({ ...s, kinds: kindsFromColumn(s.kinds), until: dateOf(s.until)! }));
    if (active.length === 0) return false;
    // A process's incident is also silenced by its supervisord's host:port: read which that is.
    const supervisor =
      subject.type === "process" && active.some((s) => namesSupervisor(s.namePattern))
        ? ((await supervisorsOfProcesses(manager, [subject.processName])).get(subject.processName) ?? null)
        : null;
    return active.some((s) => silences(s, kind, subject, now, supervisor));
  }

  private draft(incident: Incident, cause: Cause, what: string): EventDraft {
    const tokenId = cause.actorTokenId === null || cause.actorTokenId === undefined ? null : Number(cause.actorTokenId);
    return incidentChange(incident, { name: cause.actor, tokenId }, what, cause.status);
  }
}

function describeCause(cause: Cause): string {
  return cause.kind === ProcessEventKind.INCIDENT_CHANGED
    ? (cause.message ?? "")
    : `${cause.kind}${cause.message ? ` (${cause.message})` : ""}`;
}
