import { In, type EntityManager } from "typeorm";
import type { IncidentEntity } from "../db/incident.entity.js";
import { ProcessEntity } from "../db/process.entity.js";
import type { IncidentKind, IncidentState } from "../domain/incident.js";
import type { IncidentSubject } from "./incident-rules.js";

/** One incident as the API and the webhook show it. */
export interface Incident {
  readonly id: number;
  readonly kind: IncidentKind;
  /** `null` for a supervisord's incident. */
  readonly processName: string | null;
  readonly supervisorHost: string | null;
  readonly supervisorPort: number | null;
  readonly state: IncidentState;
  readonly occurrences: number;
  readonly openedAt: Date;
  readonly lastSeenAt: Date;
  readonly resolvedAt: Date | null;
  readonly acknowledgedBy: string | null;
  readonly acknowledgedAt: Date | null;
  readonly note: string | null;
  readonly silenced: boolean;
  /** The message of the event that opened it. */
  readonly reason: string | null;
}

export function toIncident(row: IncidentEntity): Incident {
  return {
    id: row.id,
    kind: row.kind as IncidentKind,
    processName: row.processName,
    supervisorHost: row.supervisorHost,
    supervisorPort: row.supervisorPort === null ? null : Number(row.supervisorPort),
    state: row.state as IncidentState,
    occurrences: Number(row.occurrences),
    openedAt: row.openedAt,
    lastSeenAt: row.lastSeenAt,
    resolvedAt: row.resolvedAt,
    acknowledgedBy: row.acknowledgedBy,
    acknowledgedAt: row.acknowledgedAt,
    note: row.note,
    silenced: Boolean(row.silenced),
    reason: row.reason,
  };
}

/** What an incident is about, as silences match it: its process, or its supervisord. */
export function subjectOf(row: IncidentEntity): IncidentSubject {
  return row.processName !== null
    ? { type: "process", processName: row.processName }
    : { type: "supervisor", host: row.supervisorHost ?? "", port: Number(row.supervisorPort) };
}

/**
 * The supervisord the registry names for each of `names` that has one: a silence of a
 * supervisord's `host:port` covers its processes' incidents.
 */
export async function supervisorsOfProcesses(
  manager: EntityManager,
  names: readonly string[],
): Promise<Map<string, { host: string; port: number }>> {
  if (names.length === 0) return new Map();
  const rows = await manager.find(ProcessEntity, {
    where: { name: In([...names]) },
    select: { name: true, supervisorHost: true, supervisorPort: true },
  });
  return new Map(
    rows.flatMap((row) =>
      row.supervisorHost && row.supervisorPort !== null
        ? [[row.name, { host: row.supervisorHost, port: Number(row.supervisorPort) }] as const]
        : [],
    ),
  );
}
