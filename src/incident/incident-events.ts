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
