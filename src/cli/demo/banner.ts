import type { SupervisordBinaries } from "./prerequisites.js";
import type { DemoInstance } from "./fleet.js";

const WILDCARD_OR_LOOPBACK = new Set(["0.0.0.0", "::", "127.0.0.1", "::1", "localhost"]);

/** The address a person on this machine opens: `localhost` unless Fleetvisor listens on one address only. */
export function publicBaseUrl(host: string, port: number): string {
  if (WILDCARD_OR_LOOPBACK.has(host)) return `http://localhost:${port}`;
  return `http://${host.includes(":") ? `[${host}]` : host}:${port}`;
}

/** The address the demo's own programs call: loopback when Fleetvisor listens on every address. */
export function localBaseUrl(host: string, port: number): string {
  if (host === "0.0.0.0" || host === "::" || host === "localhost") return `http://127.0.0.1:${port}`;
  return `http://${host.includes(":") ? `[${host}]` : host}:${port}`;
}

/** One argument for a POSIX shell. */
export function shellQuote(value: string): string {
  return /^[A-Za-z0-9_./:=@+-]+$/.test(value) ? value : `'${value.replace(/'/g, `'"'"'`)}'`;
}

/** The dashboard, signed in with `token` (the fragment never reaches a server or a log). */
export function dashboardUrl(baseUrl: string, token: string): string {
  return `${baseUrl}/#token=${encodeURIComponent(token)}`;
}

/** A curl line that lists the demo's processes with what their supervisords say. */
export function curlExample(baseUrl: string, token: string): string {
  const body = JSON.stringify({ query: "{ processes { name port pid status health supervisor { state pid } } }" });
  return [
    "curl -s",
    `${baseUrl}/graphql`,
    "-H",
    shellQuote(`authorization: Bearer ${token}`),
    "-H",
    shellQuote("content-type: application/json"),
    "-d",
    shellQuote(body),
  ].join(" ");
}

export interface ReadyFacts {
  readonly baseUrl: string;
  readonly adminToken: string;
  readonly tokenGenerated: boolean;
  readonly instances: readonly DemoInstance[];
  readonly binaries: SupervisordBinaries;
  readonly stateDir: string;
  readonly seconds: number;
}

/** What the demo prints once the three servers are healthy. */
export function readyBanner(facts: ReadyFacts): string {
  const { baseUrl, adminToken, instances, binaries } = facts;
  const first = instances[0]!;
  const ctl = binaries.supervisorctl ?? "supervisorctl";
  return [
    "",
    `Fleetvisor is ready (${facts.seconds.toFixed(1)} s): ${instances.length} servers registered and HEALTHY.`,
    "",
    `  Dashboard  ${dashboardUrl(baseUrl, facts.adminToken)}`,
    `  GraphQL    ${baseUrl}/graphql (HTTP and WebSocket)`,
    `  Admin      ${facts.tokenGenerated ? "a token generated for this run" : "FLEETVISOR_BOOTSTRAP_ADMIN_TOKEN"}: ${adminToken}`,
    "",
    "  Try:",
    `    ${curlExample(baseUrl, adminToken)}`,
    "",
    "  Ask a supervisord directly:",
    `    ${shellQuote(ctl)} -c ${shellQuote(`${first.dir}/supervisord.conf`)} status`,
    "",
    `  Files (configs, logs, tokens): ${facts.stateDir}, removed on exit`,
    "  Stop: Ctrl-C (stops every supervisord and program it started, then Fleetvisor)",
    "",
  ].join("\n");
}
