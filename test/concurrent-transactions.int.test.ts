import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Principal } from "../src/auth/principal.js";
import { systemClock } from "../src/clock.js";
import { loadConfig } from "../src/config/config.js";
import { openDatabases } from "../src/db/connect.js";
import { DatabaseHealth } from "../src/db/database-health.js";
import type { OpenDatabases } from "../src/db/database.js";
import { IncidentEntity } from "../src/db/incident.entity.js";
import { runMigrations } from "../src/db/migrate.js";
import { ProcessEntity } from "../src/db/process.entity.js";
import { ProcessEventKind } from "../src/domain/event-kind.js";
import { ProcessStatus } from "../src/domain/process-status.js";
import { Role } from "../src/domain/role.js";
import { MemoryEventBus } from "../src/events/event-bus.js";
import { EventLogService } from "../src/events/event-log.service.js";
import { IncidentTracker } from "../src/incident/incident-tracker.js";
import { createLogger } from "../src/logger.js";
import { Transitions } from "../src/registry/transitions.js";
import { createTestDatabase, onMysql, type TestDatabase } from "./support/database.js";

/**
 * Transactions beside each other (MariaDB; SQLite runs one writer at a time): a deadlock's
 * victim, and a late report whose transaction began before a stop ended its incident.
 */

const silent = createLogger("silent");
const listener: Principal = { tokenId: 5, name: "listener", role: Role.AGENT, processPattern: null };

let db: TestDatabase;
let databases: OpenDatabases;
let events: EventLogService;
let tracker: IncidentTracker;
let transitions: Transitions;

beforeAll(async () => {
  db = await createTestDatabase("incident_race");
  const config = loadConfig({ DATABASE_URL: db.url, LOG_LEVEL: "silent" });
  await runMigrations(config.database, silent);
  databases = await openDatabases(config.database, { health: new DatabaseHealth(systemClock), logger: silent });
  events = new EventLogService(new MemoryEventBus(silent), silent, systemClock);
  tracker = new IncidentTracker(systemClock, { threshold: 5, windowSeconds: 300 }, config.database.dialect);
  events.onRecording(tracker.hook);
  transitions = new Transitions(databases.requests, events, systemClock);
});

afterAll(async () => {
  await databases?.close();
  await db?.drop();
});

async function incidentsOf(name: string): Promise<{ id: number; state: string }[]> {
  const rows = await db.query<{ id: number; state: string }>(
    "SELECT id, state FROM fleetvisor_incidents WHERE process_name = ? ORDER BY id",
    [name],
  );
  return rows.map((row) => ({ id: Number(row.id), state: row.state }));
}

