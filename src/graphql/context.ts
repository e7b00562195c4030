import DataLoader from "dataloader";
import type { Principal } from "../auth/principal.js";
import type { TokenService } from "../auth/token.service.js";
import type { ProcessEntity } from "../db/process.entity.js";
import type { EventLogService } from "../events/event-log.service.js";
import type { RegistryService } from "../registry/registry.service.js";

/** The long-lived services a request reaches through its context. */
export interface Services {
  readonly registry: RegistryService;
  readonly events: EventLogService;
  readonly tokens: TokenService;
}

/** Per-request batching: each loader lives as long as one request (or one subscription event). */
export interface Loaders {
  readonly processByName: DataLoader<string, ProcessEntity | null>;
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
  return {
    processByName: new DataLoader(
      async (names) => {
        const rows = await services.registry.getMany(names);
        const byName = new Map(rows.map((row) => [row.name, row]));
        return names.map((name) => byName.get(name) ?? null);
      },
      { cache: options.cache },
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
