import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestApp, type TestApp, type TokenClient } from "./support/app.js";
import { createTestDatabase, storedTime, type TestDatabase } from "./support/database.js";
import { connectWs, refusedFields, type WsConnection } from "./support/graphql-client.js";
import { until } from "./support/wait.js";

const PROCESS_FIELDS =
  "id name port pid status lastHeartbeat supervisorHost supervisorPort program createdAt updatedAt";

interface Row {
  process_name: string;
  port: number;
  pid: number | null;
  status: string | null;
  supervisor_host: string | null;
  supervisor_port: number | null;
  supervisor_program: string;
  last_heartbeat: Date | string | null;
  updated_at: Date | string | null;
}

let db: TestDatabase;
let app: TestApp;
let agent: TokenClient;
const sockets: WsConnection[] = [];

async function rows(): Promise<Row[]> {
  const found = await db.query<Row>("SELECT * FROM kb_server_processes ORDER BY process_name");
  return found.map((row) => ({
    ...row,
    last_heartbeat: storedTime(row.last_heartbeat),
    updated_at: storedTime(row.updated_at),
  }));
}

async function eventCount(): Promise<number> {
  const [row] = await db.query<{ n: number }>("SELECT COUNT(*) AS n FROM fleetvisor_process_events");
  return Number(row!.n);
}

function createProcess(name: string, port: number, extra: Record<string, unknown> = {}) {
  return app.admin.data<{ createProcess: Record<string, unknown> }>(
    `mutation($input: CreateProcessInput!) { createProcess(input: $input) { ${PROCESS_FIELDS} } }`,
    { input: { name, port, supervisorHost: "domaeka-server-test-01", supervisorPort: 9101, ...extra } },
  );
}

beforeAll(async () => {
  db = await createTestDatabase("registry");
  app = await startTestApp(db.url);
  agent = await app.client("AGENT", "domaeka-agent", "domaeka-*");
});

afterAll(async () => {
  await Promise.all(sockets.map((s) => s.dispose()));
  await app?.stop();
  await db?.drop();
});

