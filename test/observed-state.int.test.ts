import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ADMIN_TOKEN, startTestApp, type TestApp } from "./support/app.js";
import { createTestDatabase, onMysql, type TestDatabase } from "./support/database.js";
import { connectWs } from "./support/graphql-client.js";
import { metric } from "./support/metrics.js";
import { Supervisord } from "./support/supervisord.js";
import { until } from "./support/wait.js";

/**
 * Observed state: reads that accept an age are served from what was last observed
 * without asking supervisord; pages; each supervisord polled by one replica.
 */

const GET_ALL = "supervisor.getAllProcessInfo";
const cleanups: (() => Promise<unknown>)[] = [];

afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
});

interface Row {
  name: string;
  health: string;
  supervisor: { state: string; pid: number | null; observedAt: string } | null;
}

async function fleet(count: number): Promise<Supervisord[]> {
  const started = await Promise.all(
    Array.from({ length: count }, () =>
      Supervisord.start({ programs: { worker: { command: "sleep 1000" }, idle: { command: "sleep 1000" } } }),
    ),
  );
  cleanups.push(() => Promise.all(started.map((s) => s.stop())));
  return started;
}

async function register(app: TestApp, supervisords: readonly Supervisord[]): Promise<void> {
  for (const [i, supervisord] of supervisords.entries()) {
    for (const program of ["worker", "idle"]) {
      await app.admin.data(`mutation($input: CreateProcessInput!) { createProcess(input: $input) { id } }`, {
        input: {
          name: `host${i}-${program}`,
          port: 8000,
          supervisorHost: "127.0.0.1",
          supervisorPort: supervisord.port,
          program,
        },
      });
    }
  }
}

const calls = (app: TestApp, port?: number) =>
  metric(app.url, "fleetvisor_supervisor_calls_total", {
    method: GET_ALL,
    ...(port === undefined ? {} : { supervisor: `127.0.0.1:${port}` }),
  });

describe("reads that accept an age", () => {
  let db: TestDatabase;
  let app: TestApp;
  let supervisords: Supervisord[];

  beforeAll(async () => {
    db = await createTestDatabase("observed");
    cleanups.push(() => db.drop());
    supervisords = await fleet(3);
    app = await startTestApp(db.url, { SUPERVISOR_POLL_INTERVAL_SECONDS: "1" });
    cleanups.push(() => app.stop());
    await register(app, supervisords);
  });

  const read = async (maxAgeSeconds: number) =>
    (
      await app.admin.data<{ processes: Row[] }>(
        `query($age: Int!) { processes(maxAgeSeconds: $age) { name health supervisor { state pid observedAt } } }`,
        { age: maxAgeSeconds },
      )
    ).processes;

  it("equal what supervisord says when nothing changed, and ask no supervisord", async () => {
    await until("every supervisord observed by a poll", async () => (await calls(app)) >= 3);
    // Polling paused, so that every call counted below would be a read's own.
    await app.services.watch.stop();
    try {
      const live = await read(0);
      const before = await calls(app);
      const observed: Row[][] = [];
      for (let i = 0; i < 100; i++) observed.push(await read(30));
      expect((await calls(app)) - before).toBe(0);
      const strip = (rows: Row[]) =>
        rows.map(({ name, health, supervisor }) => [name, health, supervisor?.state, supervisor?.pid]);
      for (const rows of observed) expect(strip(rows)).toEqual(strip(live));
      expect(live.every((row) => row.supervisor?.state === "RUNNING")).toBe(true);
    } finally {
      app.services.watch.start();
    }
  });

  it("says honestly how old each answer is", async () => {
    const started = Date.now();
    const live = await read(0);
    for (const row of live) expect(Date.parse(row.supervisor!.observedAt)).toBeGreaterThanOrEqual(started - 5);
    const observed = await read(30);
    for (const row of observed) {
      const at = Date.parse(row.supervisor!.observedAt);
      expect(at).toBeLessThanOrEqual(Date.now());
      expect(Date.now() - at).toBeLessThanOrEqual(30_000);
    }
  });

  it("shows a change made behind Fleetvisor's back within the poll interval", async () => {
    await supervisords[1]!.ctl("stop", "worker");
    const seen = await until(
      "the stop in an observed read",
      async () => (await read(5)).find((row) => row.name === "host1-worker" && row.supervisor?.state === "STOPPED"),
      5_000,
    );
    expect(seen.supervisor!.pid).toBeNull();
    await supervisords[1]!.ctl("start", "worker");
  });

  it("asks live only the supervisord whose observation is too old", async () => {
    // Polling off from now on: observations only age.
    await app.services.watch.stop();
    await until("every observation older than 2 s", async () => {
      const rows = await read(3_600);
      return rows.every((row) => Date.now() - Date.parse(row.supervisor!.observedAt) > 2_000);
    });
    // One host refreshed by a live read of its rows only.
    const refreshed = supervisords[2]!;
    await app.admin.data(`{ processes(filter: { names: ["host2-worker"] }) { supervisor { state } } }`);
    await until("the live answer stored", async () => {
      const row = (await read(3_600)).find((r) => r.name === "host2-worker")!;
      return Date.now() - Date.parse(row.supervisor!.observedAt) < 1_000;
    });
    const before = await Promise.all(supervisords.map((s) => calls(app, s.port)));
    const rows = await read(2);
    const after = await Promise.all(supervisords.map((s) => calls(app, s.port)));
    expect(after.map((n, i) => n - before[i]!)).toEqual(supervisords.map((s) => (s === refreshed ? 0 : 1)));
    expect(rows.every((row) => row.supervisor?.state === "RUNNING")).toBe(true);
  });
});

