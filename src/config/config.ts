import { resolve } from "node:path";
import type { z } from "zod";
import { readCredentialsFile } from "./credentials-file.js";
import { findUnknownVariables } from "./unknown-variables.js";
import {
  ALERT_WEBHOOK_FORMATS,
  CONFIG_VARIABLES,
  crossProblems,
  DEFAULT_DATABASE_URL,
  LOG_LEVELS,
  variables,
  type Env,
} from "./variables.js";

export { CONFIG_VARIABLES, DEFAULT_DATABASE_URL };

/** Credentials for one supervisord's `inet_http_server`. */
export interface SupervisorCredentials {
  readonly username: string;
  readonly password: string;
}

/** Where the registry lives: MySQL (production, any number of replicas) or an embedded SQLite file. */
export type DatabaseConfig = MysqlDatabaseConfig | SqliteDatabaseConfig;

/** The embedded database: one file, one process. */
export interface SqliteDatabaseConfig {
  readonly dialect: "sqlite";
  /** Absolute path of the database file (created, with its folder, when missing). */
  readonly path: string;
  /** Unused by SQLite, kept so that start-up reads one shape. @default 60000 */
  readonly startupRetryMs: number;
}

export interface MysqlDatabaseConfig {
  readonly dialect: "mysql";
  readonly host: string;
  readonly port: number;
  readonly user: string;
  readonly password: string;
  readonly database: string;
  /** @default 10 */
  readonly poolSize: number;
  /** A query (or the wait for a pooled connection) that takes longer fails. @default 10000 */
  readonly queryTimeoutMs: number;
  /** @default 5000 */
  readonly connectTimeoutMs: number;
  /**
   * The longest a request waits for a free pooled connection: with the database frozen,
   * a request fails after this instead of queueing behind others' query timeouts.
   * @default 2000
   */
  readonly acquireTimeoutMs: number;
  /**
   * Connections of the watchers' own pool (watchdog, poller, event feed, token re-checks),
   * so that background work never takes the connections requests need.
   * @default 2
   */
  readonly backgroundPoolSize: number;
  /** How long start-up keeps retrying an unreachable database before giving up. @default 60000 */
  readonly startupRetryMs: number;
}