describe("a managed server's life, as a subscriber sees it", () => {
  it("register → heartbeat → deregister arrive in order, with the registry following", async () => {
    await createProcess("domaeka-test-01", 8001);
    const ws = connectWs(app.url, (await app.client("VIEWER")).token);
    sockets.push(ws);
    await ws.connected;
    // Resuming from the log's current end makes the subscription gapless however long the
    // server takes to attach it; heartbeats are live only, so beat until one is seen.
    const [{ last } = { last: "0" }] = await db.query<{ last: string }>(
      "SELECT COALESCE(MAX(id), 0) AS last FROM fleetvisor_process_events",
    );
    const seen = ws.subscribe<{
      processChanged: {
        id: string | null;
        kind: string;
        processName: string;
        actor: string;
        status: string;
        process: { pid: number | null; status: string } | null;
      };
    }>(
      `subscription($after: ID) { processChanged(names: ["domaeka-test-01"], kinds: [REGISTERED, HEARTBEAT, DEREGISTERED], after: $after) {
         id kind processName actor status process { pid status } } }`,
      { after: String(last) },
    );

    const registration = await agent.http.data<{
      registerProcess: { port: number; heartbeatIntervalSeconds: number; process: { status: string; pid: number } };
    }>(
      `mutation { registerProcess(name: "domaeka-test-01", pid: 4242) { port heartbeatIntervalSeconds process { status pid } } }`,
    );
    expect(registration.registerProcess).toEqual({
      port: 8001,
      heartbeatIntervalSeconds: 30,
      process: { status: "RUNNING", pid: 4242 },
    });
    await seen.count(1);

    // Heartbeats are live only: beat until the subscriber has one.
    type Beat = { heartbeat: { ok: boolean; serverTime: string; nextHeartbeatInSeconds: number } };
    const beat = await until("a heartbeat reaching the subscriber", async () => {
      const answer = await agent.http.data<Beat>(
        `mutation { heartbeat(name: "domaeka-test-01", pid: 4242) { ok serverTime nextHeartbeatInSeconds } }`,
      );
      expect(answer.heartbeat.ok).toBe(true);
      return seen.values.some((e) => e.processChanged.kind === "HEARTBEAT") && answer;
    });
    expect(beat.heartbeat.nextHeartbeatInSeconds).toBe(30);
    expect(Math.abs(Date.parse(beat.heartbeat.serverTime) - Date.now())).toBeLessThan(5_000);

    const gone = await agent.http.data<{ deregisterProcess: { status: string; pid: number | null } }>(
      `mutation { deregisterProcess(name: "domaeka-test-01") { status pid } }`,
    );
    expect(gone.deregisterProcess).toEqual({ status: "STOPPED", pid: null });

    const events = (await seen.until((all) => all.at(-1)?.processChanged.kind === "DEREGISTERED")).map(
      (e) => e.processChanged,
    );
    expect(events[0]!.kind).toBe("REGISTERED");
    expect(events.slice(1, -1).map((e) => e.kind)).toEqual(expect.arrayContaining(["HEARTBEAT"]));
    expect(new Set(events.slice(1, -1).map((e) => e.kind))).toEqual(new Set(["HEARTBEAT"]));
    expect(events.every((e) => e.processName === "domaeka-test-01" && e.actor === "domaeka-agent")).toBe(true);
    expect(events[0]!.process).toEqual({ pid: 4242, status: "RUNNING" });
    expect(events[1]!.id).toBeNull();
    expect(events.at(-1)!.process).toEqual({ pid: null, status: "STOPPED" });
    expect(Number(events.at(-1)!.id)).toBeGreaterThan(Number(events[0]!.id));

    // Recorded once each in the log; the heartbeat is not recorded.
    const log = await db.query<{ kind: string; actor: string }>(
      "SELECT kind, actor FROM fleetvisor_process_events WHERE process_name = 'domaeka-test-01' ORDER BY id",
    );
    expect(log).toEqual([
      { kind: "CREATED", actor: "bootstrap-admin" },
      { kind: "REGISTERED", actor: "domaeka-agent" },
      { kind: "DEREGISTERED", actor: "domaeka-agent" },
    ]);
  });

  it("stores what the guide's readers expect: pid, status and a UTC heartbeat", async () => {
    await createProcess("domaeka-test-02", 8002);
    const before = Date.now();
    await agent.http.data(`mutation { registerProcess(name: "domaeka-test-02", pid: 777) { port } }`);
    const row = (await rows()).find((r) => r.process_name === "domaeka-test-02")!;
    expect(row.pid).toBe(777);
    expect(row.status).toBe("running");
    const heartbeat = row.last_heartbeat as Date;
    expect(heartbeat.getTime()).toBeGreaterThanOrEqual(Math.floor(before / 1000) * 1000 - 1000);
    expect(heartbeat.getTime()).toBeLessThanOrEqual(Date.now() + 1000);
  });

  it("a heartbeat from a pid that is not the registered one is refused with ok: false, and changes nothing", async () => {
    await createProcess("domaeka-test-03", 8003);
    await agent.http.data(`mutation { registerProcess(name: "domaeka-test-03", pid: 100) { port } }`);
    const before = (await rows()).find((r) => r.process_name === "domaeka-test-03")!;
    const beat = await agent.http.data<{ heartbeat: { ok: boolean; message: string } }>(
      `mutation { heartbeat(name: "domaeka-test-03", pid: 101) { ok message } }`,
    );
    expect(beat.heartbeat.ok).toBe(false);
    expect(beat.heartbeat.message).toContain("registerProcess");
    expect((await rows()).find((r) => r.process_name === "domaeka-test-03")).toEqual(before);

    await agent.http.data(`mutation { deregisterProcess(name: "domaeka-test-03") { status } }`);
    const stopped = await agent.http.data<{ heartbeat: { ok: boolean; message: string } }>(
      `mutation { heartbeat(name: "domaeka-test-03", pid: 100) { ok message } }`,
    );
    expect(stopped.heartbeat).toEqual({ ok: false, message: expect.stringContaining("stopped") });
  });

  it("a heartbeat brings a process in error back to running, recorded as HEARTBEAT_RESTORED", async () => {
    await createProcess("domaeka-test-04", 8004);
    await agent.http.data(`mutation { registerProcess(name: "domaeka-test-04", pid: 55) { port } }`);
    await db.query("UPDATE kb_server_processes SET status = 'error' WHERE process_name = 'domaeka-test-04'");
    const beat = await agent.http.data<{ heartbeat: { ok: boolean } }>(
      `mutation { heartbeat(name: "domaeka-test-04", pid: 55) { ok } }`,
    );
    expect(beat.heartbeat.ok).toBe(true);
    expect((await rows()).find((r) => r.process_name === "domaeka-test-04")!.status).toBe("running");
    const log = await db.query<{ kind: string }>(
      "SELECT kind FROM fleetvisor_process_events WHERE process_name = 'domaeka-test-04' ORDER BY id DESC LIMIT 1",
    );
    expect(log[0]!.kind).toBe("HEARTBEAT_RESTORED");
  });

  it("registering the same pid again (a retried call) records nothing new", async () => {
    await createProcess("domaeka-test-05", 8005);
    await agent.http.data(`mutation { registerProcess(name: "domaeka-test-05", pid: 9) { port } }`);
    const events = await eventCount();
    await agent.http.data(`mutation { registerProcess(name: "domaeka-test-05", pid: 9) { port } }`);
    expect(await eventCount()).toBe(events);
    await agent.http.data(`mutation { registerProcess(name: "domaeka-test-05", pid: 10) { port } }`);
    expect(await eventCount()).toBe(events + 1);
  });
});