describe("observed reads asked by many at once", () => {
  let app: TestApp;

  beforeAll(async () => {
    const db = await createTestDatabase("shared");
    cleanups.push(() => db.drop());
    const supervisords = await fleet(2);
    app = await startTestApp(db.url, { SUPERVISOR_POLL_INTERVAL_SECONDS: "1" });
    cleanups.push(() => app.stop());
    await register(app, supervisords);
    await until("every supervisord observed by a poll", async () => (await calls(app)) >= 2);
    // Polling paused: nothing but the test changes what was observed.
    await app.services.watch.stop();
  });

  const PAGE = `query($age: Int!) { processPage(first: 10, maxAgeSeconds: $age) {
    nodes { name port health supervisor { state } } totalCount } }`;
  type Page = { processPage: { nodes: { name: string; port: number }[]; totalCount: number } };
  const shared = (outcome: string) => metric(app.url, "fleetvisor_shared_answers_total", { outcome });

  it("share one execution: twenty at once get the same answer, and a change made through Fleetvisor shows in the next read", async () => {
    const [hits, misses] = [await shared("hit"), await shared("miss")];
    const answers = await Promise.all(Array.from({ length: 20 }, () => app.admin.data<Page>(PAGE, { age: 30 })));
    expect(answers.every((answer) => JSON.stringify(answer) === JSON.stringify(answers[0]))).toBe(true);
    expect(answers[0]!.processPage.totalCount).toBe(4);
    expect((await shared("miss")) - misses).toBe(1);
    expect((await shared("hit")) - hits).toBe(19);

    await app.admin.data(`mutation { updateProcess(name: "host0-idle", input: { port: 8123 }) { port } }`);
    const after = await app.admin.data<Page>(PAGE, { age: 30 });
    expect(after.processPage.nodes.find((node) => node.name === "host0-idle")!.port).toBe(8123);
  });

  it("a token bound to a pattern never gets another scope's answer", async () => {
    await app.admin.data<Page>(PAGE, { age: 30 });
    const viewer = await app.client("VIEWER", undefined, "host1-*");
    const own = await viewer.http.data<Page>(PAGE, { age: 30 });
    expect(own.processPage.nodes.map((node) => node.name)).toEqual(["host1-idle", "host1-worker"]);
    expect(own.processPage.totalCount).toBe(2);
  });

  it("live reads (maxAgeSeconds 0) are never shared", async () => {
    const [hits, misses] = [await shared("hit"), await shared("miss")];
    const before = await calls(app);
    for (let i = 0; i < 3; i++) await app.admin.data<Page>(PAGE, { age: 0 });
    expect((await calls(app)) - before).toBe(6); // each read asked both supervisords
    expect([(await shared("hit")) - hits, (await shared("miss")) - misses]).toEqual([0, 0]);
  });
});

