/**
 * Finding variables that were meant for Fleetvisor but that it does not read: a misspelled
 * `SUPERVISOR_PASWORD` would otherwise be ignored without a word, and the service would
 * run without the password the operator thinks they gave it.
 */

/**
 * Prefixes that only Fleetvisor's own variables use in its environment. `HOST`, `PORT` and
 * `NODE_ENV` are too common elsewhere to guess at; `LOG_` is here for `LOG_LEVEL`, and
 * `METRICS_` for `METRICS_TOKEN`; `AUTH_FAILURES` and `TRUST_PROX` are most of a name, as
 * `AUTH_` and `TRUST_` alone are others' too.
 */
export const FLEETVISOR_PREFIXES = [
  "FLEETVISOR_",
  "DATABASE_",
  "SUPERVISOR_",
  "HEARTBEAT_",
  "REDIS_",
  "ALERT_",
  "TOKEN_",
  "MIGRATE_",
  "LOG_",
  "METRICS_",
  "AUTH_FAILURES",
  "TRUST_PROX",
  "WS_",
  "ROLLOUT_",
  "FLAP_",
] as const;

/**
 * Variables with those prefixes that belong to someone else and are expected next to the
 * service: supervisord sets `SUPERVISOR_*` for every program it runs (Fleetvisor itself
 * may run under one), and the registry clients and the event listener read `FLEETVISOR_*`
 * from an environment that a deployment may share with the service.
 */
const OTHERS_VARIABLES = new Set([
  "SUPERVISOR_ENABLED",
  "SUPERVISOR_PROCESS_NAME",
  "SUPERVISOR_GROUP_NAME",
  "SUPERVISOR_SERVER_URL",
  "FLEETVISOR_URL",
  "FLEETVISOR_TOKEN",
  "FLEETVISOR_TOKEN_FILE",
  "FLEETVISOR_SUPERVISOR",
  "FLEETVISOR_TIMEOUT",
  "FLEETVISOR_CONFIG_RETRY_SECONDS",
]);

/**
 * Kubernetes gives every pod `<SERVICE>_SERVICE_HOST`, `<SERVICE>_SERVICE_PORT[_<NAME>]`,
 * `<SERVICE>_PORT=tcp://…` and `<SERVICE>_PORT_<n>_<PROTO>[_…]` for each service in its
 * namespace, so a service named `redis` or `database` yields variables with our prefixes.
 * `<SERVICE>_PORT` is recognised by its `tcp://` value, so that a `DATABASE_PORT` meant for
 * Fleetvisor is still reported.
 */
function isServiceLink(name: string, value: string): boolean {
  if (/_SERVICE_(HOST|PORT)(_\w+)?$/.test(name)) return true;
  if (/_PORT_\d+_(TCP|UDP|SCTP)(_(PROTO|PORT|ADDR))?$/.test(name)) return true;
  return /_PORT$/.test(name) && /^(tcp|udp|sctp):\/\//.test(value);
}

/**
 * Optimal string alignment distance: insertions, deletions, substitutions and swaps of two
 * neighbours (`PASWORD` is one from `PASSWORD`, `TIEMOUT` one from `TIMEOUT`).
 */
export function editDistance(a: string, b: string): number {
  const rows = a.length + 1;
  const cols = b.length + 1;
  const d: number[] = Array.from({ length: rows * cols }, (_, i) => (i < cols ? i : i % cols === 0 ? i / cols : 0));
  const at = (i: number, j: number): number => d[i * cols + j]!;
  for (let i = 1; i < rows; i++) {
    for (let j = 1; j < cols; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let best = Math.min(at(i - 1, j) + 1, at(i, j - 1) + 1, at(i - 1, j - 1) + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) best = Math.min(best, at(i - 2, j - 2) + 1);
      d[i * cols + j] = best;
    }
  }
  return at(rows - 1, cols - 1);
}

/**
 * The candidate closest to `name`, if it is close enough to be a misspelling of it (a third
 * of the name may differ: `FLEETVISOR_BOOTSTRAP_TOKEN` still finds
 * `FLEETVISOR_BOOTSTRAP_ADMIN_TOKEN`, `DATABASE_HOST` finds `DATABASE_URL`).
 */
export function closestName(name: string, candidates: Iterable<string>): string | undefined {
  let best: { candidate: string; distance: number } | undefined;
  for (const candidate of candidates) {
    const distance = editDistance(name.toUpperCase(), candidate);
    if (!best || distance < best.distance) best = { candidate, distance };
  }
  return best && best.distance <= Math.max(2, Math.floor(name.length / 3)) ? best.candidate : undefined;
}

/**
 * Variables in `env` that carry one of {@link FLEETVISOR_PREFIXES} (in any case) but are
 * neither in `known` nor someone else's, sorted by name, each with the closest known name.
 * Empty values count as unset and are skipped.
 */
export function findUnknownVariables(
  env: Readonly<Record<string, string>>,
  known: ReadonlySet<string>,
): { variable: string; suggestion: string | undefined }[] {
  const unknown: { variable: string; suggestion: string | undefined }[] = [];
  for (const [name, value] of Object.entries(env)) {
    const upper = name.toUpperCase();
    if (!FLEETVISOR_PREFIXES.some((prefix) => upper.startsWith(prefix))) continue;
    if (known.has(name) || OTHERS_VARIABLES.has(name) || isServiceLink(upper, value)) continue;
    unknown.push({ variable: name, suggestion: closestName(name, known) });
  }
  return unknown.sort((a, b) => (a.variable < b.variable ? -1 : a.variable > b.variable ? 1 : 0));
}
