import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Principal } from "../src/auth/principal.js";
import { ManualClock } from "../src/clock.js";
import { loadConfig } from "../src/config/config.js";
import { openDatabases } from "../src/db/connect.js";
import { DatabaseHealth } from "../src/db/database-health.js";
import type { OpenDatabases } from "../src/db/database.js";
import { runMigrations } from "../src/db/migrate.js";
import { Role } from "../src/domain/role.js";
import { MemoryEventBus } from "../src/events/event-bus.js";
import { EventLogService } from "../src/events/event-log.service.js";
import { HEALER_PRINCIPAL } from "../src/healing/healer.js";
import type { HealingPolicy } from "../src/healing/healing-policy.js";
import { HealingStore, restartLeaseFor } from "../src/healing/healing-store.js";
import { createLogger } from "../src/logger.js";
import { Transitions } from "../src/registry/transitions.js";
import { createTestDatabase, type TestDatabase } from "./support/database.js";

/**
 * The healer's claims against the real database (MariaDB, or SQLite with DB=sqlite): who
 * may act on a run after a failed restart, and what a quarantine belongs to.
 */

const silent = createLogger("silent");
const operator: Principal = { tokenId: 3, name: "ops", role: Role.OPERATOR, processPattern: null };
const clock = new ManualClock(new Date("2026-03-04T05:06:07.000Z"));
const POLICY: HealingPolicy = {
  namePattern: "*",
  restartWhenUnresponsiveAfterSeconds: 10,
  graceAfterStartSeconds: 0,
  maxRestarts: 2,
  perSeconds: 600,
};

let db: TestDatabase;
let databases: OpenDatabases;
let store: HealingStore;

beforeAll(async () => {
  db = await createTestDatabase("healing_store");
  const config = loadConfig({ DATABASE_URL: db.url, LOG_LEVEL: "silent" });
  await runMigrations(config.database, silent);
  databases = await openDatabases(config.database, { health: new DatabaseHealth(clock), logger: silent });
  const events = new EventLogService(new MemoryEventBus(silent), silent, clock);
  store = new HealingStore(databases.requests, new Transitions(databases.requests, events, clock), clock);
});

afterAll(async () => {
  await databases?.close();
  await db?.drop();
});

/** A registry row named `name`; returns it as the healer reads it. */
async function createProcess(name: string): Promise<{ name: string; id: number }> {
  await db.query("INSERT INTO kb_server_processes (process_name, port, status) VALUES (?, 8000, 'running')", [name]);
  const [row] = await db.query<{ id: number }>("SELECT id FROM kb_server_processes WHERE process_name = ?", [name]);
  return { name, id: Number(row!.id) };
}

async function eventsOf(name: string, kind: string): Promise<{ actor: string; message: string }[]> {
  return db.query(
    "SELECT actor, message FROM fleetvisor_process_events WHERE process_name = ? AND kind = ? ORDER BY id",
    [name, kind],
  );
}

const claim = (process: { name: string; id: number }, run: string, replica: string) =>
  store.claim(process, run, POLICY, replica, HEALER_PRINCIPAL, "supervisord says RUNNING, no heartbeat");