describe("pages", () => {
  it("through 1,000 rows while rows are inserted: each row that existed, exactly once, in name order", async () => {
    const db = await createTestDatabase("pages");
    cleanups.push(() => db.drop());
    const app = await startTestApp(db.url);
    cleanups.push(() => app.stop());
    const names = Array.from({ length: 1_000 }, (_, i) => `page-${String(i * 2).padStart(5, "0")}`);
    // Ten at a time: as many as the pool has connections.
    for (let i = 0; i < names.length; i += 10) {
      await Promise.all(
        names.slice(i, i + 10).map((name) =>
          app.admin.data(`mutation($name: String!) { createProcess(input: { name: $name, port: 1 }) { id } }`, {
            name,
          }),
        ),
      );
    }
    const seen: string[] = [];
    let after: string | null = null;
    let inserted = 0;
    for (let page = 0; ; page++) {
      const result: {
        processPage: { nodes: { name: string }[]; endCursor: string | null; hasNextPage: boolean; totalCount: number };
      } = await app.admin.data(
        // The page size as a variable, as the README advises: a literal `first` multiplies
        // the query's cost (graphql-armor's cost limit).
        `query($after: String, $first: Int!) {
          processPage(first: $first, after: $after, filter: { namePrefix: "page-" }) {
            nodes { name } endCursor hasNextPage totalCount } }`,
        { after, first: 70 },
      );
      const { nodes, endCursor, hasNextPage, totalCount } = result.processPage;
      expect(totalCount).toBe(1_000 + inserted);
      seen.push(...nodes.map((n) => n.name));
      // Rows inserted between pages: before, inside and after the page just read.
      for (const name of [
        `page-${String(page * 140 + 1).padStart(5, "0")}`,
        `page-${String(1_999 - page * 2).padStart(5, "0")}1`,
      ]) {
        await app.admin.data(`mutation($name: String!) { createProcess(input: { name: $name, port: 1 }) { id } }`, {
          name,
        });
        inserted++;
      }
      if (!hasNextPage) break;
      after = endCursor;
    }
    const existing = new Set(names);
    expect(seen.filter((name) => existing.has(name))).toEqual(names);
    expect(new Set(seen).size).toBe(seen.length);
    expect([...seen].sort()).toEqual(seen);
  });

  it("give an event cursor from which a subscription receives every change made after the page was read", async () => {
    const db = await createTestDatabase("pages_cursor");
    cleanups.push(() => db.drop());
    const app = await startTestApp(db.url);
    cleanups.push(() => app.stop());
    const create = (name: string) =>
      app.admin.data(`mutation($name: String!) { createProcess(input: { name: $name, port: 1 }) { id } }`, { name });
    await create("cursor-a");
    const read = () =>
      app.admin.data<{ processPage: { nodes: { name: string }[]; eventCursor: string } }>(
        `query { processPage(first: 10) { nodes { name } eventCursor } }`,
      );
    const first = (await read()).processPage;
    expect(first.nodes.map((node) => node.name)).toEqual(["cursor-a"]);
    // Changes after the read, before anyone subscribed.
    await create("cursor-b");
    await app.admin.data(`mutation { updateProcess(name: "cursor-a", input: { port: 2 }) { port } }`);

    const socket = connectWs(app.url, ADMIN_TOKEN);
    cleanups.push(() => socket.dispose());
    const changes = socket.subscribe<{ processChanged: { id: string; kind: string; processName: string } }>(
      `subscription($after: ID) { processChanged(after: $after) { id kind processName } }`,
      { after: first.eventCursor },
    );
    const seen = await changes.count(2);
    expect(seen.map(({ processChanged: e }) => `${e.kind} ${e.processName}`)).toEqual([
      "CREATED cursor-b",
      "UPDATED cursor-a",
    ]);
    await create("cursor-c");
    await changes.count(3);
    expect(changes.values.at(-1)!.processChanged.processName).toBe("cursor-c");
    // A later read's cursor is the newest event: nothing before it is replayed.
    const later = (await read()).processPage;
    expect(later.eventCursor).toBe(changes.values.at(-1)!.processChanged.id);
  });

  it("refuses first outside 1–500 and a cursor that is not one, naming the field", async () => {
    const db = await createTestDatabase("pages_input");
    cleanups.push(() => db.drop());
    const app = await startTestApp(db.url);
    cleanups.push(() => app.stop());
    const error = await app.admin.error(
      `query($first: Int!) { processPage(first: $first, after: "!!") { totalCount } }`,
      {
        first: 501,
      },
    );
    expect(error.extensions?.code).toBe("BAD_USER_INPUT");
    expect(error.message).toBe(
      "first must be between 1 and 500 (got 501); after must be the endCursor of a previous page",
    );
  });
});

