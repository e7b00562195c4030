import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestApp, type TestApp, type TokenClient } from "./support/app.js";
import { createTestDatabase, onMysql, type TestDatabase } from "./support/database.js";
import { connectWs, type WsConnection } from "./support/graphql-client.js";
import { until } from "./support/wait.js";

interface Event {
  id: string | null;
  kind: string;
  processName: string;
  message: string | null;
}
type Changed = { processChanged: Event };

const SUBSCRIPTION = `subscription($names: [String!], $kinds: [ProcessEventKind!], $after: ID) {
  processChanged(names: $names, kinds: $kinds, after: $after) { id kind processName message } }`;

let db: TestDatabase;
let app: TestApp;
let viewer: TokenClient;
const sockets: WsConnection[] = [];

function ws(token = viewer.token): WsConnection {
  const connection = connectWs(app.url, token);
  sockets.push(connection);
  return connection;
}

async function lastEventId(): Promise<string> {
  const [row] = await db.query<{ last: string }>("SELECT COALESCE(MAX(id), 0) AS last FROM fleetvisor_process_events");
  return String(row!.last);
}

async function idsAfter(after: string, names: string[]): Promise<string[]> {
  const rows = await db.query<{ id: string }>(
    `SELECT id FROM fleetvisor_process_events WHERE id > ? AND process_name IN (${names.map(() => "?").join(",")}) ORDER BY id`,
    [after, ...names],
  );
  return rows.map((r) => String(r.id));
}

const update = (name: string, port: number) =>
  app.admin.data(
    `mutation($name: String!, $port: Int!) { updateProcess(name: $name, input: { port: $port }) { port } }`,
    { name, port },
  );

beforeAll(async () => {
  db = await createTestDatabase("subscription");
  app = await startTestApp(db.url);
  viewer = await app.client("VIEWER", "dashboard");
  for (const name of ["resume-a", "resume-b", "busy-a", "other"]) {
    await app.admin.data(`mutation($name: String!) { createProcess(input: { name: $name, port: 8000 }) { id } }`, {
      name,
    });
  }
});

afterAll(async () => {
  await Promise.all(sockets.map((s) => s.dispose()));
  await app?.stop();
  await db?.drop();
});