describe("heartbeats written together", () => {
  it("each of many concurrent heartbeats learns whether its own pid matched", async () => {
    const names = Array.from({ length: 30 }, (_, i) => `domaeka-batch-${i}`);
    for (const [i, name] of names.entries()) {
      await createProcess(name, 9000 + i);
      await agent.http.data(`mutation($n: String!, $p: Int!) { registerProcess(name: $n, pid: $p) { port } }`, {
        n: name,
        p: 500 + i,
      });
    }
    await db.query("UPDATE kb_server_processes SET last_heartbeat = NULL WHERE process_name LIKE 'domaeka-batch-%'");
    // Every third one beats with a wrong pid; all race each other into the same batches.
    const beats = await Promise.all(
      names.map((name, i) =>
        agent.http.data<{ heartbeat: { ok: boolean } }>(
          `mutation($n: String!, $p: Int!) { heartbeat(name: $n, pid: $p) { ok } }`,
          {
            n: name,
            p: i % 3 === 0 ? 9999 : 500 + i,
          },
        ),
      ),
    );
    expect(beats.map((b) => b.heartbeat.ok)).toEqual(names.map((_, i) => i % 3 !== 0));
    const stamped = await db.query<{ process_name: string; last_heartbeat: Date | null }>(
      "SELECT process_name, last_heartbeat FROM kb_server_processes WHERE process_name LIKE 'domaeka-batch-%'",
    );
    const byName = new Map(stamped.map((r) => [r.process_name, r.last_heartbeat]));
    expect(names.map((name) => byName.get(name) !== null)).toEqual(names.map((_, i) => i % 3 !== 0));
  });
});

