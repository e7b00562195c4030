import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import type { Principal } from "../src/auth/principal.js";
import { ManualClock } from "../src/clock.js";
import { loadConfig } from "../src/config/config.js";
import { openDatabases } from "../src/db/connect.js";
import { DatabaseHealth } from "../src/db/database-health.js";
import type { OpenDatabases } from "../src/db/database.js";
import { runMigrations } from "../src/db/migrate.js";
import { ProcessEventKind } from "../src/domain/event-kind.js";
import { ProcessStatus } from "../src/domain/process-status.js";
import { Role } from "../src/domain/role.js";
import { MemoryEventBus, type Topic } from "../src/events/event-bus.js";
import { EventLogService } from "../src/events/event-log.service.js";
import { createLogger } from "../src/logger.js";
import { Transitions } from "../src/registry/transitions.js";
import { createTestDatabase, storedTime, type TestDatabase } from "./support/database.js";

/**
 * Recorded transitions against the real database (MariaDB, or the embedded SQLite with
 * DB=sqlite): the conditional move, recorded only when it moved, never "to itself", NULL
 * counting as stopped, and published only after the commit.
 */

const silent = createLogger("silent");
const operator: Principal = { tokenId: 3, name: "ops", role: Role.OPERATOR, processPattern: null };
/** DATETIME keeps whole seconds. */
const clock = new ManualClock(new Date("2026-03-04T05:06:07.000Z"));

interface Published {
  readonly id: string;
  readonly kind: string;
  readonly processName: string;
  /** How many connections other than the transaction's could read the event when it was published. */
  readonly committed: number;
}

/**
 * A bus that, before it delivers an event, asks the database through another connection
 * whether the event is there: a publish made before the commit would find nothing (and a
 * transaction that waited for its publish would never let it see the event).
 */
class CommitCheckingBus extends MemoryEventBus {
  readonly published: Published[] = [];

  override async publish(topic: Topic, payload: unknown): Promise<void> {
    const event = payload as { id: string; kind: string; processName: string };
    const [row] = await db.query<{ n: number }>("SELECT COUNT(*) AS n FROM fleetvisor_process_events WHERE id = ?", [
      event.id,
    ]);
    this.published.push({ id: event.id, kind: event.kind, processName: event.processName, committed: Number(row!.n) });
    await super.publish(topic, payload);
  }
}

let db: TestDatabase;
let databases: OpenDatabases;
let bus: CommitCheckingBus;
let transitions: Transitions;
let processes = 0;

beforeAll(async () => {
  db = await createTestDatabase("transitions");
  const config = loadConfig({ DATABASE_URL: db.url, LOG_LEVEL: "silent" });
  await runMigrations(config.database, silent);
  databases = await openDatabases(config.database, { health: new DatabaseHealth(clock), logger: silent });
  bus = new CommitCheckingBus(silent);
  transitions = new Transitions(databases.requests, new EventLogService(bus, silent, clock), clock);
});

afterAll(async () => {
  await databases?.close();
  await db?.drop();
});

beforeEach(() => {
  bus.published.splice(0);
});

/** A process of its own for each test, with `status` (NULL when null) and a pid. */
async function processWith(status: ProcessStatus | null): Promise<string> {
  const name = `transition-${++processes}`;
  await db.query(
    "INSERT INTO kb_server_processes (process_name, port, pid, status, updated_at) VALUES (?, 8000, 4242, ?, ?)",
    [name, status, new Date("2026-01-01T00:00:00Z")],
  );
  return name;
}

async function rowOf(name: string): Promise<{ status: string | null; pid: number | null; updated_at: Date | null }> {
  const [row] = await db.query<{ status: string | null; pid: number | null; updated_at: Date | string | null }>(
    "SELECT status, pid, updated_at FROM kb_server_processes WHERE process_name = ?",
    [name],
  );
  return { ...row!, updated_at: storedTime(row!.updated_at) };
}

async function eventsOf(
  name: string,
): Promise<{ id: string; kind: string; actor: string; message: string; status: string }[]> {
  const rows = await db.query<{ id: number; kind: string; actor: string; message: string; status: string }>(
    "SELECT id, kind, actor, message, status FROM fleetvisor_process_events WHERE process_name = ? ORDER BY id",
    [name],
  );
  return rows.map((row) => ({ ...row, id: String(row.id) }));
}