describe.runIf(onMysql)("a late crash report beside a stop", () => {
  it("counts toward the incident it saw open, and opens no new one once a stop has ended that", async () => {
    await db.query("INSERT INTO kb_server_processes (process_name, port, status) VALUES ('racing', 8000, 'error')");
    const crash = () =>
      transitions.run("racing", listener, async (manager, record) =>
        record(
          { kind: ProcessEventKind.PROCESS_CRASHED, message: "exited unexpectedly" },
          await manager.findOneByOrFail(ProcessEntity, { name: "racing" }),
        ),
      );
    await crash();
    const [opened] = await incidentsOf("racing");
    expect(opened).toMatchObject({ state: "OPEN" });

    // The late report's transaction: it has read the registry (its snapshot) …
    const late = databases.requests.dataSource.createQueryRunner();
    await late.startTransaction();
    try {
      const seen = await late.manager.findOneByOrFail(ProcessEntity, { name: "racing" });
      await late.manager.find(IncidentEntity);
      // … when a stop, committed meanwhile, makes the process meant to be stopped and ends the incident.
      await db.query(
        "UPDATE kb_server_processes SET desired_state = 'STOPPED', status = 'stopped' WHERE process_name = 'racing'",
      );
      await db.query(
        "UPDATE fleetvisor_incidents SET state = 'RESOLVED', open_key = NULL, resolved_at = NOW(3) WHERE id = ?",
        [opened!.id],
      );
      // Its crash, as its view has the process: not meant to be stopped, the incident open.
      const event = await events.record(
        late.manager,
        {
          kind: ProcessEventKind.PROCESS_CRASHED,
          processName: "racing",
          actor: listener.name,
          actorTokenId: listener.tokenId,
          message: "exited unexpectedly",
          status: ProcessStatus.ERROR,
        },
        seen,
      );
      expect(event.kind).toBe(ProcessEventKind.PROCESS_CRASHED);
      await late.commitTransaction();
    } finally {
      await late.release();
    }
    expect(await incidentsOf("racing")).toEqual([{ id: opened!.id, state: "RESOLVED" }]);

    // A crash recorded after the stop, by a transaction that sees it, opens nothing either
    // (stopped on purpose); one after the process is meant to run again opens a new one.
    await crash();
    expect(await incidentsOf("racing")).toHaveLength(1);
    await db.query("UPDATE kb_server_processes SET desired_state = 'RUNNING' WHERE process_name = 'racing'");
    await crash();
    expect((await incidentsOf("racing")).map((i) => i.state)).toEqual(["RESOLVED", "OPEN"]);
  });
});

describe.runIf(onMysql)("a transition chosen as a deadlock's victim", () => {
  it("runs again from the start and records its events once", async () => {
    await db.query("INSERT INTO kb_server_processes (process_name, port, status) VALUES ('lock-a', 8000, 'running')");
    await db.query("INSERT INTO kb_server_processes (process_name, port, status) VALUES ('lock-b', 8000, 'running')");
    // The other side: a transaction with more work done (InnoDB rolls back the lighter one)
    // that holds lock-b and then asks for lock-a.
    const other = databases.requests.dataSource.createQueryRunner();
    await other.connect();
    await other.startTransaction();
    await other.query("CREATE TEMPORARY TABLE ballast (n INT)");
    await other.query("INSERT INTO ballast VALUES " + Array.from({ length: 500 }, (_, i) => `(${i})`).join(","));
    await other.query("UPDATE kb_server_processes SET port = 9000 WHERE process_name = 'lock-b'");

    let attempts = 0;
    let otherDone: Promise<unknown> | undefined;
    await transitions.run("lock-a", listener, async (manager, record) => {
      attempts++;
      await manager.query("UPDATE kb_server_processes SET port = port + 1 WHERE process_name = 'lock-a'");
      if (attempts === 1) {
        // It waits for lock-a, which this one holds; this one then asks for lock-b.
        otherDone = other
          .query("UPDATE kb_server_processes SET port = 9001 WHERE process_name = 'lock-a'")
          .then(() => other.commitTransaction());
        await new Promise((resolve) => setTimeout(resolve, 300));
      }
      await manager.query("UPDATE kb_server_processes SET status = 'stopped' WHERE process_name = 'lock-b'");
      await record(
        { kind: ProcessEventKind.UPDATED, message: "moved both" },
        await manager.findOneByOrFail(ProcessEntity, { name: "lock-a" }),
      );
    });
    await otherDone;
    await other.release();

    expect(attempts).toBe(2);
    // The first attempt left nothing: one increment, after the other side's write, one event.
    expect(
      await db.query(
        "SELECT process_name, port, status FROM kb_server_processes WHERE process_name LIKE 'lock-%' ORDER BY process_name",
      ),
    ).toEqual([
      { process_name: "lock-a", port: 9002, status: "running" },
      { process_name: "lock-b", port: 9000, status: "stopped" },
    ]);
    expect(
      await db.query(
        "SELECT message FROM fleetvisor_process_events WHERE process_name = 'lock-a' AND kind = 'UPDATED'",
      ),
    ).toEqual([{ message: "moved both" }]);
  });
});
