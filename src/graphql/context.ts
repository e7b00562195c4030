import DataLoader from "dataloader";
import type { Principal } from "../auth/principal.js";
import type { TokenService } from "../auth/token.service.js";
import type { ControlService } from "../control/control.service.js";
import type { ProcessEntity } from "../db/process.entity.js";
import type { AuditTrail } from "../events/audit-trail.js";
import type { EventLogService } from "../events/event-log.service.js";
import type { EventStreams } from "../events/event-stream.js";
import type { HealingService } from "../healing/healing.service.js";
import type { LogFollows } from "../logs/log-follows.js";
import type { HealthReport } from "../health/health.js";
import type { IncidentWatch } from "../incident/incident-watch.js";
import type { IncidentService } from "../incident/incident.service.js";
import type { SilenceService } from "../incident/silence.service.js";
import type { AgentLifecycle } from "../registry/agent-lifecycle.js";
import type { ProcessReads } from "../registry/process-reads.js";
import type { RegistryAdmin } from "../registry/registry-admin.js";
import type { RolloutWatch } from "../rollout/rollout-watch.js";
import type { RolloutService } from "../rollout/rollout.service.js";
import type { HostObservations } from "../registry/host-observations.js";
import type { Clock } from "../clock.js";
import type { Replicas } from "../watch/replicas.js";
import type { SupervisorService } from "../supervisor/supervisor.service.js";
import type { HostAnswers, LiveState } from "../supervisor/host-answers.js";
import type { WatchService } from "../watch/watch.service.js";

/** The long-lived services a request reaches through its context. */
export interface Services {
  readonly processes: ProcessReads;
  readonly agents: AgentLifecycle;
  readonly registryAdmin: RegistryAdmin;
  /** What each supervisord last answered, for reads that accept an age. */
  readonly hostObservations: HostObservations;
  readonly clock: Clock;
  /** The replicas on this database, as this one last saw them. */
  readonly replicas: Replicas;
  readonly events: EventLogService;
  readonly subscriptions: EventStreams;
  readonly audit: AuditTrail;
  readonly tokens: TokenService;
  readonly supervisors: SupervisorService;
  readonly control: ControlService;
  readonly watch: WatchService;
  readonly rollouts: RolloutService;
  /** `rolloutChanged`'s streams. */
  readonly rolloutWatch: RolloutWatch;
  /** Healing policies and quarantines. */
  readonly healing: HealingService;
  /** `processLog`'s followers on this replica. */
  readonly logs: LogFollows;
  readonly incidents: IncidentService;
  readonly silences: SilenceService;
  /** `incidentChanged`'s streams. */
  readonly incidentWatch: IncidentWatch;
  readonly settings: {
    /** A heartbeat older than this is stale (health). */
    readonly heartbeatStaleSeconds: number;
    /** SUPERVISOR_POLL_INTERVAL_SECONDS, for `Query.settings`. */
    readonly pollIntervalSeconds: number;
  };
}

/** Per-request batching and memoisation: each lives as long as one request (or one subscription). */
export interface Loaders {
  readonly processByName: DataLoader<string, ProcessEntity | null>;
  /** One `getAllProcessInfo` per supervisord per request. */
  readonly supervisorAnswers: HostAnswers;
  /** Rows' live states, once known in this request (shared by `supervisor` and `health`). */
  readonly liveStates: WeakMap<ProcessEntity, LiveState>;
  readonly healthReports: WeakMap<ProcessEntity, HealthReport>;
  /**
   * For a row a live event carries: when the event was recorded. Its `supervisor` and
   * `health` then come from an answer no older, shared by every subscriber of the replica.
   */
  readonly changedAt: WeakMap<ProcessEntity, Date>;
  /** Whether each process is quarantined, one query per request (or per tick of a subscription). */
  readonly quarantined: DataLoader<string, boolean>;
  /** The oldest supervisord observation the request's answer is made of; `null` while none. */
  readonly oldestObservation: { at: Date | null };
}

export interface RequestContext {
  /** When the request arrived (epoch ms): time budgets count from here. */
  readonly receivedAt: number;
  readonly principal: Principal;
  readonly services: Services;
  readonly loaders: Loaders;
}

/**
 * `cache: false` for subscriptions, whose context lives as long as the subscription:
 * registry loads are still batched per tick and supervisord calls in flight shared, but
 * nothing is answered from an old result.
 */
export function createLoaders(services: Services, options: { readonly cache: boolean }): Loaders {
  const cache = options.cache;
  return {
    processByName: new DataLoader(
      async (names) => {
        const rows = await services.processes.getMany(names);
        const byName = new Map(rows.map((row) => [row.name, row]));
        return names.map((name) => byName.get(name) ?? null);
      },
      { cache },
    ),
    supervisorAnswers: services.supervisors.answers(cache),
    // A subscription's context outlives any one event: nothing live may be kept there.
    liveStates: cache ? new WeakMap() : new NoopWeakMap(),
    healthReports: cache ? new WeakMap() : new NoopWeakMap(),
    changedAt: new WeakMap(),
    quarantined: new DataLoader(
      async (names) => {
        const quarantined = await services.healing.quarantined(names);
        return names.map((name) => quarantined.has(name));
      },
      { cache },
    ),
    oldestObservation: { at: null },
  };
}

/** A WeakMap that keeps nothing. */
class NoopWeakMap<K extends object, V> extends WeakMap<K, V> {
  override set(): this {
    return this;
  }
}

export function createContext(
  principal: Principal,
  services: Services,
  options: { readonly longLived: boolean; readonly receivedAt?: number } = { longLived: false },
): RequestContext {
  return {
    receivedAt: options.receivedAt ?? Date.now(),
    principal,
    services,
    loaders: createLoaders(services, { cache: !options.longLived }),
  };
}