describe("HealingStore", () => {
  it("a run whose restart failed is claimed again by one replica, and failed attempts spend the budget", async () => {
    const hung = await createProcess("store-hung");
    expect(await claim(hung, "100@1", "replica-a")).toEqual({ action: "RESTART", restartsBefore: 0, attempt: 1 });
    // While the restart is under way (or done), nobody else acts on that run.
    expect(await claim(hung, "100@1", "replica-b")).toEqual({ action: "NONE" });

    await store.restartFailed(hung.name, "100@1", 1);
    // Two replicas find the same run still hung: one of them claims the second attempt.
    const both = await Promise.all([claim(hung, "100@1", "replica-a"), claim(hung, "100@1", "replica-b")]);
    expect(both).toContainEqual({ action: "RESTART", restartsBefore: 1, attempt: 2 });
    expect(both).toContainEqual({ action: "NONE" });

    // That one failed too: two attempts of a budget of two, so the third is a quarantine.
    await store.restartFailed(hung.name, "100@1", 2);
    expect(await claim(hung, "100@1", "replica-b")).toEqual({ action: "QUARANTINE", restartsBefore: 2, attempt: 3 });
    expect(await claim(hung, "100@1", "replica-a")).toEqual({ action: "NONE" });
    expect(await store.quarantined([hung.name])).toEqual(new Set([hung.name]));
    const [event] = await eventsOf(hung.name, "QUARANTINED");
    expect(event!.message).toContain("(2 in the last 600s");
    const actions = await db.query<{ attempt: number; action: string }>(
      "SELECT attempt, action FROM fleetvisor_healing_actions WHERE process_name = ? ORDER BY attempt",
      [hung.name],
    );
    expect(actions.map(({ attempt, action }) => [Number(attempt), action])).toEqual([
      [1, "RESTART_FAILED"],
      [2, "RESTART_FAILED"],
      [3, "QUARANTINE"],
    ]);
  });

  it("a restart that did not fail is not marked failed by a late report", async () => {
    const done = await createProcess("store-done");
    expect(await claim(done, "200@1", "replica-a")).toMatchObject({ action: "RESTART", attempt: 1 });
    // A report for an attempt that was never made changes nothing.
    await store.restartFailed(done.name, "200@1", 2);
    expect(await claim(done, "200@1", "replica-b")).toEqual({ action: "NONE" });
  });

  it("a restart claimed by a replica that died before it acted is claimed again once its lease is over", async () => {
    const orphaned = await createProcess("store-orphaned");
    expect(await claim(orphaned, "500@1", "replica-dies")).toMatchObject({ action: "RESTART", attempt: 1 });
    // Within the lease (a restart's stop and start, at most two control timeouts, and a minute) it is still under way.
    clock.advance(restartLeaseFor(60_000) - 1_000);
    expect(await claim(orphaned, "500@1", "replica-b")).toEqual({ action: "NONE" });
    // After it, the same run still hanging means the restart never happened.
    clock.advance(2_000);
    expect(await claim(orphaned, "500@1", "replica-b")).toEqual({ action: "RESTART", restartsBefore: 1, attempt: 2 });
  });

  it("clearing finds no quarantine in a deleted namesake's leftovers, and records nothing", async () => {
    const old = await createProcess("store-namesake");
    // Not the newest row: SQLite gives a deleted newest row's id to the next one.
    await createProcess("store-later");
    await claim(old, "300@1", "replica-a");
    await claim(old, "301@1", "replica-a");
    expect(await claim(old, "302@1", "replica-a")).toMatchObject({ action: "QUARANTINE" });
    await db.query("DELETE FROM kb_server_processes WHERE process_name = ?", [old.name]);
    const renewed = await createProcess(old.name);
    expect(renewed.id).not.toBe(old.id);

    expect(await store.quarantined([old.name])).toEqual(new Set());
    expect(await store.clear(old.name, operator)).toBe(false);
    expect(await eventsOf(old.name, "QUARANTINE_CLEARED")).toEqual([]);

    // Its own quarantine is cleared as before.
    await claim(renewed, "400@1", "replica-a");
    await claim(renewed, "401@1", "replica-a");
    expect(await claim(renewed, "402@1", "replica-a")).toMatchObject({ action: "QUARANTINE", restartsBefore: 2 });
    expect(await store.clear(old.name, operator)).toBe(true);
    expect(await eventsOf(old.name, "QUARANTINE_CLEARED")).toEqual([
      { actor: "ops", message: "quarantine cleared: automatic restarts may resume" },
    ]);
    // The namesake's rows stay as they were: neither cleared nor deleted by it.
    const leftovers = await db.query<{ action: string; cleared_at: unknown }>(
      "SELECT action, cleared_at FROM fleetvisor_healing_actions WHERE process_id = ? ORDER BY id",
      [old.id],
    );
    expect(leftovers.map(({ action, cleared_at }) => [action, cleared_at])).toEqual([
      ["RESTART", null],
      ["RESTART", null],
      ["QUARANTINE", null],
    ]);
  });
});
