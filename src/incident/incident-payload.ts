import { UnreachableCaseError } from "../errors.js";
import type { Incident } from "./incident.js";

/** What the webhook receives: `json` (Fleetvisor's shape) or `slack` (an incoming webhook's `text`). */
export type AlertWebhookFormat = "json" | "slack";

/** An incident opened (`firing`) or closed (`resolved`); the same incident id in both. */
export interface IncidentNotice {
  readonly status: "firing" | "resolved";
  readonly incident: Incident;
  /** What opened or resolved it: the event's message. */
  readonly reason: string | null;
}

/** The JSON body of `notice` in `format`. */
export function webhookBody(notice: IncidentNotice, format: AlertWebhookFormat): object {
  switch (format) {
    case "json":
      return jsonBody(notice);
    case "slack":
      return { text: slackText(notice) };
    default:
      throw new UnreachableCaseError(format);
  }
}

function jsonBody({ status, incident, reason }: IncidentNotice): object {
  return {
    status,
    incident: {
      id: String(incident.id),
      kind: incident.kind,
      process: incident.processName,
      supervisor: supervisorOf(incident),
      state: incident.state,
      occurrences: incident.occurrences,
      openedAt: incident.openedAt.toISOString(),
      lastSeenAt: incident.lastSeenAt.toISOString(),
      resolvedAt: incident.resolvedAt?.toISOString() ?? null,
      acknowledgedBy: incident.acknowledgedBy,
      reason,
    },
  };
}

function supervisorOf(incident: Incident): string | null {
  return incident.supervisorHost === null ? null : `${incident.supervisorHost}:${incident.supervisorPort ?? ""}`;
}

/**
 * One line for a chat channel, e.g. `[FIRING] PROCESS_CRASHED on worker-1 (incident 12): exited
 * unexpectedly`. Slack reads `<`, `>` and `&` as markup: they are escaped.
 */
export function slackText({ status, incident, reason }: IncidentNotice): string {
  const subject = incident.processName ?? `supervisord ${supervisorOf(incident) ?? "?"}`;
  const times = incident.occurrences > 1 ? `, ${incident.occurrences} times` : "";
  const text =
    `[${status.toUpperCase()}] ${incident.kind} on ${subject} (incident ${incident.id}${times})` +
    (reason ? `: ${reason}` : "");
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}
