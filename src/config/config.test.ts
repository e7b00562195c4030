import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { CONFIG_VARIABLES, ConfigError, loadConfig } from "./config.js";
import { closestName, editDistance } from "./unknown-variables.js";

const BASE = { DATABASE_URL: "mysql://fleet:s3cret@db.internal:3307/fleetvisor" };

function problems(env: Record<string, string>): string[] {
  try {
    loadConfig(env);
  } catch (error) {
    if (error instanceof ConfigError) return [...error.problems];
    throw error;
  }
  throw new Error("expected a ConfigError");
}

function configError(env: Record<string, string>): ConfigError {
  try {
    loadConfig(env);
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
  throw new Error("expected a ConfigError");
}

// Credentials files hold passwords: none outlives this file.
const tempDirs: string[] = [];
afterAll(() => {
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
});

function tempFile(content: string): string {
  const dir = mkdtempSync(join(tmpdir(), "fv-config-"));
  tempDirs.push(dir);
  const path = join(dir, "credentials.json");
  writeFileSync(path, content);
  return path;
}

describe("loadConfig", () => {
  it("applies the documented defaults", () => {
    const config = loadConfig(BASE);
    expect(config.http).toEqual({ host: "0.0.0.0", port: 4000, trustedProxyHops: 0 });
    expect(config.auth.failuresPerMinute).toBe(20);
    expect(config.webSocket).toEqual({ maxSubscriptions: 50, maxConnectionsPerToken: 200, tokenRecheckMs: 10_000 });
    expect(config.heartbeat).toEqual({
      agentCallTimeoutMs: 2000,
      intervalSeconds: 30,
      staleSeconds: 90,
      checkIntervalSeconds: 10,
    });
    expect(config.supervisor.timeoutMs).toBe(3000);
    expect(config.supervisor.pollIntervalSeconds).toBe(5);
    expect(config.migrateOnStart).toBe(true);
    expect(config.events).toEqual({ retentionDays: 30 });
    expect(config.production).toBe(false);
    expect(config.redisUrl).toBeUndefined();
    expect(config.database).toMatchObject({
      host: "db.internal",
      port: 3307,
      user: "fleet",
      password: "s3cret",
      database: "fleetvisor",
      acquireTimeoutMs: 2000,
      backgroundPoolSize: 2,
    });
  });

  it.each([
    ["7", 7],
    ["0", 0],
  ])("EVENT_RETENTION_DAYS=%s keeps events %d days (0: for ever)", (value, days) => {
    expect(loadConfig({ ...BASE, EVENT_RETENTION_DAYS: value }).events.retentionDays).toBe(days);
  });

  it.each(["-1", "30d", "36501"])("EVENT_RETENTION_DAYS=%s is refused, by name", (value) => {
    expect(problems({ EVENT_RETENTION_DAYS: value })).toEqual([
      expect.stringMatching(new RegExp(`^EVENT_RETENTION_DAYS must .*\\(got "${value}"\\)$`)),
    ]);
  });

  it("lets explicit values win over the environment", () => {
    expect(loadConfig({ ...BASE, PORT: "5000" }, { PORT: "6000" }).http.port).toBe(6000);
  });

  it("reads every documented variable", () => {
    const config = loadConfig({
      ...BASE,
      HOST: "127.0.0.1",
      PORT: "0",
      FLEETVISOR_BOOTSTRAP_ADMIN_TOKEN: "a-long-enough-admin-token",
      HEARTBEAT_INTERVAL_SECONDS: "10",
      HEARTBEAT_STALE_SECONDS: "25",
      SUPERVISOR_USERNAME: "admin",
      SUPERVISOR_PASSWORD: "pw",
      SUPERVISOR_TIMEOUT_MS: "1500",
      SUPERVISOR_POLL_INTERVAL_SECONDS: "2",
      REDIS_URL: "redis://127.0.0.1:6379",
      ALERT_WEBHOOK_URL: "https://alerts.example/hook",
      MIGRATE_ON_START: "false",
      NODE_ENV: "production",
      METRICS_TOKEN: "a-long-enough-metrics-token",
      AUTH_FAILURES_PER_MINUTE: "5",
      TRUST_PROXY: "2",
      WS_MAX_SUBSCRIPTIONS: "10",
      WS_MAX_CONNECTIONS_PER_TOKEN: "3",
      WS_TOKEN_RECHECK_SECONDS: "2",
    });
    expect(config).toMatchObject({
      http: { host: "127.0.0.1", port: 0, trustedProxyHops: 2 },
      auth: { bootstrapAdminToken: "a-long-enough-admin-token", failuresPerMinute: 5 },
      webSocket: { maxSubscriptions: 10, maxConnectionsPerToken: 3, tokenRecheckMs: 2000 },
      heartbeat: { intervalSeconds: 10, staleSeconds: 25, checkIntervalSeconds: 8 },
      supervisor: {
        defaultCredentials: { username: "admin", password: "pw" },
        timeoutMs: 1500,
        pollIntervalSeconds: 2,
      },
      redisUrl: "redis://127.0.0.1:6379",
      metrics: { token: "a-long-enough-metrics-token" },
      alerts: { webhookUrl: "https://alerts.example/hook", webhookTimeoutMs: 5000 },
      migrateOnStart: false,
      production: true,
    });
  });

  it("reports every invalid value at once, each by its variable name", () => {
    const found = problems({
      DATABASE_URL: "postgres://x/y",
      PORT: "http",
      HEARTBEAT_INTERVAL_SECONDS: "0",
      SUPERVISOR_TIMEOUT_MS: "-5",
      REDIS_URL: "localhost:6379",
      MIGRATE_ON_START: "maybe",
      LOG_LEVEL: "loud",
    });
    const variables = found.map((p) => p.split(" ")[0]);
    expect(variables.sort()).toEqual(
      [
        "DATABASE_URL",
        "HEARTBEAT_INTERVAL_SECONDS",
        "LOG_LEVEL",
        "MIGRATE_ON_START",
        "PORT",
        "REDIS_URL",
        "SUPERVISOR_TIMEOUT_MS",
      ].sort(),
    );
    expect(found.find((p) => p.startsWith("PORT"))).toBe('PORT must be a whole number (got "http")');
    expect(found.find((p) => p.startsWith("HEARTBEAT_INTERVAL_SECONDS"))).toBe(
      'HEARTBEAT_INTERVAL_SECONDS must be at least 1 (got "0")',
    );
  });

  it.each([
    ["false", 0],
    ["0", 0],
    ["no", 0],
    ["1", 1],
    ["3", 3],
    ["true", Infinity],
    ["TRUE", Infinity],
  ])("reads TRUST_PROXY=%s as %s proxies trusted", (value, hops) => {
    expect(loadConfig({ ...BASE, TRUST_PROXY: value }).http.trustedProxyHops).toBe(hops);
  });

  it("names what TRUST_PROXY may be", () => {
    for (const value of ["-1", "33", "10.0.0.1", "loopback"]) {
      expect(problems({ ...BASE, TRUST_PROXY: value })).toEqual([
        `TRUST_PROXY must be false, true, or the number of proxies in front (0–32) (got "${value}")`,
      ]);
    }
  });

  it("without DATABASE_URL, uses the embedded SQLite file under ./data; sqlite:PATH names another", () => {
    expect(loadConfig({}).database).toEqual({
      dialect: "sqlite",
      path: resolve("data/fleetvisor.db"),
      startupRetryMs: 60_000,
    });
    expect(loadConfig({ DATABASE_URL: "sqlite:/var/lib/fleetvisor/registry.db" }).database).toMatchObject({
      dialect: "sqlite",
      path: "/var/lib/fleetvisor/registry.db",
    });
    expect(problems({ DATABASE_URL: "sqlite:" })).toEqual([
      "DATABASE_URL must name a file after sqlite:, e.g. sqlite:./data/fleetvisor.db",
    ]);
    expect(problems({ DATABASE_URL: "postgres://db/x" })).toEqual([
      "DATABASE_URL must use mysql:// or sqlite: (got postgres://)",
    ]);
  });

  it("refuses REDIS_URL with the embedded database, which serves one replica", () => {
    expect(problems({ REDIS_URL: "redis://127.0.0.1:6379" })).toEqual([
      expect.stringMatching(
        /^REDIS_URL is for several replicas, and the embedded SQLite database serves one replica only/,
      ),
    ]);
    expect(() => loadConfig({ ...BASE, REDIS_URL: "redis://127.0.0.1:6379" })).not.toThrow();
  });

  it("checks values against each other", () => {
    expect(problems({ ...BASE, HEARTBEAT_INTERVAL_SECONDS: "30", HEARTBEAT_STALE_SECONDS: "30" })).toEqual([
      'HEARTBEAT_STALE_SECONDS must be greater than HEARTBEAT_INTERVAL_SECONDS (30) (got "30")',
    ]);
    expect(problems({ ...BASE, SUPERVISOR_USERNAME: "admin" })).toEqual([
      "SUPERVISOR_PASSWORD must be set when SUPERVISOR_USERNAME is",
    ]);
  });

  it("never echoes a secret in a problem", () => {
    const found = problems({
      DATABASE_URL: "mysql://u:hunter2@",
      FLEETVISOR_BOOTSTRAP_ADMIN_TOKEN: "short-secret",
      METRICS_TOKEN: "short metrics",
      PORT: "x",
    });
    const text = found.join("\n");
    expect(text).toContain("DATABASE_URL");
    expect(text).toContain("FLEETVISOR_BOOTSTRAP_ADMIN_TOKEN must be at least 16 characters");
    expect(text).toContain("METRICS_TOKEN must be at least 16 characters");
    expect(text).not.toContain("hunter2");
    expect(text).not.toContain("short-secret");
    expect(text).not.toContain("short metrics");
  });

  it("refuses credentials in the webhook URL, and echoes neither it nor REDIS_URL", () => {
    const found = problems({
      ...BASE,
      ALERT_WEBHOOK_URL: "https://ops:hook-pass@alerts.example/hook",
      REDIS_URL: "redis//:redis-pass@redis:6379",
    });
    expect(found.sort()).toEqual([
      "ALERT_WEBHOOK_URL must not contain user:password@",
      "REDIS_URL must be a redis:// or rediss:// URL",
    ]);
  });

  it("reads per-host supervisord credentials from SUPERVISOR_CREDENTIALS_FILE", () => {
    const path = tempFile(
      JSON.stringify({ "sv-1:9101": { username: "a", password: "b" }, "SV-2:9102": { username: "c", password: "d" } }),
    );
    const config = loadConfig({ ...BASE, SUPERVISOR_CREDENTIALS_FILE: path });
    expect(config.supervisor.credentialsByHost.get("sv-1:9101")).toEqual({ username: "a", password: "b" });
    expect(config.supervisor.credentialsByHost.get("sv-2:9102")).toEqual({ username: "c", password: "d" });
  });

  it("takes a credentials file alone, without SUPERVISOR_PASSWORD, even beside a default username", () => {
    const path = tempFile(JSON.stringify({ "sv-1:9101": { username: "a", password: "b" } }));
    for (const env of [
      { ...BASE, SUPERVISOR_CREDENTIALS_FILE: path },
      // What docker-compose.yml passes when .env gives only the file: the guide's `admin`, no password.
      { ...BASE, SUPERVISOR_CREDENTIALS_FILE: path, SUPERVISOR_USERNAME: "admin", SUPERVISOR_PASSWORD: "" },
    ]) {
      const config = loadConfig(env);
      expect(config.supervisor.defaultCredentials).toBeUndefined();
      expect(config.supervisor.credentialsByHost.get("sv-1:9101")).toEqual({ username: "a", password: "b" });
    }
    // A password still needs its username, file or not.
    expect(problems({ ...BASE, SUPERVISOR_CREDENTIALS_FILE: path, SUPERVISOR_PASSWORD: "pw" })).toEqual([
      "SUPERVISOR_USERNAME must be set when SUPERVISOR_PASSWORD is",
    ]);
  });

  it("names what is wrong with a credentials file without showing its passwords", () => {
    expect(problems({ ...BASE, SUPERVISOR_CREDENTIALS_FILE: "/nonexistent/creds.json" })).toEqual([
      "SUPERVISOR_CREDENTIALS_FILE cannot be read: ENOENT /nonexistent/creds.json",
    ]);
    const notJson = tempFile("{ nope");
    expect(problems({ ...BASE, SUPERVISOR_CREDENTIALS_FILE: notJson })).toEqual([
      `SUPERVISOR_CREDENTIALS_FILE is not valid JSON: ${notJson}`,
    ]);
    const wrongShape = tempFile(JSON.stringify({ "sv-1:9101": { username: "a", password: "topsecret", extra: 1 } }));
    const found = problems({ ...BASE, SUPERVISOR_CREDENTIALS_FILE: wrongShape });
    expect(found).toHaveLength(1);
    expect(found[0]).toMatch(/^SUPERVISOR_CREDENTIALS_FILE at sv-1:9101/);
    expect(found[0]).not.toContain("topsecret");
  });

  it("accepts only development, production and test as NODE_ENV, and names it otherwise", () => {
    expect(loadConfig({ ...BASE, NODE_ENV: "test" }).production).toBe(false);
    expect(loadConfig({ ...BASE, NODE_ENV: "production" }).production).toBe(true);
    expect(problems({ ...BASE, NODE_ENV: "prod" })).toEqual([
      'NODE_ENV must be one of development, production, test (got "prod")',
    ]);
    expect(problems({ ...BASE, LOG_LEVEL: "loud" })).toEqual([
      'LOG_LEVEL must be one of fatal, error, warn, info, debug, trace, silent (got "loud")',
    ]);
  });

  it("reads the flap settings and the webhook format, with their defaults, and names bad ones together", () => {
    expect(loadConfig(BASE)).toMatchObject({
      alerts: { webhookFormat: "json" },
      incidents: { flapThreshold: 5, flapWindowSeconds: 300 },
    });
    expect(
      loadConfig({ ...BASE, ALERT_WEBHOOK_FORMAT: "slack", FLAP_THRESHOLD: "3", FLAP_WINDOW_SECONDS: "20" }),
    ).toMatchObject({ alerts: { webhookFormat: "slack" }, incidents: { flapThreshold: 3, flapWindowSeconds: 20 } });
    const found = problems({ ...BASE, ALERT_WEBHOOK_FORMAT: "xml", FLAP_THRESHOLD: "0", FLAP_WINDOW_SECONDS: "soon" });
    expect(found).toHaveLength(3);
    expect(found[0]).toBe('ALERT_WEBHOOK_FORMAT must be one of json, slack (got "xml")');
    expect(found[1]).toMatch(/^FLAP_THRESHOLD /);
    expect(found[2]).toMatch(/^FLAP_WINDOW_SECONDS /);
  });

  it.each([
    ["FLEETVISOR_BOOTSTRAP_TOKEN", "FLEETVISOR_BOOTSTRAP_ADMIN_TOKEN"],
    ["SUPERVISOR_PASWORD", "SUPERVISOR_PASSWORD"],
    ["SUPERVISOR_USER", "SUPERVISOR_USERNAME"],
    ["HEARTBEAT_STALE_SECS", "HEARTBEAT_STALE_SECONDS"],
    ["REDIS_URI", "REDIS_URL"],
    ["ALERT_WEBHOOK", "ALERT_WEBHOOK_URL"],
    ["DATABASE_HOST", "DATABASE_URL"],
    ["database_url", "DATABASE_URL"],
    ["LOG_LEVL", "LOG_LEVEL"],
    ["MIGRATE_ON_STARTUP", "MIGRATE_ON_START"],
    ["TOKEN_CACHE_TTL", "TOKEN_CACHE_TTL_MS"],
    ["METRICS_TOKN", "METRICS_TOKEN"],
    ["WS_MAX_SUBSCRIPTION", "WS_MAX_SUBSCRIPTIONS"],
    ["AUTH_FAILURES_PER_MIN", "AUTH_FAILURES_PER_MINUTE"],
    ["TRUST_PROXIES", "TRUST_PROXY"],
  ])("warns about %s, suggesting %s, without showing its value", (variable, suggestion) => {
    const config = loadConfig({ ...BASE, [variable]: "value-never-shown" });
    expect(config.unknownVariables).toEqual([
      {
        variable,
        suggestion,
        message: `${variable} is not a Fleetvisor variable and is ignored; did you mean ${suggestion}?`,
      },
    ]);
  });

  it("says so when no known name is close", () => {
    expect(loadConfig({ ...BASE, FLEETVISOR_COLOUR: "blue" }).unknownVariables).toEqual([
      {
        variable: "FLEETVISOR_COLOUR",
        suggestion: undefined,
        message:
          "FLEETVISOR_COLOUR is not a Fleetvisor variable and is ignored (the README's Configuration lists them)",
      },
    ]);
  });

  it("stays quiet about variables that are someone else's", () => {
    const config = loadConfig({
      ...BASE,
      // Common variables without Fleetvisor's prefixes.
      HOME: "/root",
      PATH: "/usr/bin",
      HOSTNAME: "fleetvisor-1",
      LANG: "C.UTF-8",
      npm_config_cache: "/tmp",
      MYSQL_PASSWORD: "x",
      // supervisord sets these for every program it runs, Fleetvisor included.
      SUPERVISOR_ENABLED: "1",
      SUPERVISOR_PROCESS_NAME: "fleetvisor",
      SUPERVISOR_GROUP_NAME: "fleetvisor",
      SUPERVISOR_SERVER_URL: "unix:///run/supervisor.sock",
      // The registry clients' and the event listener's, in a shared environment.
      FLEETVISOR_URL: "http://fleetvisor:4000",
      FLEETVISOR_TOKEN_FILE: "/run/secrets/agent",
      FLEETVISOR_SUPERVISOR: "sv-1:9101",
      FLEETVISOR_CONFIG_RETRY_SECONDS: "30",
      // Kubernetes' service links for services named redis and database.
      REDIS_SERVICE_HOST: "10.0.0.7",
      REDIS_SERVICE_PORT: "6379",
      REDIS_PORT: "tcp://10.0.0.7:6379",
      REDIS_PORT_6379_TCP: "tcp://10.0.0.7:6379",
      REDIS_PORT_6379_TCP_ADDR: "10.0.0.7",
      DATABASE_SERVICE_PORT_MYSQL: "3306",
      // Empty counts as unset.
      FLEETVISOR_TYPO: "",
    });
    expect(config.unknownVariables).toEqual([]);
  });

  it("still reports a DATABASE_PORT that is not a Kubernetes service link", () => {
    expect(loadConfig({ ...BASE, DATABASE_PORT: "3306" }).unknownVariables.map((u) => u.variable)).toEqual([
      "DATABASE_PORT",
    ]);
  });

  it("names a misspelled variable next to the problem it causes", () => {
    const error = configError({ ...BASE, SUPERVISOR_USERNAME: "admin", SUPERVISOR_PASWORD: "hunter2-secret" });
    expect(error.problems).toEqual(["SUPERVISOR_PASSWORD must be set when SUPERVISOR_USERNAME is"]);
    expect(error.message).toBe(
      "invalid configuration:\n" +
        "  - SUPERVISOR_PASSWORD must be set when SUPERVISOR_USERNAME is\n" +
        "also:\n" +
        "  - SUPERVISOR_PASWORD is not a Fleetvisor variable and is ignored; did you mean SUPERVISOR_PASSWORD?",
    );
    expect(error.message).not.toContain("hunter2-secret");
  });

  it("names every variable it reads in CONFIG_VARIABLES", () => {
    expect(CONFIG_VARIABLES).toContain("DATABASE_URL");
    expect(CONFIG_VARIABLES).toContain("METRICS_TOKEN");
    expect(CONFIG_VARIABLES).toContain("SUPERVISOR_CREDENTIALS_FILE");
    expect(new Set(CONFIG_VARIABLES).size).toBe(CONFIG_VARIABLES.length);
  });

  it("returns a frozen configuration", () => {
    const config = loadConfig(BASE);
    expect(Object.isFrozen(config)).toBe(true);
    expect(Object.isFrozen(config.database)).toBe(true);
  });
});

describe("editDistance and closestName", () => {
  it.each([
    ["PASWORD", "PASSWORD", 1],
    ["TIEMOUT", "TIMEOUT", 1],
    ["URL", "URL", 0],
    ["", "ABC", 3],
    ["HOST", "URL", 4],
  ])("%s → %s is %i", (a, b, distance) => {
    expect(editDistance(a, b)).toBe(distance);
    expect(editDistance(b, a)).toBe(distance);
  });

  it("suggests nothing when every name is far", () => {
    expect(closestName("FLEETVISOR_COLOUR", ["DATABASE_URL", "PORT"])).toBeUndefined();
    expect(closestName("REDIS_URI", ["DATABASE_URL", "REDIS_URL"])).toBe("REDIS_URL");
  });
});
