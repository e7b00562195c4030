import type { ProcessEntity } from "../db/process.entity.js";
import type { ProcessFilter } from "../registry/registry.service.js";
import { supervisorKey } from "../supervisor/supervisor.service.js";
import { deriveHealth, type HealthReport } from "../health/health.js";
import type { LiveState } from "../supervisor/supervisor.service.js";
import type { RequestContext } from "./context.js";

/**
 * The live side of a row for the `supervisor`, `health` and `healthReasons` fields:
 * synchronous when the row's list already resolved it (see {@link resolveLiveStates}),
 * otherwise through the request's supervisord loader.
 */
export function liveStateOf(
  process: ProcessEntity,
  { services, loaders }: RequestContext,
): LiveState | Promise<LiveState> {
  const known = loaders.liveStates.get(process);
  if (known) return known;
  return services.supervisors.liveState(process, loaders.supervisorSnapshot).then((state) => {
    loaders.liveStates.set(process, state);
    return state;
  });
}

export function healthOf(process: ProcessEntity, context: RequestContext): HealthReport | Promise<HealthReport> {
  const known = context.loaders.healthReports.get(process);
  if (known) return known;
  const report = (state: LiveState): HealthReport => {
    const derived = deriveHealth(
      { status: process.status!, pid: process.pid, lastHeartbeat: process.lastHeartbeat },
      state.view,
      new Date(),
      context.services.settings.heartbeatStaleSeconds,
    );
    context.loaders.healthReports.set(process, derived);
    return derived;
  };
  const state = liveStateOf(process, context);
  return state instanceof Promise ? state.then(report) : report(state);
}

/**
 * For a list: asks every supervisord the rows name at once, waits for all of them (each
 * within its timeout), then records each row's live state, so that graphql-js completes
 * the rows without a promise per field. A host that fails is recorded as such for its
 * rows; it never fails the list.
 */
export async function resolveLiveStates(rows: readonly ProcessEntity[], context: RequestContext): Promise<void> {
  const { services, loaders } = context;
  const states = await services.supervisors.liveStates(rows, loaders.supervisorSnapshot);
  rows.forEach((row, i) => loaders.liveStates.set(row, states[i]!));
}

/**
 * Starts asking the supervisords of the processes `filter` selects, into the request's
 * loader, as soon as the registry names them (a DISTINCT query that answers before the
 * rows). Resolves once the calls are sent; their answers are for the fields to read.
 */
export async function startAsking(
  filter: ProcessFilter,
  { services, principal, loaders }: RequestContext,
): Promise<void> {
  const hosts = await services.registry.supervisorsOf(filter, principal).catch(() => []);
  void loaders.supervisorSnapshot.loadMany(hosts.map(supervisorKey));
}
