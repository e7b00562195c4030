import type { Principal } from "../auth/principal.js";
import { INCIDENT_EVENT_KINDS } from "../domain/event-kind.js";
import { derivedStream } from "../events/derived-stream.js";
import type { EventStreams } from "../events/event-stream.js";
import type { ProcessEventRecord } from "../events/process-event.js";
import type { LogEnd } from "../rollout/rollout-watch.js";
import { incidentIdIn } from "./incident-events.js";
import type { IncidentService } from "./incident.service.js";
import type { Incident } from "./incident.js";

/**
 * `incidentChanged`: each incident as it is after each of its changes (opened, seen again,
 * resolved, acknowledged, silenced), from whichever replica made it. As `rolloutChanged`,
 * it follows INCIDENT_CHANGED in the event log through this replica's feed and reads the
 * incident again: the change committed with its event, so the read sees it.
 */
export class IncidentWatch {
  constructor(
    private readonly incidents: IncidentService,
    private readonly streams: EventStreams,
    private readonly log: LogEnd,
  ) {}

  async watch(principal: Principal): Promise<AsyncIterableIterator<Incident>> {
    const cursor = await this.log.lastId();
    const events = this.streams.stream({ kinds: [...INCIDENT_EVENT_KINDS], after: cursor });
    const changes = this.follow(events, principal);
    return derivedStream(changes, events);
  }

  private async *follow(
    events: AsyncIterableIterator<ProcessEventRecord>,
    principal: Principal,
  ): AsyncGenerator<Incident> {
    try {
      for await (const event of events) {
        if (!INCIDENT_EVENT_KINDS.has(event.kind)) continue;
        const id = incidentIdIn(event.message);
        if (id === null) continue;
        const incident = await this.incidents.find(id, principal);
        if (incident) yield incident;
      }
    } finally {
      await events.return?.();
    }
  }
}
