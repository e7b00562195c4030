import { z } from "zod";

/**
 * One zod schema per environment variable Fleetvisor reads, and the checks between them.
 * config.ts turns the result into the typed Config.
 */

/** The embedded default: a file under ./data, for one replica. */
export const DEFAULT_DATABASE_URL = "sqlite:./data/fleetvisor.db";

const MIN_BOOTSTRAP_TOKEN_LENGTH = 16;

export const LOG_LEVELS = ["fatal", "error", "warn", "info", "debug", "trace", "silent"] as const;
const NODE_ENVS = ["development", "production", "test"] as const;

/** One of `values`, named in the message when it is not. */
/** The webhook bodies Fleetvisor can send (ALERT_WEBHOOK_FORMAT). */
export const ALERT_WEBHOOK_FORMATS = ["json", "slack"] as const;

const oneOf = <const T extends readonly [string, ...string[]]>(values: T) =>
  z
    .string()
    .trim()
    .refine((v): v is T[number] => values.includes(v), `must be one of ${values.join(", ")}`)
    .transform((v) => v as T[number]);

/** A secret that clients send as `Authorization: Bearer <it>`. */
const bearerSecret = z
  .string()
  .min(MIN_BOOTSTRAP_TOKEN_LENGTH, `must be at least ${MIN_BOOTSTRAP_TOKEN_LENGTH} characters`)
  .regex(/^[\x21-\x7e]+$/, "must be printable ASCII without spaces");

const integer = (min: number, max: number) =>
  z
    .string()
    .trim()
    .regex(/^-?\d+$/, "must be a whole number")
    .transform(Number)
    .pipe(z.number().min(min, `must be at least ${min}`).max(max, `must be at most ${max}`));

const boolean = z
  .string()
  .trim()
  .toLowerCase()
  .refine((v) => ["true", "false", "1", "0", "yes", "no"].includes(v), "must be true or false")
  .transform((v) => v === "true" || v === "1" || v === "yes");

/** Proxies that may name a client in `X-Forwarded-For`: their number, or all of them. */
export const MAX_TRUSTED_PROXY_HOPS = 32;

/**
 * `TRUST_PROXY`: `false` (the header is ignored), `true` (every proxy is trusted: the
 * leftmost address), or how many proxies stand in front, as a number of hops; `0` is
 * `false`. Becomes the number of hops, `Infinity` for `true`.
 */
const trustProxy = z
  .string()
  .trim()
  .toLowerCase()
  .refine(
    (v) => ["true", "false", "yes", "no"].includes(v) || (/^\d{1,3}$/.test(v) && Number(v) <= MAX_TRUSTED_PROXY_HOPS),
    `must be false, true, or the number of proxies in front (0–${MAX_TRUSTED_PROXY_HOPS})`,
  )
  .transform((v) => (v === "true" || v === "yes" ? Infinity : v === "false" || v === "no" ? 0 : Number(v)));

const httpUrl = z
  .string()
  .trim()
  .refine((v) => URL.canParse(v) && /^https?:$/.test(new URL(v).protocol), "must be an http(s):// URL")
  // fetch refuses user:password@ in a URL; a token belongs in the path or query.
  .refine((v) => !URL.canParse(v) || (!new URL(v).username && !new URL(v).password), "must not contain user:password@");

const redisUrl = z
  .string()
  .trim()
  .refine((v) => URL.canParse(v) && /^rediss?:$/.test(new URL(v).protocol), "must be a redis:// or rediss:// URL");

