import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FLEET_KINDS, INCIDENT_EVENT_KINDS, TOKEN_KINDS, type ProcessEventKind } from "../src/domain/event-kind.js";
import { startTestApp, type TestApp } from "./support/app.js";
import { createTestDatabase, type TestDatabase } from "./support/database.js";
import { connectWs, type SubscriptionRecorder, type WsConnection } from "./support/graphql-client.js";
import { PrivateRedis } from "./support/redis.js";
import { Supervisord } from "./support/supervisord.js";
import { until } from "./support/wait.js";

/**
 * The event log is the truth: whatever carries events between replicas (Redis, or
 * nothing), every open subscriber on every replica receives every recorded event, once,
 * in order, without resubscribing.
 */

interface Event {
  id: string;
  kind: string;
  processName: string;
}
type Changed = { processChanged: Event };
const SUBSCRIPTION = `subscription($after: ID) { processChanged(after: $after) { id kind processName } }`;

const sockets: WsConnection[] = [];
const cleanups: (() => Promise<unknown>)[] = [];
let markers = 0;

afterAll(async () => {
  await Promise.all(sockets.map((s) => s.dispose()));
  for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
});

async function replicas(db: TestDatabase, count: number, env: Record<string, string> = {}): Promise<TestApp[]> {
  const apps = await Promise.all(Array.from({ length: count }, () => startTestApp(db.url, env)));
  cleanups.push(() => Promise.all(apps.map((app) => app.stop())));
  return apps;
}

/**
 * One subscriber of every event on each app, from the end of the log as it is now (so
 * that nothing made after this call can fall before a subscription is in place).
 */
async function subscribers(db: TestDatabase, apps: readonly TestApp[]): Promise<SubscriptionRecorder<Changed>[]> {
  const { token } = await apps[0]!.client("VIEWER");
  const [row] = await db.query<{ last: string }>("SELECT COALESCE(MAX(id), 0) AS last FROM fleetvisor_process_events");
  return apps.map((app) => {
    const ws = connectWs(app.url, token);
    sockets.push(ws);
    return ws.subscribe<Changed>(SUBSCRIPTION, { after: String(row!.last) });
  });
}

/** Records an event and waits until every subscriber has it. Returns its id. */
async function marker(app: TestApp, seen: readonly SubscriptionRecorder<Changed>[]): Promise<string> {
  const name = `marker-${++markers}`;
  await app.admin.data(`mutation($name: String!) { createProcess(input: { name: $name, port: 1 }) { id } }`, { name });
  const ids = await Promise.all(
    seen.map(async (recorder) => {
      const values = await recorder.until(
        (v) => v.some((e) => e.processChanged.processName === name),
        10_000,
        `the CREATED event of ${name}`,
      );
      return values.find((e) => e.processChanged.processName === name)!.processChanged.id;
    }),
  );
  return ids[0]!;
}

/** Kinds processChanged never delivers: a token's, a whole rollout's, an incident's changes. */
const NOT_ON_PROCESS_CHANGED = [...TOKEN_KINDS, ...FLEET_KINDS, ...INCIDENT_EVENT_KINDS];

/** The ids of the events after `after` that a processChanged subscriber is owed, in order. */
async function logIdsAfter(db: TestDatabase, after: string): Promise<string[]> {
  const rows = await db.query<{ id: string; kind: ProcessEventKind }>(
    "SELECT id, kind FROM fleetvisor_process_events WHERE id > ? ORDER BY id",
    [after],
  );
  return rows.filter((row) => !NOT_ON_PROCESS_CHANGED.includes(row.kind)).map((row) => String(row.id));
}

/** Waits until `recorder` has every id of the log after `after`, then returns the ids it got after it. */
async function receivedAfter(
  db: TestDatabase,
  recorder: SubscriptionRecorder<Changed>,
  after: string,
  what: string,
): Promise<{ received: string[]; logged: string[] }> {
  const logged = await logIdsAfter(db, after);
  const last = logged.at(-1)!;
  const values = await recorder.until((v) => v.some((e) => e.processChanged.id === last), 15_000, what);
  const received = values.map((e) => e.processChanged.id).filter((id) => BigInt(id) > BigInt(after));
  return { received, logged };
}

async function redisReady(app: TestApp): Promise<boolean> {
  const readiness = (await (await fetch(`${app.url}/readyz`)).json()) as { redis?: string };
  return readiness.redis === "ok";
}

async function createMany(apps: readonly TestApp[], prefix: string, count: number): Promise<void> {
  for (let i = 0; i < count; i++) {
    await apps[i % apps.length]!.admin.data(
      `mutation($name: String!) { createProcess(input: { name: $name, port: 8000 }) { id } }`,
      { name: `${prefix}-${i}` },
    );
  }
}

/** Two replicas that poll and watch heartbeats every second, a supervisord, a subscriber on each. */
async function mixedFleet(db: TestDatabase, env: Record<string, string>) {
  const supervisord = await Supervisord.start({
    programs: { worker: { command: "sleep 1000", startsecs: 0 } },
  });
  cleanups.push(() => supervisord.stop());
  const apps = (await replicas(db, 2, {
    SUPERVISOR_POLL_INTERVAL_SECONDS: "1",
    HEARTBEAT_INTERVAL_SECONDS: "1",
    HEARTBEAT_STALE_SECONDS: "2",
    HEARTBEAT_CHECK_INTERVAL_SECONDS: "1",
    ...env,
  })) as [TestApp, TestApp];
  const seen = await subscribers(db, apps);
  await apps[0].admin.data(`mutation($input: CreateProcessInput!) { createProcess(input: $input) { id } }`, {
    input: {
      name: "worker",
      port: 8000,
      supervisorHost: "127.0.0.1",
      supervisorPort: supervisord.port,
      program: "worker",
    },
  });
  await apps[1].admin.data(`mutation { createProcess(input: { name: "beating", port: 8001 }) { id } }`);
  const start = await marker(apps[0], seen);
  return { supervisord, apps, seen, start };
}