describe.runIf(onMysql)("replicas share the polling (MySQL: the embedded database serves one replica)", () => {
  it("three replicas poll each supervisord once per interval; when one stops, the others take its share", async () => {
    const db = await createTestDatabase("shared_polling");
    cleanups.push(() => db.drop());
    const supervisords = await fleet(6);
    const env = {
      SUPERVISOR_POLL_INTERVAL_SECONDS: "1",
      REDIS_URL: process.env.TEST_REDIS_URL ?? "redis://127.0.0.1:6379",
    };
    const apps = await Promise.all([0, 1, 2].map(() => startTestApp(db.url, env)));
    cleanups.push(() => Promise.all(apps.map((app) => app.stop())));
    await register(apps[0]!, supervisords);
    const total = async (running: readonly TestApp[], port: number) =>
      (await Promise.all(running.map((app) => calls(app, port)))).reduce((a, b) => a + b, 0);

    // Over a window of polls, each host is polled by one replica: about once per second.
    await until("every replica sees the others", async () =>
      apps.every((app) => app.services.replicas.live.length === 3),
    );
    const before = await Promise.all(supervisords.map((s) => total(apps, s.port)));
    const windowStarted = Date.now();
    await new Promise((resolve) => setTimeout(resolve, 4_000)); // the window being measured
    const after = await Promise.all(supervisords.map((s) => total(apps, s.port)));
    const seconds = (Date.now() - windowStarted) / 1000;
    for (const [i, n] of after.entries()) {
      const polls = n - before[i]!;
      expect(polls, `polls of supervisord ${i} in ${seconds.toFixed(1)} s`).toBeGreaterThanOrEqual(
        Math.floor(seconds) - 1,
      );
      expect(polls, `polls of supervisord ${i} in ${seconds.toFixed(1)} s`).toBeLessThanOrEqual(Math.ceil(seconds) + 1);
    }

    // The replica that owns the most hosts stops; within two intervals its hosts are polled again.
    // (Rendezvous hashing may leave a replica with none of six hosts: take the busiest.)
    const owned = (app: TestApp) => supervisords.filter((s) => app.services.replicas.owns(`127.0.0.1:${s.port}`));
    const stopping = [...apps].sort((a, b) => owned(b).length - owned(a).length)[0]!;
    const rest = apps.filter((app) => app !== stopping);
    const orphaned = owned(stopping);
    expect(orphaned.length).toBeGreaterThan(0);
    await stopping.stop();
    const stoppedAt = Date.now();
    const counts = await Promise.all(orphaned.map((s) => total(rest, s.port)));
    await until(
      "the stopped replica's supervisords polled by the others",
      async () => (await Promise.all(orphaned.map((s) => total(rest, s.port)))).every((n, i) => n > counts[i]!),
      10_000,
    );
    expect(Date.now() - stoppedAt).toBeLessThanOrEqual(2_000 + 500);
  });

  it("a replica with polling off takes no share: the one that polls, polls every supervisord", async () => {
    const db = await createTestDatabase("polling_off");
    cleanups.push(() => db.drop());
    const supervisords = await fleet(4);
    const redis = process.env.TEST_REDIS_URL ?? "redis://127.0.0.1:6379";
    const polling = await startTestApp(db.url, { SUPERVISOR_POLL_INTERVAL_SECONDS: "1", REDIS_URL: redis });
    const silent = await startTestApp(db.url, { SUPERVISOR_POLL_INTERVAL_SECONDS: "0", REDIS_URL: redis });
    cleanups.push(() => Promise.all([polling.stop(), silent.stop()]));
    await register(polling, supervisords);
    await until("each sees the other", async () =>
      [polling, silent].every((app) => app.services.replicas.live.length === 2),
    );
    const keys = supervisords.map((s) => `127.0.0.1:${s.port}`);
    expect(keys.filter((key) => polling.services.replicas.owns(key))).toEqual(keys);
    expect(keys.filter((key) => silent.services.replicas.owns(key))).toEqual([]);
    const before = await Promise.all(supervisords.map((s) => calls(polling, s.port)));
    await until(
      "every supervisord polled again by the polling replica",
      async () => (await Promise.all(supervisords.map((s) => calls(polling, s.port)))).every((n, i) => n > before[i]!),
      5_000,
    );
  });

  it("a replica that finds another on its database without REDIS_URL says so, once", async () => {
    const db = await createTestDatabase("replicas_no_redis");
    cleanups.push(() => db.drop());
    const lines: string[] = [];
    const one = await startTestApp(db.url, { LOG_LEVEL: "warn" }, lines);
    cleanups.push(() => one.stop());
    const two = await startTestApp(db.url);
    cleanups.push(() => two.stop());
    const warnings = () =>
      lines
        .map((line) => JSON.parse(line) as { msg: string })
        .filter((line) => line.msg.includes("REDIS_URL is not set"));
    await until("the warning", async () => warnings().length > 0, 5_000);
    await until("a few more heartbeats", async () => one.services.replicas.live.length === 2);
    expect(warnings().map((line) => line.msg)).toEqual([
      "2 replicas share this database and REDIS_URL is not set: events recorded by another replica reach this one's " +
        "subscribers from the event log, within 500 ms instead of at once; set REDIS_URL on every replica for the fast path",
    ]);
  });
});