const databaseUrl = z
  .string()
  .trim()
  .default(DEFAULT_DATABASE_URL)
  .superRefine((value, ctx) => {
    if (value.startsWith("sqlite:")) {
      if (value.length === "sqlite:".length) {
        ctx.addIssue({ code: "custom", message: "must name a file after sqlite:, e.g. sqlite:./data/fleetvisor.db" });
      }
      return;
    }
    if (!URL.canParse(value)) {
      ctx.addIssue({ code: "custom", message: "must be a URL like mysql://user:password@host:3306/fleetvisor" });
      return;
    }
    const url = new URL(value);
    if (url.protocol !== "mysql:" && url.protocol !== "mariadb:") {
      ctx.addIssue({ code: "custom", message: `must use mysql:// or sqlite: (got ${url.protocol}//)` });
    }
    if (!url.hostname) ctx.addIssue({ code: "custom", message: "must name a host" });
    if (!/^\/[A-Za-z0-9_$-]{1,64}$/.test(url.pathname)) {
      ctx.addIssue({ code: "custom", message: "must name a database, e.g. mysql://user@host:3306/fleetvisor" });
    }
  });

/** One schema per variable, so that every variable is checked even when others are invalid. */
export const variables = {
  DATABASE_URL: databaseUrl,
  DATABASE_POOL_SIZE: integer(1, 1000).default(10),
  DATABASE_QUERY_TIMEOUT_MS: integer(100, 600_000).default(10_000),
  DATABASE_CONNECT_TIMEOUT_MS: integer(100, 600_000).default(5_000),
  DATABASE_STARTUP_RETRY_MS: integer(0, 3_600_000).default(60_000),
  DATABASE_ACQUIRE_TIMEOUT_MS: integer(50, 600_000).default(2_000),
  DATABASE_BACKGROUND_POOL_SIZE: integer(1, 100).default(2),
  AGENT_CALL_TIMEOUT_MS: integer(100, 600_000).default(2_000),
  HOST: z.string().trim().min(1, "must not be empty").default("0.0.0.0"),
  PORT: integer(0, 65535).default(4000),
  FLEETVISOR_BOOTSTRAP_ADMIN_TOKEN: bearerSecret.optional(),
  TOKEN_CACHE_TTL_MS: integer(0, 300_000).default(5_000),
  AUTH_FAILURES_PER_MINUTE: integer(0, 1_000_000).default(20),
  TRUST_PROXY: trustProxy.default(0),
  WS_MAX_SUBSCRIPTIONS: integer(1, 100_000).default(50),
  WS_MAX_CONNECTIONS_PER_TOKEN: integer(1, 1_000_000).default(200),
  WS_TOKEN_RECHECK_SECONDS: integer(1, 3_600).default(10),
  HEARTBEAT_INTERVAL_SECONDS: integer(1, 86_400).default(30),
  HEARTBEAT_STALE_SECONDS: integer(2, 604_800).default(90),
  HEARTBEAT_CHECK_INTERVAL_SECONDS: integer(0, 3_600).optional(),
  SUPERVISOR_USERNAME: z.string().min(1, "must not be empty").optional(),
  SUPERVISOR_PASSWORD: z.string().min(1, "must not be empty").optional(),
  SUPERVISOR_CREDENTIALS_FILE: z.string().trim().min(1, "must not be empty").optional(),
  SUPERVISOR_TIMEOUT_MS: integer(50, 600_000).default(3_000),
  SUPERVISOR_CONTROL_TIMEOUT_MS: integer(1_000, 3_600_000).default(60_000),
  SUPERVISOR_POLL_INTERVAL_SECONDS: integer(0, 3_600).default(5),
  SUPERVISOR_LISTENER_FRESH_SECONDS: integer(1, 86_400).default(60),
  SUPERVISOR_POLL_INTERVAL_WITH_LISTENER_SECONDS: integer(1, 86_400).default(60),
  SUPERVISOR_POLL_CONCURRENCY: integer(1, 1_000).default(16),
  SUPERVISOR_UNREACHABLE_POLLS: integer(1, 1_000).default(3),
  SUPERVISOR_MAX_RESPONSE_BYTES: integer(256 * 1024, 1024 * 1024 * 1024).default(16 * 1024 * 1024),
  REDIS_URL: redisUrl.optional(),
  METRICS_TOKEN: bearerSecret.optional(),
  ALERT_WEBHOOK_URL: httpUrl.optional(),
  ALERT_WEBHOOK_TIMEOUT_MS: integer(100, 120_000).default(5_000),
  ALERT_WEBHOOK_FORMAT: oneOf(ALERT_WEBHOOK_FORMATS).default("json"),
  FLAP_THRESHOLD: integer(1, 10_000).default(5),
  FLAP_WINDOW_SECONDS: integer(1, 86_400).default(300),
  ROLLOUT_LEASE_SECONDS: integer(2, 3_600).default(15),
  HEALING_CHECK_INTERVAL_MS: integer(0, 3_600_000).default(5_000),
  MIGRATE_ON_START: boolean.default(true),
  EVENT_RETENTION_DAYS: integer(0, 36_500).default(30),
  NODE_ENV: oneOf(NODE_ENVS).default("development"),
  LOG_LEVEL: oneOf(LOG_LEVELS).default("info"),
};