describe("processChanged(after:)", () => {
  it("a subscriber that disconnects, misses events and resumes receives exactly the missed ones, then live ones", async () => {
    const names = ["resume-a", "resume-b"];
    const start = await lastEventId();
    const first = ws();
    const before = first.subscribe<Changed>(SUBSCRIPTION, { names, after: start });
    await update("resume-a", 8101);
    await update("resume-b", 8102);
    const seenBefore = (await before.count(2)).map((e) => e.processChanged);
    expect(seenBefore.map((e) => [e.processName, e.message])).toEqual([
      ["resume-a", "port: 8000 → 8101"],
      ["resume-b", "port: 8000 → 8102"],
    ]);
    await first.dispose();

    // Missed while away: three for the watched names, one for another process.
    await update("resume-a", 8201);
    await update("other", 8202);
    await update("resume-b", 8203);
    await app.admin.data(`mutation { registerProcess(name: "resume-a", pid: 31) { port } }`);
    const missed = await idsAfter(seenBefore.at(-1)!.id!, names);
    expect(missed).toHaveLength(3);

    const second = ws();
    const after = second.subscribe<Changed>(SUBSCRIPTION, { names, after: seenBefore.at(-1)!.id });
    const replayed = (await after.count(3)).map((e) => e.processChanged);
    expect(replayed.map((e) => e.id)).toEqual(missed);
    expect(replayed.map((e) => e.kind)).toEqual(["UPDATED", "UPDATED", "REGISTERED"]);

    await update("resume-b", 8301);
    const all = (await after.count(4)).map((e) => e.processChanged);
    expect(all[3]).toMatchObject({ processName: "resume-b", kind: "UPDATED", message: "port: 8203 → 8301" });
    // Nothing more than that: no duplicate of a replayed event arrived late. Events reach
    // a stream in the log's order, so once a marker recorded now has arrived, anything
    // sent before it has too.
    await update("resume-a", 8302);
    const logged = await idsAfter(seenBefore.at(-1)!.id!, names);
    await after.until((v) => v.some((e) => e.processChanged.id === logged.at(-1)), 10_000, "the marker");
    expect(after.values).toHaveLength(4 + 1);
    expect(after.values.map((e) => e.processChanged.id)).toEqual(logged);
  });

  it("no gap and no duplicate when events keep arriving during a long replay", async () => {
    const cursor = await lastEventId();
    // A long backlog in the log (several replay pages) ...
    const backlog = Array.from({ length: 1_234 }, (_, i) => [
      "busy-a",
      "UPDATED",
      "test",
      `backlog ${i}`,
      "stopped",
      new Date(),
    ]);
    for (let i = 0; i < backlog.length; i += 200) {
      const rows = backlog.slice(i, i + 200);
      await db.query(
        `INSERT INTO fleetvisor_process_events (process_name, kind, actor, message, status, at) VALUES ${rows
          .map(() => "(?, ?, ?, ?, ?, ?)")
          .join(", ")}`,
        rows.flat(),
      );
    }

    // ... and live changes racing the replay.
    const connection = ws();
    const recorder = connection.subscribe<Changed>(SUBSCRIPTION, { names: ["busy-a"], after: cursor });
    const writers = Array.from({ length: 40 }, (_, i) => update("busy-a", 10_000 + i));
    await Promise.all(writers);

    const expected = await idsAfter(cursor, ["busy-a"]);
    expect(expected).toHaveLength(1_234 + 40);
    const received = (await recorder.count(expected.length, 20_000)).map((e) => e.processChanged.id!);
    // Nothing after them but a marker recorded now: a late duplicate would come before it.
    await update("busy-a", 20_000);
    const [marker] = await idsAfter(expected.at(-1)!, ["busy-a"]);
    await recorder.until((v) => v.some((e) => e.processChanged.id === marker), 10_000, "the marker");
    expect(recorder.values).toHaveLength(expected.length + 1);
    expect(recorder.values.at(-1)!.processChanged.id).toBe(marker);
    expect(new Set(received).size).toBe(received.length);
    expect([...received].sort((a, b) => Number(a) - Number(b))).toEqual(expected);
    // The replayed backlog comes first and in order.
    expect(received.slice(0, 1_234)).toEqual(expected.slice(0, 1_234));
  });

  it("filters by kinds; heartbeats only for subscribers that ask for HEARTBEAT", async () => {
    const cursor = await lastEventId();
    const connection = ws();
    const everything = connection.subscribe<Changed>(SUBSCRIPTION, { names: ["other"], after: cursor });
    const heartbeats = connection.subscribe<Changed>(SUBSCRIPTION, { names: ["other"], kinds: ["HEARTBEAT"] });
    const registrations = connection.subscribe<Changed>(SUBSCRIPTION, {
      names: ["other"],
      kinds: ["REGISTERED"],
      after: cursor,
    });

    await app.admin.data(`mutation { registerProcess(name: "other", pid: 5) { port } }`);
    await registrations.count(1);
    // Heartbeats are live only: beat until the heartbeat subscriber has one.
    await until("a heartbeat reaching the HEARTBEAT subscriber", async () => {
      await app.admin.data(`mutation { heartbeat(name: "other", pid: 5) { ok } }`);
      return heartbeats.values.length > 0;
    });
    await app.admin.data(`mutation { deregisterProcess(name: "other") { status } }`);
    // A marker every kind-filtered stream but the heartbeats' accepts. This replica's feed
    // offers each event to every stream in the log's order: once the marker is there,
    // every stream has been offered everything before it.
    await app.admin.data(`mutation { registerProcess(name: "other", pid: 6) { port } }`);
    const marker = (await idsAfter(cursor, ["other"])).at(-1);
    const hasMarker = (v: readonly Changed[]) => v.some((e) => e.processChanged.id === marker);
    await everything.until(hasMarker, 10_000, "the marker");
    await registrations.until(hasMarker, 10_000, "the marker");

    expect(everything.values.map((e) => e.processChanged.kind)).toEqual(["REGISTERED", "DEREGISTERED", "REGISTERED"]);
    expect(new Set(heartbeats.values.map((e) => e.processChanged.kind))).toEqual(new Set(["HEARTBEAT"]));
    expect(heartbeats.values.every((e) => e.processChanged.id === null)).toBe(true);
    expect(registrations.values.map((e) => e.processChanged.kind)).toEqual(["REGISTERED", "REGISTERED"]);
  });

  it.each([
    ["a cursor that is not an event id", { after: "abc" }, "after"],
    ["a malformed name", { names: ["no spaces allowed"] }, "names[0]"],
  ])("refuses %s with BAD_USER_INPUT", async (_label, variables, field) => {
    const recorder = ws().subscribe<Changed>(SUBSCRIPTION, variables);
    const errors = (await recorder.failure(5_000, "the refusal")) as {
      message: string;
      extensions: { code: string; invalidFields: { field: string }[] };
    }[];
    expect(errors[0]!.extensions.code).toBe("BAD_USER_INPUT");
    expect(errors[0]!.extensions.invalidFields.map((f) => f.field)).toEqual([field]);
  });
});

describe.runIf(onMysql)("several replicas on one database, through Redis (MySQL only)", () => {
  it("an event made on one replica reaches a subscriber of another", async () => {
    const redis = { REDIS_URL: process.env.TEST_REDIS_URL ?? "redis://127.0.0.1:6379", MIGRATE_ON_START: "true" };
    const [one, two] = await Promise.all([startTestApp(db.url, redis), startTestApp(db.url, redis)]);
    try {
      const subscriber = connectWs(one.url, viewer.token);
      sockets.push(subscriber);
      // No `after`: whatever arrives comes live, through Redis.
      const seen = subscriber.subscribe<Changed>(SUBSCRIPTION, {
        names: ["resume-a"],
        kinds: ["UPDATED", "HEARTBEAT"],
      });

      // Heartbeats are live only: once one made on replica two reaches replica one's
      // subscriber, the subscription is attached and Redis carries events across.
      await two.admin.data(`mutation { registerProcess(name: "resume-a", pid: 77) { port } }`);
      await until("a heartbeat from replica two reaching replica one's subscriber", async () => {
        await two.admin.data(`mutation { heartbeat(name: "resume-a", pid: 77) { ok } }`);
        return seen.values.some((e) => e.processChanged.kind === "HEARTBEAT");
      });
      await two.admin.data(`mutation { updateProcess(name: "resume-a", input: { port: 9999 }) { port } }`);
      const updated = await seen.until((v) => v.some((e) => e.processChanged.kind === "UPDATED"));
      expect(updated.find((e) => e.processChanged.kind === "UPDATED")!.processChanged).toMatchObject({
        message: expect.stringContaining("→ 9999"),
      });
      const readiness = await (await fetch(`${one.url}/readyz`)).json();
      expect(readiness).toEqual({ status: "ready", database: "ok", redis: "ok" });
    } finally {
      await Promise.all([one.stop(), two.stop()]);
    }
  });
});
