import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ConfigError, loadConfig } from "./config.js";

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

function tempFile(content: string): string {
  const path = join(mkdtempSync(join(tmpdir(), "fv-config-")), "credentials.json");
  writeFileSync(path, content);
  return path;
}

describe("loadConfig", () => {
  it("applies the documented defaults", () => {
    const config = loadConfig(BASE);
    expect(config.http).toEqual({ host: "0.0.0.0", port: 4000 });
    expect(config.heartbeat).toEqual({
      agentCallTimeoutMs: 2500,
      intervalSeconds: 30,
      staleSeconds: 90,
      checkIntervalSeconds: 10,
    });
    expect(config.supervisor.timeoutMs).toBe(3000);
    expect(config.supervisor.pollIntervalSeconds).toBe(5);
    expect(config.migrateOnStart).toBe(true);
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
    });
    expect(config).toMatchObject({
      http: { host: "127.0.0.1", port: 0 },
      auth: { bootstrapAdminToken: "a-long-enough-admin-token" },
      heartbeat: { intervalSeconds: 10, staleSeconds: 25, checkIntervalSeconds: 8 },
      supervisor: {
        defaultCredentials: { username: "admin", password: "pw" },
        timeoutMs: 1500,
        pollIntervalSeconds: 2,
      },
      redisUrl: "redis://127.0.0.1:6379",
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

  it("requires DATABASE_URL and says so", () => {
    expect(problems({})).toEqual(["DATABASE_URL is required (not set)"]);
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
      PORT: "x",
    });
    const text = found.join("\n");
    expect(text).toContain("DATABASE_URL");
    expect(text).toContain("FLEETVISOR_BOOTSTRAP_ADMIN_TOKEN must be at least 16 characters");
    expect(text).not.toContain("hunter2");
    expect(text).not.toContain("short-secret");
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

  it("returns a frozen configuration", () => {
    const config = loadConfig(BASE);
    expect(Object.isFrozen(config)).toBe(true);
    expect(Object.isFrozen(config.database)).toBe(true);
  });
});