/** The validated, frozen configuration of one Fleetvisor process. */
export interface Config {
  readonly database: DatabaseConfig;
  readonly http: {
    /** @default "0.0.0.0" */
    readonly host: string;
    /** `0` picks a free port. @default 4000 */
    readonly port: number;
    /**
     * How many proxies in front of Fleetvisor add the address they saw to
     * `X-Forwarded-For` (`TRUST_PROXY`): a client's address is the entry that many from the
     * right, and `Infinity` (`TRUST_PROXY=true`) takes the leftmost. With 0 the header is
     * ignored and the peer of the socket is the client, since anyone can send the header.
     * @default 0
     */
    readonly trustedProxyHops: number;
  };
  readonly auth: {
    /** Accepted as an admin token as is; never stored. */
    readonly bootstrapAdminToken: string | undefined;
    /**
     * How long a verified token is remembered by one replica. A token revoked on another
     * replica stops working here after at most this long.
     * @default 5000
     */
    readonly tokenCacheTtlMs: number;
    /**
     * Failed authentications (unknown or revoked tokens) one client address may make per
     * minute before its unknown tokens are refused (429, WebSocket 4429) without being
     * looked up; past half of it each failure is answered a little later. 0 turns it off.
     * @default 20
     */
    readonly failuresPerMinute: number;
  };
  readonly webSocket: {
    /** Operations one socket may run at once (subscriptions, mostly). @default 50 */
    readonly maxSubscriptions: number;
    /** Sockets open at once with one token, on one replica. @default 200 */
    readonly maxConnectionsPerToken: number;
    /**
     * How often open sockets' tokens are checked again: a socket whose token was revoked
     * or expired is closed within this (plus the token cache's lifetime). @default 10_000
     */
    readonly tokenRecheckMs: number;
  };
  readonly heartbeat: {
    /**
     * The most register / heartbeat / deregister take, token check included, before they
     * answer DATABASE_UNAVAILABLE: inside the 3 s the registry clients wait.
     * @default 2000
     */
    readonly agentCallTimeoutMs: number;
    /** @default 30 */
    readonly intervalSeconds: number;
    /** @default 90 */
    readonly staleSeconds: number;
    /**
     * How often the watchdog looks for stale heartbeats; 0 turns it off.
     * @default a third of staleSeconds, between 1 and 10
     */
    readonly checkIntervalSeconds: number;
  };
  readonly supervisor: {
    readonly defaultCredentials: SupervisorCredentials | undefined;
    /** Per `host:port` overrides from `SUPERVISOR_CREDENTIALS_FILE`. */
    readonly credentialsByHost: ReadonlyMap<string, SupervisorCredentials>;
    /** @default 3000 */
    readonly timeoutMs: number;
    /** start / stop wait for `startsecs` / `stopwaitsecs`, so they get a longer limit. @default 60000 */
    readonly controlTimeoutMs: number;
    /** 0 turns polling off (event listeners only). @default 5 */
    readonly pollIntervalSeconds: number;
    /** A supervisord whose event listener reported within this long counts as listened to. @default 60 */
    readonly listenerFreshSeconds: number;
    /** How often a supervisord that is listened to is polled all the same. @default 60 */
    readonly pollIntervalWithListenerSeconds: number;
    /** Supervisords one replica polls at once. @default 16 */
    readonly pollConcurrency: number;
    /** Polls in a row without an answer before a supervisord is reported unreachable. @default 3 */
    readonly unreachableAfterPolls: number;
    /**
     * A larger answer from a supervisord is refused (SUPERVISOR_UNAVAILABLE) and its
     * connection dropped: a supervisord that lies cannot make Fleetvisor hold more.
     * @default 16 MiB
     */
    readonly maxResponseBytes: number;
  };
  readonly redisUrl: string | undefined;
  readonly rollouts: {
    /**
     * After the death of the replica running a rollout, another replica takes it over
     * within this (the lease lapses two thirds of it after the last renewal).
     * @default 15
     */
    readonly leaseSeconds: number;
  };
  readonly healing: {
    /**
     * How often each replica looks for unresponsive processes under a healing policy;
     * 0 turns automatic restarts off.
     * @default 5000
     */
    readonly checkIntervalMs: number;
  };
  readonly metrics: {
    /** When set, `/metrics` answers only `Authorization: Bearer <token>`. */
    readonly token: string | undefined;
  };
  readonly alerts: {
    readonly webhookUrl: string | undefined;
    /** Per attempt. @default 5000 */
    readonly webhookTimeoutMs: number;
    /** `json` (Fleetvisor's shape) or `slack` (a `text` payload). @default json */
    readonly webhookFormat: (typeof ALERT_WEBHOOK_FORMATS)[number];
  };
  readonly incidents: {
    /** A process whose supervisord state changes more than this often in the window is FLAPPING. @default 5 */
    readonly flapThreshold: number;
    /** The window flaps are counted in; a FLAPPING incident resolves after one without a change. @default 300 */
    readonly flapWindowSeconds: number;
  };
  readonly events: {
    /**
     * Events older than this many days are pruned (by one replica, in small batches);
     * 0 keeps them for ever.
     * @default 30
     */
    readonly retentionDays: number;
  };
  /** @default true */
  readonly migrateOnStart: boolean;
  /** `NODE_ENV=production`: no introspection, no error details. */
  readonly production: boolean;
  /** @default "info" */
  readonly logLevel: (typeof LOG_LEVELS)[number];
  /**
   * Variables that look like Fleetvisor's but are not (a misspelling, most often); each is
   * ignored, and the app logs one warning for it at start.
   */
  readonly unknownVariables: readonly UnknownVariable[];
}

/** A variable with one of Fleetvisor's prefixes that Fleetvisor does not read. */
export interface UnknownVariable {
  readonly variable: string;
  /** The known variable whose name is closest, when one is close enough to be a misspelling. */
  readonly suggestion: string | undefined;
  /** One line naming the variable (never its value) and what to do. */
  readonly message: string;
}

/** Every problem found in the environment, each naming its variable. */
export class ConfigError extends Error {
  constructor(
    readonly problems: readonly string[],
    /** Often the cause of a problem: `SUPERVISOR_PASWORD` set, `SUPERVISOR_PASSWORD` missing. */
    readonly unknownVariables: readonly UnknownVariable[] = [],
  ) {
    const list = (lines: readonly string[]) => lines.map((line) => `  - ${line}`).join("\n");
    super(
      `invalid configuration:\n${list(problems)}` +
        (unknownVariables.length > 0 ? `\nalso:\n${list(unknownVariables.map((u) => u.message))}` : ""),
    );
    this.name = "ConfigError";
  }
}