describe("subscribers that select supervisord fields", () => {
  it("share one call to the supervisord per event, however many they are, and see the state after it", async () => {
    const db = await createTestDatabase("shared_answers");
    cleanups.push(() => db.drop());
    const [supervisord] = await fleet(1);
    // No poll inside the window measured: every call counted is a subscriber's.
    const app = await startTestApp(db.url, { SUPERVISOR_POLL_INTERVAL_SECONDS: "3600" });
    cleanups.push(() => app.stop());
    await register(app, [supervisord!]);
    const socket = connectWs(app.url, ADMIN_TOKEN);
    cleanups.push(() => socket.dispose());
    type Change = {
      processChanged: {
        kind: string;
        message: string | null;
        process: { supervisor: { state: string } | null } | null;
      };
    };
    const [logEnd] = await db.query<{ last: string }>(
      "SELECT COALESCE(MAX(id), 0) AS last FROM fleetvisor_process_events",
    );
    const subscribers = Array.from({ length: 25 }, () =>
      socket.subscribe<Change>(
        `subscription($after: ID) { processChanged(names: ["host0-worker"], after: $after) { kind message process { supervisor { state } } } }`,
        { after: String(logEnd!.last) },
      ),
    );
    // Every subscriber is live once each has seen a first change (replayed, or live).
    const movePort = (port: number) =>
      app.admin.data(`mutation($port: Int!) { updateProcess(name: "host0-worker", input: { port: $port }) { id } }`, {
        port,
      });
    await movePort(8001);
    await Promise.all(subscribers.map((s) => s.count(1)));

    const before = await calls(app, supervisord!.port);
    await app.admin.data(`mutation { stopProcess(name: "host0-worker") { status } }`);
    await movePort(8002);
    const seen = await Promise.all(
      subscribers.map((s) => s.until((v) => v.some((e) => e.processChanged.message?.includes("8002")))),
    );
    // Every subscriber shows the state after the change, from answers shared among them all.
    for (const values of seen) expect(values.at(-1)!.processChanged.process!.supervisor!.state).toBe("STOPPED");
    const events = seen[0]!.length - 1;
    const asked = (await calls(app, supervisord!.port)) - before;
    expect(asked, `${asked} calls for ${events} events to ${subscribers.length} subscribers`).toBeLessThanOrEqual(
      events,
    );
  });
});
