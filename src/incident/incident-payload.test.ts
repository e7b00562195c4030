import { describe, expect, it } from "vitest";
import { IncidentKind, IncidentState } from "../domain/incident.js";
import { slackText, webhookBody, type IncidentNotice } from "./incident-payload.js";
import type { Incident } from "./incident.js";

const incident: Incident = {
  id: 12,
  kind: IncidentKind.PROCESS_CRASHED,
  processName: "worker-1",
  supervisorHost: null,
  supervisorPort: null,
  state: IncidentState.OPEN,
  occurrences: 1,
  openedAt: new Date("2026-12-01T10:00:00Z"),
  lastSeenAt: new Date("2026-12-01T10:00:00Z"),
  resolvedAt: null,
  acknowledgedBy: null,
  acknowledgedAt: null,
  note: null,
  silenced: false,
  reason: "exited unexpectedly",
};

const firing: IncidentNotice = { status: "firing", incident, reason: "exited unexpectedly" };

describe("webhook bodies", () => {
  it("json: the status and the incident, with its id as a string and times in ISO 8601", () => {
    expect(webhookBody(firing, "json")).toEqual({
      status: "firing",
      incident: {
        id: "12",
        kind: "PROCESS_CRASHED",
        process: "worker-1",
        supervisor: null,
        state: "OPEN",
        occurrences: 1,
        openedAt: "2026-12-01T10:00:00.000Z",
        lastSeenAt: "2026-12-01T10:00:00.000Z",
        resolvedAt: null,
        acknowledgedBy: null,
        reason: "exited unexpectedly",
      },
    });
  });

  it("slack: one text line, only", () => {
    expect(webhookBody(firing, "slack")).toEqual({
      text: "[FIRING] PROCESS_CRASHED on worker-1 (incident 12): exited unexpectedly",
    });
  });

  it.each<[string, IncidentNotice, string]>([
    [
      "resolved, after several occurrences",
      {
        status: "resolved",
        incident: { ...incident, state: IncidentState.RESOLVED, occurrences: 7 },
        reason: "STATUS_CHANGED (stopped)",
      },
      "[RESOLVED] PROCESS_CRASHED on worker-1 (incident 12, 7 times): STATUS_CHANGED (stopped)",
    ],
    [
      "a supervisord's incident",
      {
        status: "firing",
        incident: {
          ...incident,
          kind: IncidentKind.SUPERVISOR_UNREACHABLE,
          processName: null,
          supervisorHost: "10.0.0.5",
          supervisorPort: 9101,
        },
        reason: null,
      },
      "[FIRING] SUPERVISOR_UNREACHABLE on supervisord 10.0.0.5:9101 (incident 12)",
    ],
    [
      "Slack's markup characters escaped",
      { status: "firing", incident, reason: "<script> & co" },
      "[FIRING] PROCESS_CRASHED on worker-1 (incident 12): &lt;script&gt; &amp; co",
    ],
  ])("slack: %s", (_what, notice, text) => {
    expect(slackText(notice)).toBe(text);
  });
});
