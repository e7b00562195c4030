import DataLoader from "dataloader";
import type { Principal } from "../auth/principal.js";
import type { TokenService } from "../auth/token.service.js";
import type { ControlService } from "../control/control.service.js";
import type { ProcessEntity } from "../db/process.entity.js";
import type { EventLogService } from "../events/event-log.service.js";
import { deriveHealth, type HealthReport } from "../health/health.js";
import type { RegistryService } from "../registry/registry.service.js";
import type { HostSnapshot, LiveState, SupervisorService } from "../supervisor/supervisor.service.js";

/** The long-lived services a request reaches through its context. */
export interface Services {
  readonly registry: RegistryService;
  readonly events: EventLogService;
  readonly tokens: TokenService;
  readonly supervisors: SupervisorService;
  readonly control: ControlService;
  readonly settings: {
    /** A heartbeat older than this is stale (health). */
    readonly heartbeatStaleSeconds: number;
  };
}

/** Per-request batching and memoisation: each lives as long as one request (or one subscription). */
export interface Loaders {
  readonly processByName: DataLoader<string, ProcessEntity | null>;
  /** One `getAllProcessInfo` per supervisord per request. */
  readonly supervisorSnapshot: DataLoader<string, HostSnapshot>;
  /** The live side of a row, shared by `supervisor`, `health` and `healthReasons`. */
  readonly live: DataLoader<ProcessEntity, LiveState>;
  readonly health: DataLoader<ProcessEntity, HealthReport>;
}

export interface RequestContext {
  readonly principal: Principal;
  readonly services: Services;
  readonly loaders: Loaders;
}

/**
 * `cache: false` for subscriptions, whose context lives as long as the subscription:
 * loads are still batched per tick, but never answered from an old result.
 */
export function createLoaders(services: Services, options: { readonly cache: boolean }): Loaders {
  const cache = options.cache;
  const supervisorSnapshot = services.supervisors.createSnapshotLoader(cache);
  const live = new DataLoader<ProcessEntity, LiveState>(
    (processes) => Promise.all(processes.map((p) => services.supervisors.liveState(p, supervisorSnapshot))),
    { cache },
  );
  return {
    processByName: new DataLoader(
      async (names) => {
        const rows = await services.registry.getMany(names);
        const byName = new Map(rows.map((row) => [row.name, row]));
        return names.map((name) => byName.get(name) ?? null);
      },
      { cache },
    ),
    supervisorSnapshot,
    live,
    health: new DataLoader<ProcessEntity, HealthReport>(
      async (processes) => {
        const now = new Date();
        const states = await live.loadMany(processes);
        return states.map((state, i) => {
          if (state instanceof Error) return state;
          const p = processes[i]!;
          return deriveHealth(
            { status: p.status!, pid: p.pid, lastHeartbeat: p.lastHeartbeat },
            state.view,
            now,
            services.settings.heartbeatStaleSeconds,
          );
        });
      },
      { cache },
    ),
  };
}

export function createContext(
  principal: Principal,
  services: Services,
  options: { readonly longLived: boolean } = { longLived: false },
): RequestContext {
  return { principal, services, loaders: createLoaders(services, { cache: !options.longLived }) };
}
