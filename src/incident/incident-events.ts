import { ProcessEventKind } from "../domain/event-kind.js";
import type { ProcessStatus } from "../domain/process-status.js";
import type { EventDraft } from "../events/event-log.service.js";
import type { Incident } from "./incident.js";

/** INCIDENT_CHANGED's message: `incident 12: PROCESS_CRASHED on worker-1 opened: …`. */
export function incidentMessage(incident: Incident, what: string): string {
  const subject = incident.processName ?? `supervisord ${incident.supervisorHost}:${incident.supervisorPort}`;
  return `incident ${incident.id}: ${incident.kind} on ${subject} ${what}`;
}

/** The incident id an INCIDENT_CHANGED message names, or null. */
export function incidentIdIn(message: string | null): number | null {
  const id = message ? /^incident (\d+):/.exec(message)?.[1] : undefined;
  return id === undefined ? null : Number(id);
}

/**
 * The INCIDENT_CHANGED saying that `what` happened to `incident`, by `actor` (its token's
 * id, or null for Fleetvisor itself), with the process's registry status when it is known.
 */
export function incidentChange(
  incident: Incident,
  actor: { readonly name: string; readonly tokenId: number | null },
  what: string,
  status: ProcessStatus | null = null,
): EventDraft {
  return {
    kind: ProcessEventKind.INCIDENT_CHANGED,
    processName: incident.processName ?? "",
    actor: actor.name,
    actorTokenId: actor.tokenId,
    message: incidentMessage(incident, what),
    status,
  };
}