/** Variables whose values must never be echoed back in an error. */
const SECRET_VARIABLES = new Set([
  "DATABASE_URL",
  "FLEETVISOR_BOOTSTRAP_ADMIN_TOKEN",
  "SUPERVISOR_PASSWORD",
  "METRICS_TOKEN",
  // URLs that may carry a password or a token (redis://:pass@…, a Slack hook's path).
  "REDIS_URL",
  "ALERT_WEBHOOK_URL",
]);

function describeProblem(variable: string, message: string, raw: string | undefined, notSet = false): string {
  const shown =
    raw === undefined
      ? notSet
        ? " (not set)"
        : ""
      : SECRET_VARIABLES.has(variable)
        ? ""
        : ` (got ${JSON.stringify(raw)})`;
  return `${variable} ${message}${shown}`;
}

function describeIssue(variable: string, issue: z.core.$ZodIssue, raw: string | undefined): string {
  const missing = issue.code === "invalid_type" && raw === undefined;
  return describeProblem(variable, missing ? "is required" : issue.message, raw, missing);
}

/** Treat empty variables as unset, as shells and compose files often leave them. */
function withoutEmpty(env: Readonly<Record<string, string | undefined>>): Record<string, string> {
  const result: Record<string, string> = {};
  for (const [key, value] of Object.entries(env)) {
    if (value !== undefined && value !== "") result[key] = value;
  }
  return result;
}

const KNOWN_VARIABLES: ReadonlySet<string> = new Set(CONFIG_VARIABLES);

function describeUnknown(variable: string, suggestion: string | undefined): string {
  return suggestion
    ? `${variable} is not a Fleetvisor variable and is ignored; did you mean ${suggestion}?`
    : `${variable} is not a Fleetvisor variable and is ignored (the README's Configuration lists them)`;
}

/**
 * Builds the configuration from explicit values, then the environment, then defaults.
 * Every invalid value is collected and reported at once in a {@link ConfigError}; variables
 * that look like Fleetvisor's but are not are returned in `unknownVariables`.
 */
