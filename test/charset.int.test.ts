import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestApp, type TestApp, type TokenClient } from "./support/app.js";
import { createTestDatabase, type TestDatabase } from "./support/database.js";
import { connectWs, type SubscriptionRecorder, type WsConnection } from "./support/graphql-client.js";
import { GUIDE_DDL } from "./support/guide-ddl.js";
import { Supervisord } from "./support/supervisord.js";
import { until } from "./support/wait.js";

// Older MySQL servers (and many hand-made databases) default to latin1: a table created
// without a character set of its own is latin1 there, and cannot hold "→".

interface Event {
  id: string;
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
let supervisord: Supervisord;
const sockets: WsConnection[] = [];

function subscribe(variables: Record<string, unknown>): SubscriptionRecorder<Changed> {
  const ws = connectWs(app.url, viewer.token);
  sockets.push(ws);
  return ws.subscribe<Changed>(SUBSCRIPTION, variables);
}

async function lastEventId(): Promise<string> {
  const [row] = await db.query<{ last: string }>("SELECT COALESCE(MAX(id), 0) AS last FROM fleetvisor_process_events");
  return String(row!.last);
}

async function storedMessages(name: string, kind: string): Promise<string[]> {
  const rows = await db.query<{ message: string }>(
    "SELECT message FROM fleetvisor_process_events WHERE process_name = ? AND kind = ? ORDER BY id",
    [name, kind],
  );
  return rows.map((r) => r.message);
}

beforeAll(async () => {
  db = await createTestDatabase("latin1", { characterSet: "latin1" });
  // The registry as the guide had deployments create it: in the database's default, latin1.
  await db.query(GUIDE_DDL);
  supervisord = await Supervisord.start({ programs: { worker: { command: "sleep 1000" } } });
  app = await startTestApp(db.url, { SUPERVISOR_POLL_INTERVAL_SECONDS: "1", SUPERVISOR_TIMEOUT_MS: "2000" });
  viewer = await app.client("VIEWER", "latin1-viewer");
});

afterAll(async () => {
  await Promise.all(sockets.map((s) => s.dispose()));
  await app?.stop();
  await supervisord?.stop();
  await db?.drop();
});

describe("on a database whose default character set is latin1", () => {
  it("Fleetvisor's own tables are utf8mb4; the registry table the guide created is left as it was", async () => {
    const [database] = await db.query<{ charset: string }>(
      "SELECT DEFAULT_CHARACTER_SET_NAME AS charset FROM INFORMATION_SCHEMA.SCHEMATA WHERE SCHEMA_NAME = DATABASE()",
    );
    expect(database!.charset).toBe("latin1");

    const tables = await db.query<{ name: string; collation: string }>(
      `SELECT TABLE_NAME AS name, TABLE_COLLATION AS collation FROM INFORMATION_SCHEMA.TABLES
       WHERE TABLE_SCHEMA = DATABASE() ORDER BY TABLE_NAME`,
    );
    const own = tables.filter((t) => t.name.startsWith("fleetvisor_"));
    expect(own.map((t) => t.name)).toEqual(
      expect.arrayContaining([
        "fleetvisor_api_tokens",
        "fleetvisor_event_retention",
        "fleetvisor_migrations",
        "fleetvisor_process_events",
        "fleetvisor_supervisor_observations",
      ]),
    );
    expect(own.filter((t) => !t.collation.startsWith("utf8mb4_"))).toEqual([]);
    expect(tables.find((t) => t.name === "kb_server_processes")?.collation).toBe("latin1_swedish_ci");

    const columns = await db.query<{ name: string; charset: string }>(
      `SELECT CONCAT(TABLE_NAME, '.', COLUMN_NAME) AS name, CHARACTER_SET_NAME AS charset
       FROM INFORMATION_SCHEMA.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND CHARACTER_SET_NAME IS NOT NULL
       ORDER BY TABLE_NAME, ORDINAL_POSITION`,
    );
    expect(columns.filter((c) => c.name.startsWith("fleetvisor_") && c.charset !== "utf8mb4")).toEqual([]);
    expect(columns.filter((c) => c.name.startsWith("kb_server_processes."))).toEqual(
      expect.arrayContaining([
        { name: "kb_server_processes.process_name", charset: "latin1" },
        { name: "kb_server_processes.supervisor_program", charset: "latin1" },
      ]),
    );
  });

  it("process names (letters, digits, '.', '_', '-') round-trip through the latin1 registry", async () => {
    const names = ["Latin1.Node_01-a", "9-z.Y_x"];
    for (const name of names) {
      await app.admin.data(`mutation($name: String!) { createProcess(input: { name: $name, port: 8000 }) { id } }`, {
        name,
      });
    }
    const listed = await viewer.http.data<{ processes: { name: string }[] }>(`{ processes { name } }`);
    expect(listed.processes.map((p) => p.name)).toEqual(expect.arrayContaining(names));
    for (const name of names) {
      const one = await viewer.http.data<{ process: { name: string } | null }>(
        `query($name: String!) { process(name: $name) { name } }`,
        { name },
      );
      expect(one.process).toEqual({ name });
    }
    const rows = await db.query<{ process_name: string }>(
      "SELECT process_name FROM kb_server_processes WHERE process_name IN (?, ?) ORDER BY process_name",
      names,
    );
    expect(rows.map((r) => r.process_name)).toEqual([...names].sort());
  });

  // latin1 cannot hold "→": a lookup with it would fail in MySQL ("Illegal mix of
  // collations"), so every way a name comes in must refuse it before any query.
  it.each([
    ["process", `query($n: String!) { process(name: $n) { name } }`, "admin", "name"],
    ["processes", `query($n: String!) { processes(filter: { names: [$n] }) { name } }`, "admin", "filter.names[0]"],
    [
      "createProcess",
      `mutation($n: String!) { createProcess(input: { name: $n, port: 1 }) { name } }`,
      "admin",
      "input.name",
    ],
    [
      "updateProcess",
      `mutation($n: String!) { updateProcess(name: $n, input: { port: 1 }) { name } }`,
      "admin",
      "name",
    ],
    ["deleteProcess", `mutation($n: String!) { deleteProcess(name: $n) { name } }`, "admin", "name"],
    ["startProcess", `mutation($n: String!) { startProcess(name: $n) { name } }`, "admin", "name"],
    [
      "stopProcesses",
      `mutation($n: String!) { stopProcesses(filter: { names: [$n] }) { name } }`,
      "admin",
      "filter.names[0]",
    ],
    ["registerProcess", `mutation($n: String!) { registerProcess(name: $n, pid: 1) { port } }`, "agent", "name"],
    ["heartbeat", `mutation($n: String!) { heartbeat(name: $n, pid: 1) { ok } }`, "agent", "name"],
    ["deregisterProcess", `mutation($n: String!) { deregisterProcess(name: $n) { name } }`, "agent", "name"],
  ] as const)("%s refuses a name latin1 cannot hold, naming the field", async (_operation, query, who, field) => {
    const client = who === "admin" ? app.admin : (await app.client("AGENT", undefined, "latin1-*")).http;
    const error = await client.error(query, { n: "latin1-x→y" });
    expect(error.extensions).toEqual({
      code: "BAD_USER_INPUT",
      invalidFields: [{ field, message: expect.stringMatching(/^must be letters, digits/) }],
    });
  });

  it("an update's message with → is stored, delivered live and replayed", async () => {
    const name = "latin1-update";
    await app.admin.data(`mutation($name: String!) { createProcess(input: { name: $name, port: 8000 }) { id } }`, {
      name,
    });
    const cursor = await lastEventId();
    const live = subscribe({ names: [name], kinds: ["UPDATED"], after: cursor });
    const update = (port: number) =>
      app.admin.data(
        `mutation($name: String!, $port: Int!) { updateProcess(name: $name, input: { port: $port }) { port } }`,
        { name, port },
      );
    await update(8101);
    await live.count(1);
    // The subscription is past its replay now: this one comes live.
    await update(8102);
    const seen = (await live.count(2)).map((e) => e.processChanged.message);
    expect(seen).toEqual(["port: 8000 → 8101", "port: 8101 → 8102"]);

    expect(await storedMessages(name, "UPDATED")).toEqual(seen);
    const replayed = subscribe({ names: [name], kinds: ["UPDATED"], after: cursor });
    expect((await replayed.count(2)).map((e) => e.processChanged.message)).toEqual(seen);
  });

  it("supervisord state changes (RUNNING → STOPPED) are recorded and delivered", async () => {
    const name = "latin1-worker";
    await app.admin.data(`mutation($input: CreateProcessInput!) { createProcess(input: $input) { id } }`, {
      input: {
        name,
        port: 8000,
        supervisorHost: supervisord.host,
        supervisorPort: supervisord.port,
        program: "worker",
      },
    });
    await until(
      "the first poll of the worker",
      async () => (await storedMessages(name, "SUPERVISOR_STATE_CHANGED")).length > 0,
    );
    const seen = subscribe({ names: [name], kinds: ["SUPERVISOR_STATE_CHANGED"], after: await lastEventId() });
    await supervisord.ctl("stop", "worker");
    // A poll may catch the stop half-way (STOPPING) before it sees it done.
    const changes = (
      await seen.until(
        (v) => v.some((e) => / → STOPPED \(poll\)$/.test(e.processChanged.message ?? "")),
        10_000,
        "the stop",
      )
    ).map((e) => e.processChanged.message);
    expect(changes.at(-1)).toMatch(/^(RUNNING|STOPPING) \(pid \d+\) → STOPPED \(poll\)$/);
    expect(changes.slice(0, -1).every((m) => /^RUNNING \(pid \d+\) → STOPPING \(pid \d+\) \(poll\)$/.test(m!))).toBe(
      true,
    );
    expect(await storedMessages(name, "SUPERVISOR_STATE_CHANGED")).toEqual([
      expect.stringMatching(/^first seen → RUNNING \(pid \d+\) \(poll\)$/),
      ...changes,
    ]);
  });
});
