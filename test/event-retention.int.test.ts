import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestApp, type TestApp, type TokenClient } from "./support/app.js";
import { createTestDatabase, onMysql, type TestDatabase } from "./support/database.js";
import { connectWs, type WsConnection } from "./support/graphql-client.js";

/** Old events pruned after EVENT_RETENTION_DAYS, in batches, by one replica, never in writers' way. */

const DAY_MS = 86_400_000;
const OLD_EVENTS = 2_500;

let db: TestDatabase;
let app: TestApp;
let viewer: TokenClient;
const apps: TestApp[] = [];
const sockets: WsConnection[] = [];

async function count(where: string, params: unknown[] = []): Promise<number> {
  const [row] = await db.query<{ n: number | string }>(
    `SELECT COUNT(*) AS n FROM fleetvisor_process_events WHERE ${where}`,
    params,
  );
  return Number(row!.n);
}

async function ids(where: string, params: unknown[] = []): Promise<string[]> {
  const rows = await db.query<{ id: number | string }>(
    `SELECT id FROM fleetvisor_process_events WHERE ${where} ORDER BY id`,
    params,
  );
  return rows.map((r) => String(r.id));
}

async function prunedThrough(): Promise<string> {
  const [row] = await db.query<{ through: number | string }>(
    "SELECT pruned_through AS through FROM fleetvisor_event_retention WHERE id = 1",
  );
  return String(row!.through);
}

beforeAll(async () => {
  db = await createTestDatabase("retention");
  app = await startTestApp(db.url, { EVENT_RETENTION_DAYS: "30" });
  // A log that has run for a while: the oldest events (lowest ids) are 31 to 40 days old.
  const start = Date.now() - 40 * DAY_MS;
  for (let first = 0; first < OLD_EVENTS; first += 500) {
    const rows = Array.from({ length: 500 }, (_, i) => first + i);
    await db.query(
      `INSERT INTO fleetvisor_process_events (process_name, kind, actor, message, status, at) VALUES ${rows
        .map(() => "(?, 'UPDATED', 'ops', 'port: 1 → 2', 'stopped', ?)")
        .join(", ")}`,
      rows.flatMap((i) => [`old-${i % 7}`, new Date(start + (i * 9 * DAY_MS) / OLD_EVENTS)]),
    );
  }
  viewer = await app.client("VIEWER", "retention-viewer");
  await app.admin.data(`mutation { createProcess(input: { name: "kept-01", port: 8000 }) { id } }`);
});

afterAll(async () => {
  await Promise.all(sockets.map((s) => s.dispose()));
  for (const other of apps) await other.stop();
  await app?.stop();
  await db?.drop();
});

describe("event retention", () => {
  it("deletes events older than EVENT_RETENTION_DAYS in batches, while writes go on undelayed", async () => {
    const cutoff = new Date(Date.now() - 30 * DAY_MS);
    const recent = await ids("at >= ?", [cutoff]);
    expect(await count("at < ?", [cutoff])).toBe(OLD_EVENTS);

    // A writer recording events all through the pruning.
    let pruning = true;
    const latencies: number[] = [];
    const writer = (async () => {
      for (let port = 9000; pruning; port++) {
        const started = Date.now();
        await app.admin.data(`mutation($p: Int!) { updateProcess(name: "kept-01", input: { port: $p }) { port } }`, {
          p: port,
        });
        latencies.push(Date.now() - started);
      }
    })();
    const result = await app.eventPruner.runOnce().finally(() => (pruning = false));
    await writer;

    expect(result).toEqual({ outcome: "pruned", deleted: OLD_EVENTS, batches: 3 });
    expect(await count("at < ?", [cutoff])).toBe(0);
    // What was recent is all there, and so is every write made meanwhile.
    expect(await ids("id IN (" + recent.map(() => "?").join(", ") + ")", recent)).toEqual(recent);
    expect(await count("process_name = 'kept-01' AND kind = 'UPDATED'")).toBe(latencies.length);
    expect(latencies.length).toBeGreaterThan(1);
    expect(Math.max(...latencies)).toBeLessThan(2_000);
    expect(await prunedThrough()).toBe(String(OLD_EVENTS));

    // Nothing more is old: another run deletes nothing.
    expect(await app.eventPruner.runOnce()).toEqual({ outcome: "pruned", deleted: 0, batches: 0 });
  });

  it("a subscriber resuming from a pruned id is told CURSOR_EXPIRED; from the watermark it resumes", async () => {
    const socket = connectWs(app.url, viewer.token);
    sockets.push(socket);
    const SUBSCRIPTION = `subscription($after: ID) { processChanged(after: $after) { id processName } }`;
    const expired = socket.subscribe(SUBSCRIPTION, { after: "1200" });
    await expired.until(() => false, 5_000, "the refusal").catch(() => undefined);
    expect(expired.values).toEqual([]);
    expect(expired.errors[0]).toEqual([
      expect.objectContaining({
        message: expect.stringContaining("may have been pruned"),
        extensions: { code: "CURSOR_EXPIRED", prunedThrough: String(OLD_EVENTS) },
      }),
    ]);

    const resumed = socket.subscribe<{ processChanged: { id: string; processName: string } }>(SUBSCRIPTION, {
      after: String(OLD_EVENTS),
    });
    await resumed.until((v) => v.some((e) => e.processChanged.processName === "kept-01"), 10_000, "the kept events");
    // The first event after the watermark that is a process's (the viewer's TOKEN_CREATED is not).
    expect(resumed.values[0]!.processChanged.id).toBe((await ids(`id > ${OLD_EVENTS} AND process_name <> ''`))[0]);

    // The audit query reads what is left, from any cursor.
    const page = await app.admin.data<{ events: { id: string }[] }>(`{ events(after: "1", first: 1) { id } }`);
    expect(page.events).toEqual([{ id: String(OLD_EVENTS + 1) }]);
  });

  it.runIf(onMysql)("one replica at a time prunes; another takes over once it has stopped", async () => {
    const other = await startTestApp(db.url, { EVENT_RETENTION_DAYS: "30" });
    apps.push(other);
    // The first app's runs hold the lease.
    expect(await other.eventPruner.runOnce()).toEqual({ outcome: "skipped" });
    await app.stop();
    expect(await other.eventPruner.runOnce()).toEqual({ outcome: "pruned", deleted: 0, batches: 0 });
  });
});
