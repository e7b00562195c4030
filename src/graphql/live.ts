import { createHash } from "node:crypto";
import type { ProcessEntity } from "../db/process.entity.js";
import { BadUserInputError } from "../errors.js";
import type { HostObservation } from "../registry/host-observations.js";
import type { ProcessFilter } from "../registry/process-reads.js";
import {
  addressOf,
  groupBySupervisor,
  liveStateFrom,
  supervisorKey,
  type LiveState,
} from "../supervisor/host-answers.js";
import type { Principal } from "../auth/principal.js";
import { deriveHealth, type HealthReport } from "../health/health.js";
import type { RequestContext } from "./context.js";

const NO_SUPERVISOR: LiveState = { view: { kind: "none" } };

/**
 * The live side of a row for the `supervisor`, `health` and `healthReasons` fields:
 * synchronous when the row's list already resolved it (see {@link resolveLiveStates}),
 * otherwise from the request's supervisord answers.
 */
export function liveStateOf(
  process: ProcessEntity,
  { services, loaders }: RequestContext,
): LiveState | Promise<LiveState> {
  const known = loaders.liveStates.get(process);
  if (known) return known;
  const changedAt = loaders.changedAt.get(process);
  const asking = changedAt
    ? services.supervisors.liveStateSince(process, changedAt)
    : services.supervisors.liveState(process, loaders.supervisorAnswers);
  return asking.then((state) => {
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
 * A list's selection, as {@link SupervisorService.lastNamed} knows it: the filter and
 * whose rows, hashed (a filter may name a thousand processes).
 */
function selectionOf(filter: ProcessFilter, principal: Principal): string {
  const selection = JSON.stringify([
    principal.processPattern,
    filter.names ?? null,
    filter.namePrefix ?? null,
    filter.statuses ?? null,
    filter.supervisorHost ?? null,
  ]);
  return createHash("sha256").update(selection).digest("base64url");
}

/**
 * Starts asking the supervisords of the processes `filter` selects before the rows
 * arrive: at once those that the same selection named last time, or, the first time,
 * those a DISTINCT query names (it answers before the rows). Resolves once the calls are
 * sent; their answers are for the fields to read.
 */
export async function startAsking(
  filter: ProcessFilter,
  { services, principal, loaders }: RequestContext,
): Promise<void> {
  const named = services.supervisors.lastNamed(selectionOf(filter, principal));
  if (named) return loaders.supervisorAnswers.prefetch(named);
  const hosts = await services.processes.supervisorsOf(filter, principal).catch(() => []);
  loaders.supervisorAnswers.prefetch(hosts.map(supervisorKey));
}

/** The most a caller may accept as the age of what was observed: a day. */
export const MAX_AGE_SECONDS = 86_400;

/** `maxAgeSeconds` checked: 0 (ask live) up to a day. */
export function checkMaxAge(maxAgeSeconds: number): number {
  if (!Number.isInteger(maxAgeSeconds) || maxAgeSeconds < 0 || maxAgeSeconds > MAX_AGE_SECONDS) {
    throw BadUserInputError.of([
      { field: "maxAgeSeconds", message: `must be between 0 and ${MAX_AGE_SECONDS} (got ${maxAgeSeconds})` },
    ]);
  }
  return maxAgeSeconds;
}

/**
 * For a list: records each row's live state (and, when the query reads it, its health) as
 * soon as its host's answer is in, while the others are still answering. With
 * `maxAgeSeconds`, a supervisord observed at most that long ago (by the poller, its event
 * listener's report, or any live answer) is not asked: its stored answer serves; only
 * hosts whose observation is older, or missing, are asked, once each. Resolves when all
 * are in (each within its timeout), so that graphql-js then completes the rows without a
 * promise per field. A host that fails is recorded as such for its rows; it never fails
 * the list.
 */
export async function resolveLiveStates(
  rows: readonly ProcessEntity[],
  filter: ProcessFilter | null,
  context: RequestContext,
  options: { readonly health: boolean; readonly maxAgeSeconds: number },
): Promise<void> {
  const { services, principal, loaders } = context;
  for (const row of rows) if (!addressOf(row)) loaders.liveStates.set(row, NO_SUPERVISOR);
  const byHost = groupBySupervisor(rows);
  if (filter) services.supervisors.rememberNamed(selectionOf(filter, principal), [...byHost.keys()]);
  const observed =
    options.maxAgeSeconds > 0
      ? await services.hostObservations
          .since(
            [...byHost.values()].map((group) => addressOf(group[0]!)!),
            new Date(services.clock.now().getTime() - options.maxAgeSeconds * 1000),
          )
          // Nothing stored can be read: every host is asked live instead.
          .catch(() => new Map<string, HostObservation>())
      : new Map<string, HostObservation>();
  await Promise.all(
    [...byHost].map(async ([key, group]) => {
      const answer = observed.get(key) ?? (await loaders.supervisorAnswers.of(key));
      noteObservedAt(loaders, "observedAt" in answer ? answer.observedAt : undefined);
      for (const row of group) {
        loaders.liveStates.set(row, liveStateFrom(row, answer));
        if (options.health) healthOf(row, context);
      }
    }),
  );
}

/** Keeps the oldest observation a request's answer is made of (see SharedAnswers). */
function noteObservedAt(loaders: RequestContext["loaders"], at: Date | undefined): void {
  if (!at) return;
  const oldest = loaders.oldestObservation;
  if (oldest.at === null || at < oldest.at) oldest.at = at;
}