describe("unknown names and bad input change nothing", () => {
  const agentMutations = [
    `mutation { registerProcess(name: "domaeka-nope", pid: 1) { port } }`,
    `mutation { heartbeat(name: "domaeka-nope", pid: 1) { ok } }`,
    `mutation { deregisterProcess(name: "domaeka-nope") { status } }`,
  ];

  it.each(agentMutations)("NOT_FOUND: %s", async (mutation) => {
    const [beforeRows, beforeEvents] = [await rows(), await eventCount()];
    const error = await agent.http.error(mutation);
    expect(error.extensions?.code).toBe("NOT_FOUND");
    expect(error.message).toContain('"domaeka-nope"');
    expect(await rows()).toEqual(beforeRows);
    expect(await eventCount()).toBe(beforeEvents);
  });

  it.each([
    ["invalid port", { name: "domaeka-bad-1", port: 0 }, "input.port"],
    ["port above 65535", { name: "domaeka-bad-2", port: 65536 }, "input.port"],
    ["oversized name", { name: `d${"x".repeat(100)}`, port: 8000 }, "input.name"],
    ["malformed name", { name: "-domaeka", port: 8000 }, "input.name"],
    ["name with a space", { name: "domaeka test", port: 8000 }, "input.name"],
    [
      "invalid supervisor host",
      { name: "domaeka-bad-3", port: 8000, supervisorHost: "bad host!", supervisorPort: 9001 },
      "input.supervisorHost",
    ],
    [
      "invalid supervisor port",
      { name: "domaeka-bad-4", port: 8000, supervisorHost: "sv", supervisorPort: 99999 },
      "input.supervisorPort",
    ],
    ["host without port", { name: "domaeka-bad-5", port: 8000, supervisorHost: "sv" }, "input.supervisorPort"],
  ])("createProcess refuses %s with BAD_USER_INPUT naming the field", async (_label, input, field) => {
    const [beforeRows, beforeEvents] = [await rows(), await eventCount()];
    const error = await app.admin.error(
      `mutation($input: CreateProcessInput!) { createProcess(input: $input) { id } }`,
      {
        input: { supervisorHost: null, supervisorPort: null, ...input },
      },
    );
    expect(error.extensions?.code).toBe("BAD_USER_INPUT");
    expect(error.extensions?.invalidFields).toContainEqual(expect.objectContaining({ field }));
    expect(error.message).toContain(field);
    expect(await rows()).toEqual(beforeRows);
    expect(await eventCount()).toBe(beforeEvents);
  });

  it("reports every invalid field at once", async () => {
    const error = await app.admin.error(
      `mutation { createProcess(input: { name: "", port: -1, supervisorHost: "a..b", supervisorPort: 0 }) { id } }`,
    );
    expect(refusedFields(error)).toEqual(
      ["input.name", "input.port", "input.supervisorHost", "input.supervisorPort"].sort(),
    );
  });

  it("a malformed or oversized name in an agent call is BAD_USER_INPUT, not NOT_FOUND", async () => {
    for (const name of ["domaeka-../etc", `domaeka-${"y".repeat(120)}`]) {
      const error = await agent.http.error(
        `mutation($name: String!) { registerProcess(name: $name, pid: 1) { port } }`,
        { name },
      );
      expect(error.extensions?.code).toBe("BAD_USER_INPUT");
      expect(error.extensions?.invalidFields).toEqual([expect.objectContaining({ field: "name" })]);
    }
    const pid = await agent.http.error(`mutation { heartbeat(name: "domaeka-test-01", pid: 0) { ok } }`);
    expect(pid.extensions?.code).toBe("BAD_USER_INPUT");
  });

  it("a duplicate name is CONFLICT and leaves the existing row as it was", async () => {
    await createProcess("domaeka-dup", 8100);
    const before = await rows();
    const error = await app.admin.error(
      `mutation { createProcess(input: { name: "domaeka-dup", port: 8101 }) { id } }`,
    );
    expect(error.extensions?.code).toBe("CONFLICT");
    expect(await rows()).toEqual(before);
  });
});

