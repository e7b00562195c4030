import { registerEnumType } from "type-graphql";
import { IncidentKind, IncidentState, IncidentStateFilter } from "../../domain/incident.js";

registerEnumType(IncidentKind, {
  name: "IncidentKind",
  description: "What an incident is about: the alert that opened it.",
  valuesConfig: {
    HEARTBEAT_LOST: { description: "The process's heartbeat went stale; ends when it runs again or is stopped." },
    PROCESS_CRASHED: {
      description:
        "supervisord reports FATAL, BACKOFF or an unexpected exit; ends when it is stopped or has run FLAP_WINDOW_SECONDS without crashing again (a crash loop is one incident).",
    },
    SUPERVISOR_UNREACHABLE: {
      description:
        "A supervisord does not answer (one incident per supervisord); ends when it answers again or none of the registry's programs is on it any more.",
    },
    DRIFT: { description: "supervisord differs from the desired state; ends with DRIFT_RESOLVED." },
    FLAPPING: {
      description:
        "More than FLAP_THRESHOLD state changes in FLAP_WINDOW_SECONDS; ends when it is stopped or a window passes quietly.",
    },
    QUARANTINED: { description: "The healer spent its restart budget; ends with QUARANTINE_CLEARED." },
  },
});

registerEnumType(IncidentState, { name: "IncidentState" });

registerEnumType(IncidentStateFilter, { name: "IncidentStateFilter" });

export { IncidentKind, IncidentState, IncidentStateFilter };