const move = (name: string, from: readonly ProcessStatus[], to: ProcessStatus, clearPid = false) =>
  databases.requests.transaction((manager) => transitions.moveStatus(manager, name, from, to, clearPid));

describe("Transitions.moveStatus", () => {
  it("moves only from the statuses it is given, and says whether it moved", async () => {
    const name = await processWith(ProcessStatus.RUNNING);
    expect(await move(name, [ProcessStatus.STOPPED, ProcessStatus.STARTING], ProcessStatus.STOPPING)).toBe(false);
    expect(await rowOf(name)).toMatchObject({ status: "running", updated_at: new Date("2026-01-01T00:00:00Z") });

    expect(await move(name, [ProcessStatus.RUNNING, ProcessStatus.STARTING], ProcessStatus.STOPPING)).toBe(true);
    expect(await rowOf(name)).toMatchObject({ status: "stopping", pid: 4242, updated_at: clock.now() });
  });

  it.each([
    ["running", ProcessStatus.RUNNING, [ProcessStatus.RUNNING, ProcessStatus.ERROR]],
    ["error", ProcessStatus.ERROR, [ProcessStatus.ERROR]],
    ["stopped", ProcessStatus.STOPPED, [ProcessStatus.STOPPED, ProcessStatus.STOPPING]],
  ])(
    "never to itself: a row already %s has not moved, even when its status is among the sources",
    async (_l, at, from) => {
      const name = await processWith(at);
      expect(await move(name, from, at)).toBe(false);
      expect(await rowOf(name)).toMatchObject({ status: at, updated_at: new Date("2026-01-01T00:00:00Z") });
    },
  );

  it("a NULL status counts as stopped, and as nothing else", async () => {
    const fromError = await processWith(null);
    expect(await move(fromError, [ProcessStatus.ERROR, ProcessStatus.STOPPING], ProcessStatus.STARTING)).toBe(false);
    expect((await rowOf(fromError)).status).toBeNull();

    const fromStopped = await processWith(null);
    expect(await move(fromStopped, [ProcessStatus.STOPPED], ProcessStatus.STARTING)).toBe(true);
    expect((await rowOf(fromStopped)).status).toBe("starting");

    // Already "stopped", as far as a move to stopped goes.
    const toStopped = await processWith(null);
    expect(await move(toStopped, [ProcessStatus.STOPPED, ProcessStatus.STOPPING], ProcessStatus.STOPPED)).toBe(false);
    expect((await rowOf(toStopped)).status).toBeNull();
  });

  it("clears the pid only when asked and when it moved", async () => {
    const kept = await processWith(ProcessStatus.STOPPING);
    expect(await move(kept, [ProcessStatus.STOPPING], ProcessStatus.STOPPED)).toBe(true);
    expect((await rowOf(kept)).pid).toBe(4242);

    const cleared = await processWith(ProcessStatus.STOPPING);
    expect(await move(cleared, [ProcessStatus.STOPPING], ProcessStatus.STOPPED, true)).toBe(true);
    expect((await rowOf(cleared)).pid).toBeNull();

    const notMoved = await processWith(ProcessStatus.RUNNING);
    expect(await move(notMoved, [ProcessStatus.STOPPING], ProcessStatus.STOPPED, true)).toBe(false);
    expect((await rowOf(notMoved)).pid).toBe(4242);
  });
});