describe("admin registry changes", () => {
  it("creates with the default program, updates only what is given, deletes and records each once", async () => {
    const created = (
      await createProcess("domaeka-live-01", 8011, { supervisorHost: "10.0.0.11", supervisorPort: 9111 })
    ).createProcess;
    expect(created).toMatchObject({
      name: "domaeka-live-01",
      status: "STOPPED",
      program: "python-server",
      pid: null,
      supervisorHost: "10.0.0.11",
    });

    const updated = await app.admin.data<{ updateProcess: Record<string, unknown> }>(
      `mutation { updateProcess(name: "domaeka-live-01", input: { port: 8021, program: "api" }) { port program supervisorHost supervisorPort } }`,
    );
    expect(updated.updateProcess).toEqual({
      port: 8021,
      program: "api",
      supervisorHost: "10.0.0.11",
      supervisorPort: 9111,
    });

    const invalid = await app.admin.error(
      `mutation { updateProcess(name: "domaeka-live-01", input: { port: 0 }) { port } }`,
    );
    expect(invalid.extensions?.code).toBe("BAD_USER_INPUT");
    const missing = await app.admin.error(
      `mutation { updateProcess(name: "domaeka-live-99", input: { port: 8000 }) { port } }`,
    );
    expect(missing.extensions?.code).toBe("NOT_FOUND");

    const deleted = await app.admin.data<{ deleteProcess: { name: string; port: number } }>(
      `mutation { deleteProcess(name: "domaeka-live-01") { name port } }`,
    );
    expect(deleted.deleteProcess).toEqual({ name: "domaeka-live-01", port: 8021 });
    expect((await rows()).some((r) => r.process_name === "domaeka-live-01")).toBe(false);
    const again = await app.admin.error(`mutation { deleteProcess(name: "domaeka-live-01") { name } }`);
    expect(again.extensions?.code).toBe("NOT_FOUND");

    const log = await db.query<{ kind: string; message: string }>(
      "SELECT kind, message FROM fleetvisor_process_events WHERE process_name = 'domaeka-live-01' ORDER BY id",
    );
    expect(log.map((e) => e.kind)).toEqual(["CREATED", "UPDATED", "DELETED"]);
    expect(log[1]!.message).toContain("port: 8011 → 8021");
  });
});

describe("queries", () => {
  beforeAll(async () => {
    for (const [name, port, host] of [
      ["q-live-01", 9001, "sv-a"],
      ["q-live-02", 9002, "sv-b"],
      ["q-test-01", 9003, "sv-a"],
      ["qx_01", 9004, "sv-a"],
    ] as const) {
      await createProcess(name, port, { supervisorHost: host });
    }
    await app.admin.data(`mutation { registerProcess(name: "q-live-02", pid: 12) { port } }`);
  });

  const names = async (filter: Record<string, unknown>): Promise<string[]> =>
    (
      await app.admin.data<{ processes: { name: string }[] }>(
        `query($f: ProcessFilter) { processes(filter: $f) { name } }`,
        { f: filter },
      )
    ).processes.map((p) => p.name);

  it("filters by names, name prefix, status and supervisor host, ordered by name", async () => {
    expect(await names({ names: ["q-test-01", "q-live-01", "q-none"] })).toEqual(["q-live-01", "q-test-01"]);
    expect(await names({ namePrefix: "q-live-" })).toEqual(["q-live-01", "q-live-02"]);
    expect(await names({ namePrefix: "q-", statuses: ["RUNNING"] })).toEqual(["q-live-02"]);
    expect(await names({ namePrefix: "q", supervisorHost: "sv-a" })).toEqual(["q-live-01", "q-test-01", "qx_01"]);
    // `_` in a prefix is a literal, not a LIKE wildcard.
    expect(await names({ namePrefix: "qx_" })).toEqual(["qx_01"]);
    expect(await names({ namePrefix: "q_" })).toEqual([]);
    expect(await names({ names: [] })).toEqual([]);
  });

  it("process(name) returns the row's registry fields, or null", async () => {
    const data = await app.admin.data<{ a: Record<string, unknown>; b: null }>(
      `{ a: process(name: "q-live-02") { ${PROCESS_FIELDS} } b: process(name: "q-none") { id } }`,
    );
    expect(data.a).toMatchObject({
      name: "q-live-02",
      port: 9002,
      pid: 12,
      status: "RUNNING",
      supervisorHost: "sv-b",
      supervisorPort: 9101,
      program: "python-server",
    });
    expect(typeof data.a.lastHeartbeat).toBe("string");
    expect(data.b).toBeNull();
  });

  it("an invalid filter is BAD_USER_INPUT", async () => {
    const error = await app.admin.error(`{ processes(filter: { names: ["bad name"] }) { name } }`);
    expect(error.extensions?.code).toBe("BAD_USER_INPUT");
    expect(error.extensions?.invalidFields).toEqual([expect.objectContaining({ field: "filter.names[0]" })]);
  });
});
