import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ManualClock } from "../src/clock.js";
import { loadConfig } from "../src/config/config.js";
import { openDatabases } from "../src/db/connect.js";
import { DatabaseHealth } from "../src/db/database-health.js";
import type { OpenDatabases } from "../src/db/database.js";
import { runMigrations } from "../src/db/migrate.js";
import { createLogger } from "../src/logger.js";
import { HostObservations } from "../src/registry/host-observations.js";
import type { HostSnapshot } from "../src/supervisor/host-answers.js";
import { SupervisorUnavailable, type SupervisorAddress } from "../src/supervisor/supervisor.errors.js";
import { SupervisorState, type SupervisorProcessInfo } from "../src/supervisor/supervisor-state.js";
import { createTestDatabase, type TestDatabase } from "./support/database.js";

/**
 * What each supervisord answered, stored and read back against the real database
 * (MariaDB, or SQLite with DB=sqlite): reads parse an unchanged answer once, and the
 * listeners that end shared answers hear of what is news and of nothing else.
 */

const silent = createLogger("silent");
const clock = new ManualClock(new Date("2026-05-06T07:08:09.000Z"));
const address: SupervisorAddress = { host: "domaeka-server-test-01", port: 9101 };

let db: TestDatabase;
let databases: OpenDatabases;
let observations: HostObservations;
let told = 0;

beforeAll(async () => {
  db = await createTestDatabase("host_observations");
  const config = loadConfig({ DATABASE_URL: db.url, LOG_LEVEL: "silent" });
  await runMigrations(config.database, silent);
  databases = await openDatabases(config.database, { health: new DatabaseHealth(clock), logger: silent });
  observations = new HostObservations(databases.requests, clock);
  observations.onStored(() => told++);
});

afterAll(async () => {
  await databases?.close();
  await db?.drop();
});

function snapshot(state: SupervisorState.RUNNING | SupervisorState.STOPPED, pid: number): HostSnapshot {
  const info: SupervisorProcessInfo = {
    program: "python-server",
    name: "python-server",
    group: "python-server",
    state,
    stateName: state,
    pid,
    startedAt: new Date("2026-05-06T07:00:00.000Z"),
    stoppedAt: null,
    now: clock.now(),
    exitStatus: 0,
    spawnError: "",
    description: `pid ${pid}`,
  };
  return { address, byProgram: new Map([[info.program, info]]), latencyMs: 3, observedAt: clock.now() };
}

const read = async () =>
  (await observations.since([address], new Date(clock.now().getTime() - 60_000))).get(
    `${address.host}:${address.port}`,
  );

describe("stored supervisord answers", () => {
  it("read back as stored; an unchanged answer is parsed at most once, a new one afresh", async () => {
    await observations.record(address, snapshot(SupervisorState.RUNNING, 4242));
    const first = (await read()) as HostSnapshot;
    expect(first.byProgram.get("python-server")).toMatchObject({ state: "RUNNING", pid: 4242 });
    expect(first.observedAt.getTime()).toBe(clock.now().getTime());
    expect(await read()).toBe(first);
    // What this replica kept of its own write is what another replica parses from the row.
    const elsewhere = await new HostObservations(databases.requests, clock).since(
      [address],
      new Date(clock.now().getTime() - 60_000),
    );
    expect(elsewhere.get(`${address.host}:${address.port}`)).toEqual(first);

    clock.advance(5_000);
    await observations.record(address, snapshot(SupervisorState.STOPPED, 0));
    const second = (await read()) as HostSnapshot;
    expect(second).not.toBe(first);
    expect(second.byProgram.get("python-server")).toMatchObject({ state: "STOPPED", pid: 0 });
    expect(second.observedAt.getTime()).toBe(clock.now().getTime());
  });

  it("a new answer of the same length, observed later, is read afresh", async () => {
    clock.advance(5_000);
    await observations.record(address, snapshot(SupervisorState.RUNNING, 5151));
    const first = (await read()) as HostSnapshot;
    expect(first.byProgram.get("python-server")!.pid).toBe(5151);
    clock.advance(1);
    await observations.record(address, snapshot(SupervisorState.RUNNING, 5152));
    const second = (await read()) as HostSnapshot;
    expect(second.byProgram.get("python-server")!.pid).toBe(5152);
    expect(second.observedAt.getTime()).toBe(clock.now().getTime());
  });

  it("tell their listeners when a supervisord stops answering and when it answers again, not of every poll", async () => {
    const before = told;
    clock.advance(5_000);
    await observations.record(address, snapshot(SupervisorState.RUNNING, 4243)); // a poll like any other
    expect(told - before).toBe(0);
    clock.advance(5_000);
    await observations.record(address, new SupervisorUnavailable(address, "refused", "connection refused"));
    expect(told - before).toBe(1);
    expect(await read()).toBeInstanceOf(SupervisorUnavailable);
    clock.advance(5_000);
    await observations.record(address, snapshot(SupervisorState.RUNNING, 4243));
    expect(told - before).toBe(2);
    expect(((await read()) as HostSnapshot).byProgram.get("python-server")!.pid).toBe(4243);
  });
});