describe("Transitions.moveAndRecord", () => {
  it("records STATUS_CHANGED when it moved, and publishes it after the commit", async () => {
    const name = await processWith(ProcessStatus.RUNNING);
    const moved = await transitions.moveAndRecord(
      name,
      [ProcessStatus.RUNNING],
      ProcessStatus.STOPPING,
      "stop requested",
      operator,
    );
    expect(moved.changed).toBe(true);
    expect(moved.process).toMatchObject({ name, status: "stopping", pid: 4242 });
    const events = await eventsOf(name);
    expect(events).toEqual([
      { id: expect.any(String), kind: "STATUS_CHANGED", actor: "ops", message: "stop requested", status: "stopping" },
    ]);
    expect(bus.published).toEqual([{ id: events[0]!.id, kind: "STATUS_CHANGED", processName: name, committed: 1 }]);
  });

  it("records and publishes nothing when it did not move, and answers the row as it is", async () => {
    const name = await processWith(ProcessStatus.ERROR);
    const unmoved = await transitions.moveAndRecord(
      name,
      [ProcessStatus.RUNNING],
      ProcessStatus.STOPPING,
      "stop requested",
      operator,
    );
    expect(unmoved.changed).toBe(false);
    expect(unmoved.process).toMatchObject({ name, status: "error" });
    const toItself = await transitions.moveAndRecord(
      name,
      [ProcessStatus.ERROR],
      ProcessStatus.ERROR,
      "again",
      operator,
    );
    expect(toItself.changed).toBe(false);
    expect(await eventsOf(name)).toEqual([]);
    expect(bus.published).toEqual([]);
  });

  it("of many movers racing for one row, exactly one moves and records", async () => {
    const name = await processWith(ProcessStatus.RUNNING);
    const racers = await Promise.all(
      Array.from({ length: 12 }, (_, i) =>
        transitions.moveAndRecord(name, [ProcessStatus.RUNNING], ProcessStatus.ERROR, `racer ${i}`, operator),
      ),
    );
    expect(racers.filter((r) => r.changed)).toHaveLength(1);
    expect(racers.every((r) => r.process.status === ProcessStatus.ERROR)).toBe(true);
    const events = await eventsOf(name);
    expect(events).toHaveLength(1);
    expect(events[0]!.message).toBe(`racer ${racers.findIndex((r) => r.changed)}`);
    expect(bus.published.map((p) => p.id)).toEqual([events[0]!.id]);
  });

  it("a process the registry does not have: NOT_FOUND, nothing recorded", async () => {
    const before = await db.query<{ n: number }>("SELECT COUNT(*) AS n FROM fleetvisor_process_events");
    await expect(
      transitions.moveAndRecord("no-such-process", [ProcessStatus.RUNNING], ProcessStatus.ERROR, "lost", operator),
    ).rejects.toMatchObject({ extensions: { code: "NOT_FOUND" } });
    expect(await db.query("SELECT COUNT(*) AS n FROM fleetvisor_process_events")).toEqual(before);
    expect(bus.published).toEqual([]);
  });
});

describe("Transitions.run", () => {
  it("work that fails after recording: the move and its event roll back together, nothing is published", async () => {
    const name = await processWith(ProcessStatus.RUNNING);
    const failing = transitions.run(name, operator, async (manager, record) => {
      const moved = await transitions.moveStatus(manager, name, [ProcessStatus.RUNNING], ProcessStatus.ERROR, true);
      expect(moved).toBe(true);
      await record({ kind: ProcessEventKind.STATUS_CHANGED, message: "about to fail" }, null);
      throw new Error("the rest of the transition failed");
    });
    await expect(failing).rejects.toThrow("the rest of the transition failed");
    expect(await rowOf(name)).toMatchObject({ status: "running", pid: 4242 });
    expect(await eventsOf(name)).toEqual([]);
    expect(bus.published).toEqual([]);
  });

  it("publishes every event a transition recorded, in order, once it has committed", async () => {
    const name = await processWith(ProcessStatus.STOPPED);
    await transitions.run(name, operator, async (manager, record) => {
      await transitions.moveStatus(manager, name, [ProcessStatus.STOPPED], ProcessStatus.STARTING, false);
      await record({ kind: ProcessEventKind.STATUS_CHANGED, message: "start requested" }, null);
      await transitions.moveStatus(manager, name, [ProcessStatus.STARTING], ProcessStatus.RUNNING, false);
      await record({ kind: ProcessEventKind.STATUS_CHANGED, message: "up", status: ProcessStatus.RUNNING }, null);
    });
    const events = await eventsOf(name);
    expect(events.map((e) => [e.message, e.status])).toEqual([
      ["start requested", null],
      ["up", "running"],
    ]);
    expect(bus.published).toEqual(
      events.map((e) => ({ id: e.id, kind: "STATUS_CHANGED", processName: name, committed: 1 })),
    );
  });
});