export function loadConfig(
  env: Readonly<Record<string, string | undefined>> = process.env,
  overrides: Readonly<Record<string, string | undefined>> = {},
): Config {
  const merged = withoutEmpty({ ...env, ...overrides });
  const problems: string[] = [];
  const valid: Record<string, unknown> = {};
  for (const [variable, schema] of Object.entries(variables)) {
    const parsed = (schema as z.ZodType).safeParse(merged[variable]);
    if (parsed.success) valid[variable] = parsed.data;
    else for (const issue of parsed.error.issues) problems.push(describeIssue(variable, issue, merged[variable]));
  }
  for (const { variable, message } of crossProblems(valid as Partial<Env>)) {
    problems.push(describeProblem(variable, message, merged[variable]));
  }
  const credentialsByHost = merged.SUPERVISOR_CREDENTIALS_FILE
    ? readCredentialsFile(merged.SUPERVISOR_CREDENTIALS_FILE, problems)
    : new Map<string, SupervisorCredentials>();
  const unknownVariables = findUnknownVariables(merged, KNOWN_VARIABLES).map(({ variable, suggestion }) => ({
    variable,
    suggestion,
    message: describeUnknown(variable, suggestion),
  }));
  if (problems.length > 0) throw new ConfigError(problems, unknownVariables);

  const e = valid as Env;
  const config: Config = {
    database: databaseConfig(e),
    http: { host: e.HOST, port: e.PORT, trustedProxyHops: e.TRUST_PROXY },
    auth: {
      bootstrapAdminToken: e.FLEETVISOR_BOOTSTRAP_ADMIN_TOKEN,
      tokenCacheTtlMs: e.TOKEN_CACHE_TTL_MS,
      failuresPerMinute: e.AUTH_FAILURES_PER_MINUTE,
    },
    webSocket: {
      maxSubscriptions: e.WS_MAX_SUBSCRIPTIONS,
      maxConnectionsPerToken: e.WS_MAX_CONNECTIONS_PER_TOKEN,
      tokenRecheckMs: e.WS_TOKEN_RECHECK_SECONDS * 1000,
    },
    heartbeat: {
      agentCallTimeoutMs: e.AGENT_CALL_TIMEOUT_MS,
      intervalSeconds: e.HEARTBEAT_INTERVAL_SECONDS,
      staleSeconds: e.HEARTBEAT_STALE_SECONDS,
      checkIntervalSeconds:
        e.HEARTBEAT_CHECK_INTERVAL_SECONDS ?? Math.max(1, Math.min(10, Math.floor(e.HEARTBEAT_STALE_SECONDS / 3))),
    },
    supervisor: {
      defaultCredentials:
        e.SUPERVISOR_USERNAME !== undefined && e.SUPERVISOR_PASSWORD !== undefined
          ? { username: e.SUPERVISOR_USERNAME, password: e.SUPERVISOR_PASSWORD }
          : undefined,
      credentialsByHost,
      timeoutMs: e.SUPERVISOR_TIMEOUT_MS,
      controlTimeoutMs: e.SUPERVISOR_CONTROL_TIMEOUT_MS,
      pollIntervalSeconds: e.SUPERVISOR_POLL_INTERVAL_SECONDS,
      listenerFreshSeconds: e.SUPERVISOR_LISTENER_FRESH_SECONDS,
      pollIntervalWithListenerSeconds: e.SUPERVISOR_POLL_INTERVAL_WITH_LISTENER_SECONDS,
      pollConcurrency: e.SUPERVISOR_POLL_CONCURRENCY,
      unreachableAfterPolls: e.SUPERVISOR_UNREACHABLE_POLLS,
      maxResponseBytes: e.SUPERVISOR_MAX_RESPONSE_BYTES,
    },
    redisUrl: e.REDIS_URL,
    rollouts: { leaseSeconds: e.ROLLOUT_LEASE_SECONDS },
    healing: { checkIntervalMs: e.HEALING_CHECK_INTERVAL_MS },
    metrics: { token: e.METRICS_TOKEN },
    alerts: {
      webhookUrl: e.ALERT_WEBHOOK_URL,
      webhookTimeoutMs: e.ALERT_WEBHOOK_TIMEOUT_MS,
      webhookFormat: e.ALERT_WEBHOOK_FORMAT,
    },
    incidents: { flapThreshold: e.FLAP_THRESHOLD, flapWindowSeconds: e.FLAP_WINDOW_SECONDS },
    events: { retentionDays: e.EVENT_RETENTION_DAYS },
    migrateOnStart: e.MIGRATE_ON_START,
    production: e.NODE_ENV === "production",
    logLevel: e.LOG_LEVEL,
    unknownVariables,
  };
  return deepFreeze(config);
}

function databaseConfig(e: Env): DatabaseConfig {
  if (e.DATABASE_URL.startsWith("sqlite:")) {
    return {
      dialect: "sqlite",
      path: resolve(e.DATABASE_URL.slice("sqlite:".length)),
      startupRetryMs: e.DATABASE_STARTUP_RETRY_MS,
    };
  }
  const dbUrl = new URL(e.DATABASE_URL);
  return {
    dialect: "mysql",
    host: dbUrl.hostname.replace(/^\[(.*)\]$/, "$1"),
    port: dbUrl.port ? Number(dbUrl.port) : 3306,
    user: decodeURIComponent(dbUrl.username) || "root",
    password: decodeURIComponent(dbUrl.password),
    database: dbUrl.pathname.slice(1),
    poolSize: e.DATABASE_POOL_SIZE,
    queryTimeoutMs: e.DATABASE_QUERY_TIMEOUT_MS,
    connectTimeoutMs: e.DATABASE_CONNECT_TIMEOUT_MS,
    startupRetryMs: e.DATABASE_STARTUP_RETRY_MS,
    acquireTimeoutMs: e.DATABASE_ACQUIRE_TIMEOUT_MS,
    backgroundPoolSize: e.DATABASE_BACKGROUND_POOL_SIZE,
  };
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === "object" && !(value instanceof Map)) {
    for (const inner of Object.values(value)) deepFreeze(inner);
    Object.freeze(value);
  }
  return value;
}

/** Where the database is, without credentials, for logs. */
export function describeDatabase(database: DatabaseConfig): string {
  return database.dialect === "sqlite"
    ? `sqlite:${database.path}`
    : `mysql://${database.host}:${database.port}/${database.database}`;
}