export type Env = { [K in keyof typeof variables]: z.output<(typeof variables)[K]> };

/**
 * The name of every variable Fleetvisor reads: the configuration contract that deployment
 * files (docker-compose.yml) are checked against.
 */
export const CONFIG_VARIABLES: readonly string[] = Object.freeze(Object.keys(variables));

/**
 * Checks between variables, made only on the variables that are valid on their own.
 * Each returns the variable to blame and what is wrong.
 */
export function crossProblems(env: Partial<Env>): { variable: string; message: string }[] {
  const problems: { variable: string; message: string }[] = [];
  if (env.REDIS_URL !== undefined && env.DATABASE_URL?.startsWith("sqlite:")) {
    problems.push({
      variable: "REDIS_URL",
      message:
        "is for several replicas, and the embedded SQLite database serves one replica only; " +
        "set DATABASE_URL=mysql://… to run replicas, or unset REDIS_URL",
    });
  }
  if (
    env.HEARTBEAT_STALE_SECONDS !== undefined &&
    env.HEARTBEAT_INTERVAL_SECONDS !== undefined &&
    env.HEARTBEAT_STALE_SECONDS <= env.HEARTBEAT_INTERVAL_SECONDS
  ) {
    problems.push({
      variable: "HEARTBEAT_STALE_SECONDS",
      message: `must be greater than HEARTBEAT_INTERVAL_SECONDS (${env.HEARTBEAT_INTERVAL_SECONDS})`,
    });
  }
  // A default username alone is no default pair; next to a credentials file it is allowed
  // (compose files default the guide's `admin`), and the file is then the only source.
  const usernameAloneWithFile = env.SUPERVISOR_PASSWORD === undefined && env.SUPERVISOR_CREDENTIALS_FILE !== undefined;
  if ((env.SUPERVISOR_USERNAME === undefined) !== (env.SUPERVISOR_PASSWORD === undefined) && !usernameAloneWithFile) {
    const [missing, present] =
      env.SUPERVISOR_USERNAME === undefined
        ? ["SUPERVISOR_USERNAME", "SUPERVISOR_PASSWORD"]
        : ["SUPERVISOR_PASSWORD", "SUPERVISOR_USERNAME"];
    problems.push({ variable: missing, message: `must be set when ${present} is` });
  }
  if (
    env.SUPERVISOR_CONTROL_TIMEOUT_MS !== undefined &&
    env.SUPERVISOR_TIMEOUT_MS !== undefined &&
    env.SUPERVISOR_CONTROL_TIMEOUT_MS <= env.SUPERVISOR_TIMEOUT_MS
  ) {
    problems.push({
      variable: "SUPERVISOR_CONTROL_TIMEOUT_MS",
      message: `must be greater than SUPERVISOR_TIMEOUT_MS (${env.SUPERVISOR_TIMEOUT_MS})`,
    });
  }
  return problems;
}