/**
 * A stop behind Fleetvisor's back (seen by a poll, either replica's), a heartbeat loss
 * (registered through one replica, then silent: the watchdog records it) and 200 created
 * rows from both replicas; `midway` runs after the first 100.
 */
async function mixedWorkload(
  db: TestDatabase,
  { supervisord, apps, start }: Awaited<ReturnType<typeof mixedFleet>>,
  midway: () => Promise<void> = async () => undefined,
): Promise<void> {
  await supervisord.ctl("stop", "worker");
  await apps[1].admin.data(`mutation { registerProcess(name: "beating", pid: 4242) { port } }`);
  await createMany(apps, "row-a", 100);
  await midway();
  await createMany(apps, "row-b", 100);
  await until(
    "the stop and the heartbeat loss in the log",
    async () => {
      const kinds = await db.query<{ kind: string }>(
        "SELECT kind FROM fleetvisor_process_events WHERE id > ? AND kind IN ('SUPERVISOR_STATE_CHANGED', 'HEARTBEAT_LOST')",
        [start],
      );
      return new Set(kinds.map((k) => k.kind)).size === 2;
    },
    15_000,
  );
}

/** Every subscriber on both replicas has every event of the log since the fleet's start, once, in order. */
async function everyEventOnEveryReplica(
  db: TestDatabase,
  { apps, seen, start }: Awaited<ReturnType<typeof mixedFleet>>,
): Promise<void> {
  await marker(apps[1], seen);
  for (const [i, recorder] of seen.entries()) {
    const { received, logged } = await receivedAfter(db, recorder, start, `every event on replica ${i + 1}`);
    expect(logged.length).toBeGreaterThan(200);
    expect(received).toEqual(logged);
  }
}

describe("through Redis", () => {
  let db: TestDatabase;
  let redis: PrivateRedis;
  let apps: TestApp[];
  let seen: SubscriptionRecorder<Changed>[];

  beforeAll(async () => {
    db = await createTestDatabase("delivery_redis");
    cleanups.push(() => db.drop());
    redis = await PrivateRedis.start();
    cleanups.push(() => redis.stop());
    apps = await replicas(db, 2, { REDIS_URL: redis.url });
    seen = await subscribers(db, apps);
  });

  it("events recorded while Redis is away reach every open subscriber on both replicas, once, in order", async () => {
    const start = await marker(apps[0]!, seen);
    await redis.kill();
    await createMany(apps, "during-outage", 72);
    // Delivered from the log while Redis is still away…
    for (const [i, recorder] of seen.entries()) {
      const { received, logged } = await receivedAfter(db, recorder, start, `72 events on replica ${i + 1}`);
      expect(logged).toHaveLength(72);
      expect(received).toEqual(logged);
    }
    // …and when it is back, the fast path carries them again; still each once, in order.
    await redis.restart();
    await until("Redis ready on both replicas", async () => (await Promise.all(apps.map(redisReady))).every(Boolean));
    await createMany(apps, "after-outage", 10);
    await marker(apps[1]!, seen);
    for (const [i, recorder] of seen.entries()) {
      const { received, logged } = await receivedAfter(db, recorder, start, `every event on replica ${i + 1}`);
      expect(received).toEqual(logged);
    }
  });

  it("the same with Redis killed midway: a stop behind Fleetvisor's back, a heartbeat loss, 200 created rows", async () => {
    const mixed = await createTestDatabase("delivery_redis_midway");
    cleanups.push(() => mixed.drop());
    const fleet = await mixedFleet(mixed, { REDIS_URL: redis.url });
    await mixedWorkload(mixed, fleet, () => redis.kill());
    await everyEventOnEveryReplica(mixed, fleet);
    await redis.restart();
    await until("Redis ready again", async () => (await Promise.all(fleet.apps.map(redisReady))).every(Boolean));
  });

  it("two deployments sharing one Redis never see each other's events", async () => {
    const otherDb = await createTestDatabase("delivery_other");
    cleanups.push(() => otherDb.drop());
    const [other] = (await replicas(otherDb, 1, { REDIS_URL: redis.url })) as [TestApp];
    const [otherSeen] = (await subscribers(otherDb, [other])) as [SubscriptionRecorder<Changed>];
    const ours = await marker(apps[0]!, seen);
    const theirs = await marker(other, [otherSeen]);
    await createMany([other], "theirs", 5);
    await createMany(apps, "ours", 5);
    await marker(apps[1]!, seen);
    await marker(other, [otherSeen]);

    for (const recorder of seen) {
      const { received, logged } = await receivedAfter(db, recorder, ours, "our own events");
      expect(received).toEqual(logged);
    }
    const { received, logged } = await receivedAfter(otherDb, otherSeen, theirs, "their own events");
    expect(received).toEqual(logged);
    const names = (recorder: SubscriptionRecorder<Changed>) => recorder.values.map((e) => e.processChanged.processName);
    expect(seen.flatMap(names).filter((name) => name.startsWith("theirs-"))).toEqual([]);
    expect(names(otherSeen).filter((name) => name.startsWith("ours-"))).toEqual([]);
  });
});

describe("without Redis", () => {
  it("events of either replica reach subscribers on both, in order, exactly once: a stop behind Fleetvisor's back, a heartbeat loss, 200 created rows", async () => {
    const db = await createTestDatabase("delivery_no_redis");
    cleanups.push(() => db.drop());
    const fleet = await mixedFleet(db, {});
    await mixedWorkload(db, fleet);
    await everyEventOnEveryReplica(db, fleet);
  });
});
