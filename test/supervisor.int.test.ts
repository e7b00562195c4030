import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from "vitest";
import { startTestApp, type TestApp, type TokenClient } from "./support/app.js";
import { createTestDatabase, type TestDatabase } from "./support/database.js";
import { freePort, Supervisord } from "./support/supervisord.js";
import { tempDir } from "./support/temp-dir.js";
import { until } from "./support/wait.js";

const MAIN_AUTH = { username: "fleet", password: "main-pass-7f3a" };
const OTHER_AUTH = { username: "other", password: "other-pass-91bc" };
const SECRETS = [MAIN_AUTH.password, OTHER_AUTH.password, "wrong-pass-0000"];
const READ_TIMEOUT_MS = 1000;

let db: TestDatabase;
let app: TestApp;
let operator: TokenClient;
let viewer: TokenClient;
/** Default credentials, several programs. */
let main: Supervisord;
/** Its own credentials, from SUPERVISOR_CREDENTIALS_FILE. */
let other: Supervisord;
/** Frozen with SIGSTOP: accepts connections, never answers. */
let frozen: Supervisord;
/** Configured with a password it does not accept. */
let wrongPassword: Supervisord;
/** No [rpcinterface:supervisor] section. */
let misconfigured: Supervisord;
let closedPort: number;

interface LiveProcess {
  name: string;
  status: string;
  pid: number | null;
  health: string;
  healthReasons: string[];
  supervisor: {
    state: string;
    stateName: string;
    pid: number | null;
    uptimeSeconds: number | null;
    exitStatus: number;
    spawnError: string | null;
    description: string;
    startedAt: string | null;
  } | null;
}

const LIVE_FIELDS = `name status pid health healthReasons
  supervisor { state stateName pid uptimeSeconds exitStatus spawnError description startedAt }`;

async function createRow(
  name: string,
  port: number,
  program: string,
  supervisor: { port: number } = main,
): Promise<void> {
  await app.admin.data(`mutation($input: CreateProcessInput!) { createProcess(input: $input) { id } }`, {
    input: { name, port: 8000, supervisorHost: "127.0.0.1", supervisorPort: supervisor.port, program },
  });
  void port;
}

async function metric(name: string, labels: Record<string, string>): Promise<number> {
  const text = await (await fetch(`${app.url}/metrics`)).text();
  const wanted = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
  let total = 0;
  for (const line of text.split("\n")) {
    if (!line.startsWith(`${name}{`)) continue;
    if (wanted.every((w) => line.includes(w))) total += Number(line.split(" ").at(-1));
  }
  return total;
}

async function live(name: string, client = viewer): Promise<LiveProcess> {
  const data = await client.http.data<{ process: LiveProcess }>(
    `query($n: String!) { process(name: $n) { ${LIVE_FIELDS} } }`,
    { n: name },
  );
  return data.process;
}

/** A process's status changes, oldest first, as the audit trail (Query.events) tells them. */
async function statusEvents(name: string): Promise<{ message: string; actor: string; status: string }[]> {
  const { events } = await app.admin.data<{ events: { message: string; actor: string; status: string }[] }>(
    `query($name: String!) { events(processName: $name, kinds: [STATUS_CHANGED], after: "0") { message actor status } }`,
    { name },
  );
  return events;
}

beforeAll(async () => {
  [main, other, frozen, wrongPassword, misconfigured] = await Promise.all([
    Supervisord.start({
      auth: MAIN_AUTH,
      programs: {
        "python-server": { command: "sleep 1000" },
        worker: { command: "sleep 1000" },
        "quick-exit": { command: "sh -c 'exit 3'" },
        missing: { command: "/nonexistent/command" },
        chatty: { command: "sh -c 'echo hello from stdout; echo trouble on stderr >&2; exec sleep 1000'" },
        "slow-start": { command: "sleep 1000", startsecs: 1, autostart: false },
        "dies-early": { command: "sh -c 'sleep 0.3; exit 1'", startsecs: 2, autostart: false },
        "roll-a": { command: "sleep 1000" },
        "roll-b": { command: "sleep 1000" },
        "roll-c": { command: "sleep 1000" },
      },
    }),
    Supervisord.start({
      auth: OTHER_AUTH,
      programs: {
        "python-server": { command: "sleep 1000" },
        "slow-start": { command: "sleep 1000", startsecs: 1, autostart: false },
      },
    }),
    Supervisord.start({ auth: MAIN_AUTH, programs: { "python-server": { command: "sleep 1000" } } }),
    Supervisord.start({
      auth: { username: "fleet", password: "the-real-one" },
      programs: { "python-server": { command: "sleep 1000" } },
    }),
    Supervisord.start({
      auth: MAIN_AUTH,
      rpcinterface: false,
      programs: { "python-server": { command: "sleep 1000" } },
    }),
  ]);
  closedPort = await freePort();
  const credentialsFile = join(tempDir("creds"), "credentials.json");
  writeFileSync(
    credentialsFile,
    JSON.stringify({
      [`127.0.0.1:${other.port}`]: OTHER_AUTH,
      [`127.0.0.1:${wrongPassword.port}`]: { username: "fleet", password: "wrong-pass-0000" },
    }),
  );
  db = await createTestDatabase("supervisor");
  app = await startTestApp(db.url, {
    SUPERVISOR_USERNAME: MAIN_AUTH.username,
    SUPERVISOR_PASSWORD: MAIN_AUTH.password,
    SUPERVISOR_CREDENTIALS_FILE: credentialsFile,
    SUPERVISOR_TIMEOUT_MS: String(READ_TIMEOUT_MS),
    SUPERVISOR_CONTROL_TIMEOUT_MS: "20000",
    // Short, so that a stale heartbeat can be shown without waiting 90 s.
    HEARTBEAT_INTERVAL_SECONDS: "1",
    HEARTBEAT_STALE_SECONDS: "3",
  });
  operator = await app.client("OPERATOR", "ops");
  viewer = await app.client("VIEWER", "dashboard");

  for (const program of [
    "python-server",
    "worker",
    "quick-exit",
    "missing",
    "chatty",
    "slow-start",
    "dies-early",
    "roll-a",
    "roll-b",
    "roll-c",
  ]) {
    await createRow(`main-${program}`, 8000, program);
  }
  await createRow("main-unknown-program", 8000, "no-such-program");
  await createRow("other-python-server", 8000, "python-server", other);
  await createRow("other-slow-start", 8000, "slow-start", other);
  await createRow("frozen-python-server", 8000, "python-server", frozen);
  await createRow("closed-python-server", 8000, "python-server", { port: closedPort });
  await createRow("wrong-password-python-server", 8000, "python-server", wrongPassword);
  await createRow("misconfigured-python-server", 8000, "python-server", misconfigured);
  await app.admin.data(`mutation { createProcess(input: { name: "no-supervisor", port: 8000 }) { id } }`);
  await main.waitForState("python-server", "RUNNING");
  await main.waitForState("missing", "FATAL");
  await main.waitForState("quick-exit", "EXITED");
  frozen.pause();
}, 120_000);

afterAll(async () => {
  await app?.stop();
  await Promise.all([main, other, frozen, wrongPassword, misconfigured].map((s) => s?.stop()));
  await db?.drop();
});

describe("live supervisord fields", () => {
  it("match what supervisord itself says", async () => {
    const server = await live("main-python-server");
    expect(server.supervisor).toMatchObject({
      state: "RUNNING",
      stateName: "RUNNING",
      pid: await main.programPid("python-server"),
      exitStatus: 0,
      spawnError: null,
    });
    expect(server.supervisor!.description).toMatch(/^pid \d+, uptime /);
    expect(server.supervisor!.uptimeSeconds).toBeGreaterThanOrEqual(0);
    // Never registered with Fleetvisor: supervisord runs it, nobody beats.
    expect(server.status).toBe("STOPPED");

    const exited = await live("main-quick-exit");
    expect(exited.supervisor).toMatchObject({ state: "EXITED", pid: null, exitStatus: 3, uptimeSeconds: null });
    expect(exited.health).toBe("CRASHED");
    expect(exited.healthReasons[0]).toBe("supervisord says EXITED with status 3");

    const missing = await live("main-missing");
    expect(missing.supervisor).toMatchObject({
      state: "FATAL",
      spawnError: "can't find command '/nonexistent/command'",
    });
    expect(missing.health).toBe("CRASHED");

    const otherHost = await live("other-python-server");
    expect(otherHost.supervisor).toMatchObject({ state: "RUNNING", pid: await other.programPid("python-server") });
  });

  it("follow changes made outside Fleetvisor with supervisorctl", async () => {
    await main.ctl("stop", "worker");
    expect((await live("main-worker")).supervisor).toMatchObject({ state: "STOPPED", pid: null });
    await main.ctl("start", "worker");
    const restarted = await live("main-worker");
    expect(restarted.supervisor).toMatchObject({ state: "RUNNING", pid: await main.programPid("worker") });
  });

  it("report health from both sources, naming a pid that differs", async () => {
    const pid = await main.programPid("python-server");
    await app.admin.data(`mutation($p: Int!) { registerProcess(name: "main-python-server", pid: $p) { port } }`, {
      p: pid,
    });
    expect((await live("main-python-server")).health).toBe("HEALTHY");

    await app.admin.data(`mutation { registerProcess(name: "main-python-server", pid: 4) { port } }`);
    const mismatch = await live("main-python-server");
    expect(mismatch.healthReasons).toContain(`pid differs: registry has 4, supervisord runs ${pid}`);

    // Up for longer than the stale limit, and no heartbeat of this run for longer than that: hung.
    await until(
      "an uptime past the stale limit",
      async () => (await live("main-python-server")).supervisor!.uptimeSeconds! > 6,
    );
    await db.query("UPDATE kb_server_processes SET last_heartbeat = ? WHERE process_name = 'main-python-server'", [
      new Date(Date.now() - 4_000),
    ]);
    const hung = await live("main-python-server");
    expect(hung.health).toBe("UNRESPONSIVE");
    expect(hung.healthReasons[0]).toMatch(
      /^supervisord says RUNNING, but last heartbeat [45]s ago \(stale after 3s\)$/,
    );
    await app.admin.data(`mutation { deregisterProcess(name: "main-python-server") { status } }`);
  });

  it("ask each supervisord once per request, whatever the number of rows and fields", async () => {
    const before = await metric("fleetvisor_supervisor_calls_total", {
      supervisor: `127.0.0.1:${main.port}`,
      method: "supervisor.getAllProcessInfo",
    });
    const otherBefore = await metric("fleetvisor_supervisor_calls_total", {
      supervisor: `127.0.0.1:${other.port}`,
      method: "supervisor.getAllProcessInfo",
    });
    const result = await viewer.http.request<{ processes: LiveProcess[]; again: LiveProcess[] }>(
      `{ processes(filter: { namePrefix: "main-" }) { ${LIVE_FIELDS} } again: processes(filter: { namePrefix: "main-" }) { health supervisor { pid } } }`,
    );
    const data = result.body.data!;
    expect(data.processes.length).toBe(11);
    expect(data.processes.filter((p) => p.supervisor !== null)).toHaveLength(10);
    expect(
      await metric("fleetvisor_supervisor_calls_total", {
        supervisor: `127.0.0.1:${main.port}`,
        method: "supervisor.getAllProcessInfo",
      }),
    ).toBe(before + 1);
    expect(
      await metric("fleetvisor_supervisor_calls_total", {
        supervisor: `127.0.0.1:${other.port}`,
        method: "supervisor.getAllProcessInfo",
      }),
    ).toBe(otherBefore);

    // A query that asks for no live field asks no supervisord.
    const total = () => metric("fleetvisor_supervisor_calls_total", { method: "supervisor.getAllProcessInfo" });
    const beforeNames = await total();
    await viewer.http.data(`{ processes { name status lastHeartbeat } }`);
    expect(await total()).toBe(beforeNames);
  });

  it("a host that hangs, refuses or rejects the credentials costs only its own rows' supervisor fields, within the timeout", async () => {
    const started = Date.now();
    const result = await viewer.http.request<{ processes: LiveProcess[] }>(`{ processes { ${LIVE_FIELDS} } }`);
    const elapsed = Date.now() - started;
    expect(elapsed).toBeLessThan(READ_TIMEOUT_MS + 2_000);

    const rows = result.body.data!.processes;
    const index = (name: string) => rows.findIndex((r) => r.name === name);
    const errorAt = (name: string) =>
      result.body.errors?.find((e) => e.path?.[1] === index(name) && e.path?.[2] === "supervisor");

    for (const [name, code, message] of [
      [
        "frozen-python-server",
        "SUPERVISOR_UNAVAILABLE",
        `supervisord at 127.0.0.1:${frozen.port} did not answer supervisor.getAllProcessInfo within ${READ_TIMEOUT_MS} ms`,
      ],
      [
        "closed-python-server",
        "SUPERVISOR_UNAVAILABLE",
        `supervisord at 127.0.0.1:${closedPort} refused the connection`,
      ],
      [
        "wrong-password-python-server",
        "SUPERVISOR_UNAVAILABLE",
        `supervisord at 127.0.0.1:${wrongPassword.port} rejected the credentials (HTTP 401)`,
      ],
      ["misconfigured-python-server", "SUPERVISOR_FAULT", "has no [rpcinterface:supervisor] section"],
      ["main-unknown-program", "NOT_FOUND", `supervisord at 127.0.0.1:${main.port} has no program "no-such-program"`],
    ] as const) {
      const row = rows[index(name)]!;
      expect(row.supervisor, name).toBeNull();
      expect(row.name).toBe(name);
      expect(row.status).toBe("STOPPED");
      const error = errorAt(name);
      expect(error?.extensions?.code, name).toBe(code);
      expect(error?.message, name).toContain(message);
    }
    expect(rows[index("frozen-python-server")]!.health).toBe("UNREACHABLE");
    expect(rows[index("misconfigured-python-server")]!.health).toBe("UNKNOWN");
    expect(rows[index("misconfigured-python-server")]!.healthReasons[0]).toContain("[rpcinterface:supervisor]");
    expect(errorAt("misconfigured-python-server")?.extensions?.faultName).toBe("UNKNOWN_METHOD");
    // Everything else is complete.
    expect(rows[index("main-python-server")]!.supervisor?.state).toBe("RUNNING");
    expect(rows[index("other-python-server")]!.supervisor?.state).toBe("RUNNING");
    expect(rows[index("no-supervisor")]!.supervisor).toBeNull();
    expect(result.body.errors).toHaveLength(5);
    for (const secret of SECRETS) expect(JSON.stringify(result.body)).not.toContain(secret);
  });

  it("a list asks at once the supervisords it named last time; one that no longer serves it holds nothing up", async () => {
    await createRow("guess-a", 8000, "python-server");
    await createRow("guess-b", 8000, "python-server", frozen);
    onTestFinished(async () => {
      for (const name of ["guess-a", "guess-b"])
        await app.admin.data(`mutation { deleteProcess(name: "${name}") { id } }`);
    });
    const query = `{ processes(filter: { namePrefix: "guess-" }) { name supervisor { state } } }`;
    const first = await viewer.http.request<{ processes: { name: string; supervisor: { state: string } | null }[] }>(
      query,
    );
    expect(first.body.data!.processes.map((p) => p.supervisor?.state ?? null)).toEqual(["RUNNING", null]);

    // guess-b moves to a supervisord that answers; the list still names the frozen one
    // from last time, and asks it, but its rows no longer wait for it.
    await app.admin.data(`mutation { updateProcess(name: "guess-b", input: { supervisorPort: ${main.port} }) { id } }`);
    const mainCalls = () =>
      metric("fleetvisor_supervisor_calls_total", {
        supervisor: `127.0.0.1:${main.port}`,
        method: "supervisor.getAllProcessInfo",
      });
    const frozenCalls = () =>
      metric("fleetvisor_supervisor_calls_total", {
        supervisor: `127.0.0.1:${frozen.port}`,
        method: "supervisor.getAllProcessInfo",
      });
    const before = await mainCalls();
    const frozenBefore = await frozenCalls();
    const started = Date.now();
    const second = await viewer.http.data<{ processes: { name: string; supervisor: { state: string } | null }[] }>(
      query,
    );
    expect(Date.now() - started).toBeLessThan(READ_TIMEOUT_MS);
    expect(second.processes).toEqual([
      { name: "guess-a", supervisor: { state: "RUNNING" } },
      { name: "guess-b", supervisor: { state: "RUNNING" } },
    ]);
    expect(await mainCalls()).toBe(before + 1);
    // It was asked all the same (its call is counted when it times out, after the answer).
    await until("the frozen supervisord's call to time out", async () => (await frozenCalls()) === frozenBefore + 1);
  });

  it("Query.supervisors reports each distinct supervisord", async () => {
    const data = await viewer.http.data<{
      supervisors: {
        host: string;
        port: number;
        reachable: boolean;
        state: string | null;
        version: string | null;
        latencyMs: number | null;
        processCount: number | null;
        registeredProcessCount: number;
        error: string | null;
        errorCode: string | null;
      }[];
    }>(
      `{ supervisors { host port reachable state version latencyMs processCount registeredProcessCount error errorCode } }`,
    );
    const byPort = new Map(data.supervisors.map((s) => [s.port, s]));
    expect(data.supervisors).toHaveLength(6);
    expect(byPort.get(main.port)).toMatchObject({
      host: "127.0.0.1",
      reachable: true,
      state: "RUNNING",
      version: "4.2.5",
      processCount: 10,
      registeredProcessCount: 11,
      error: null,
    });
    expect(byPort.get(main.port)!.latencyMs).toBeGreaterThan(0);
    expect(byPort.get(other.port)).toMatchObject({ reachable: true, processCount: 2, registeredProcessCount: 2 });
    expect(byPort.get(frozen.port)).toMatchObject({
      reachable: false,
      errorCode: "SUPERVISOR_UNAVAILABLE",
      state: null,
    });
    expect(byPort.get(closedPort)).toMatchObject({
      reachable: false,
      error: expect.stringContaining("refused the connection"),
    });
    expect(byPort.get(wrongPassword.port)).toMatchObject({
      reachable: false,
      error: expect.stringContaining("rejected the credentials"),
    });
    expect(byPort.get(misconfigured.port)).toMatchObject({
      reachable: true,
      errorCode: "SUPERVISOR_FAULT",
      error: expect.stringContaining("[rpcinterface:supervisor]"),
    });
    for (const secret of SECRETS) expect(JSON.stringify(data)).not.toContain(secret);
  });
});

describe("start / stop / restart", () => {
  it("stop: supervisord stops the program, the registry follows, the actor is recorded; stopping again succeeds", async () => {
    await app.admin.data(`mutation($p: Int!) { registerProcess(name: "main-worker", pid: $p) { port } }`, {
      p: await main.programPid("worker"),
    });
    const stopped = await operator.http.data<{ stopProcess: LiveProcess }>(
      `mutation { stopProcess(name: "main-worker") { ${LIVE_FIELDS} } }`,
    );
    expect(stopped.stopProcess.supervisor).toMatchObject({ state: "STOPPED", pid: null });
    expect(stopped.stopProcess).toMatchObject({ status: "STOPPED", pid: null, health: "STOPPED" });
    expect(await main.programState("worker")).toBe("STOPPED");
    expect((await statusEvents("main-worker")).slice(-2)).toEqual([
      { message: "stop requested", actor: "ops", status: "STOPPING" },
      { message: "stopped: supervisord confirmed, the server did not deregister", actor: "ops", status: "STOPPED" },
    ]);

    const again = await operator.http.data<{ stopProcess: LiveProcess }>(
      `mutation { stopProcess(name: "main-worker") { status supervisor { state } } }`,
    );
    expect(again.stopProcess).toMatchObject({ status: "STOPPED", supervisor: { state: "STOPPED" } });
  });

  it("start: supervisord runs the program, the registry says starting until the server registers; starting again succeeds", async () => {
    const started = await operator.http.data<{ startProcess: LiveProcess }>(
      `mutation { startProcess(name: "main-worker") { ${LIVE_FIELDS} } }`,
    );
    const pid = await main.programPid("worker");
    expect(pid).toBeGreaterThan(0);
    expect(started.startProcess.supervisor).toMatchObject({ state: "RUNNING", pid });
    expect(started.startProcess.status).toBe("STARTING");
    expect((await statusEvents("main-worker")).at(-1)).toEqual({
      message: "start requested",
      actor: "ops",
      status: "STARTING",
    });

    const again = await operator.http.data<{ startProcess: LiveProcess }>(
      `mutation { startProcess(name: "main-worker") { supervisor { pid } } }`,
    );
    expect(again.startProcess.supervisor!.pid).toBe(pid);
  });

  it("restart: a new pid, stop then start in one mutation", async () => {
    const before = await main.programPid("python-server");
    const restarted = await operator.http.data<{ restartProcess: LiveProcess }>(
      `mutation { restartProcess(name: "main-python-server") { supervisor { state pid } } }`,
    );
    const after = await main.programPid("python-server");
    expect(after).not.toBe(before);
    expect(restarted.restartProcess.supervisor).toEqual({ state: "RUNNING", pid: after });
  });

  it("waits for startsecs, and calls on different processes run in parallel", async () => {
    const timed = async (name: string): Promise<number> => {
      const started = performance.now();
      await operator.http.data(`mutation { startProcess(name: "${name}") { status } }`);
      return performance.now() - started;
    };
    const started = performance.now();
    const [tookA, tookB] = await Promise.all([timed("main-slow-start"), timed("other-slow-start")]);
    const elapsedMs = performance.now() - started;
    const [a, b] = await Promise.all([live("main-slow-start"), live("other-slow-start")]);
    expect(a.supervisor?.state).toBe("RUNNING");
    expect(b.supervisor?.state).toBe("RUNNING");
    // Each start waited startsecs (1 s) on its own supervisord…
    expect(Math.min(tookA, tookB)).toBeGreaterThanOrEqual(1_000);
    // …and the two overlapped: one after the other, the pair would take their sum.
    expect(elapsedMs).toBeLessThan(0.75 * (tookA + tookB));
  });

  it("serialises calls on the same process: concurrent restarts run one after another", async () => {
    const name = "main-roll-b";
    await app.admin.data(`mutation($p: Int!) { registerProcess(name: "${name}", pid: $p) { port } }`, {
      p: await main.programPid("roll-b"),
    });
    const before = (await statusEvents(name)).length;
    const results = await Promise.all(
      [1, 2, 3, 4].map(() =>
        operator.http.request(`mutation { restartProcess(name: "${name}") { supervisor { state } } }`),
      ),
    );
    expect(results.map((r) => r.body.errors)).toEqual([undefined, undefined, undefined, undefined]);
    // Interleaved, a second stop would find the row already stopping (no event) and
    // supervisord mid-stop; serialised, each restart leaves its own three steps in a row.
    const steps = [
      "stop requested",
      "stopped: supervisord confirmed, the server did not deregister",
      "start requested",
    ];
    const messages = (await statusEvents(name)).slice(before).map((e) => e.message);
    expect(messages).toEqual([...steps, ...steps, ...steps, ...steps]);
    expect(await main.programState("roll-b")).toBe("RUNNING");
  });

  it("supervisord faults come back as SUPERVISOR_FAULT with the fault name, and the registry records the failure", async () => {
    const missing = await operator.http.error(`mutation { startProcess(name: "main-missing") { status } }`);
    expect(missing.extensions).toMatchObject({ code: "SUPERVISOR_FAULT", faultName: "NO_FILE" });
    expect(missing.message).toContain("can't find command '/nonexistent/command'");
    const [row] = await db.query<{ status: string }>(
      "SELECT status FROM kb_server_processes WHERE process_name = 'main-missing'",
    );
    expect(row!.status).toBe("error");
    expect((await statusEvents("main-missing")).at(-1)!.message).toMatch(/^start failed: .*NO_FILE/);

    const early = await operator.http.error(`mutation { startProcess(name: "main-dies-early") { status } }`);
    expect(early.extensions?.code).toBe("SUPERVISOR_FAULT");
    expect(["ABNORMAL_TERMINATION", "SPAWN_ERROR"]).toContain(early.extensions?.faultName);
  });

  it("an unknown program is NOT_FOUND, an unreachable supervisord SUPERVISOR_UNAVAILABLE, and neither changes the registry", async () => {
    for (const [name, code] of [
      ["main-unknown-program", "NOT_FOUND"],
      ["closed-python-server", "SUPERVISOR_UNAVAILABLE"],
      ["wrong-password-python-server", "SUPERVISOR_UNAVAILABLE"],
    ] as const) {
      const before = await db.query("SELECT status, pid FROM kb_server_processes WHERE process_name = ?", [name]);
      const error = await operator.http.error(`mutation($n: String!) { startProcess(name: $n) { status } }`, {
        n: name,
      });
      expect(error.extensions?.code, name).toBe(code);
      expect(await db.query("SELECT status, pid FROM kb_server_processes WHERE process_name = ?", [name])).toEqual(
        before,
      );
    }
    const none = await operator.http.error(`mutation { startProcess(name: "no-supervisor") { status } }`);
    expect(none.extensions?.code).toBe("BAD_USER_INPUT");
    const unknown = await operator.http.error(`mutation { stopProcess(name: "not-in-registry") { status } }`);
    expect(unknown.extensions?.code).toBe("NOT_FOUND");
  });

  it("viewers and agents may not control; operators may", async () => {
    expect((await viewer.http.error(`mutation { stopProcess(name: "main-worker") { status } }`)).extensions?.code).toBe(
      "FORBIDDEN",
    );
    const agent = await app.client("AGENT", "main-agent", "main-*");
    expect((await agent.http.error(`mutation { stopProcess(name: "main-worker") { status } }`)).extensions?.code).toBe(
      "FORBIDDEN",
    );
    expect(await main.programState("worker")).toBe("RUNNING");
  });
});

describe("bulk and rolling", () => {
  interface Result {
    name: string;
    outcome: string;
    process: { supervisor: { pid: number | null } | null } | null;
    error: { code: string; faultName: string | null; message: string } | null;
  }
  const RESULT = `name outcome process { supervisor { pid } } error { code faultName message }`;

  it("a rolling restart (maxParallel 1) restarts each in name order, each with a new pid", async () => {
    const before = await Promise.all(["roll-a", "roll-b", "roll-c"].map((p) => main.programPid(p)));
    const data = await operator.http.data<{ restartProcesses: Result[] }>(
      `mutation { restartProcesses(filter: { namePrefix: "main-roll-" }, maxParallel: 1) { ${RESULT} } }`,
    );
    const after = await Promise.all(["roll-a", "roll-b", "roll-c"].map((p) => main.programPid(p)));
    expect(data.restartProcesses.map((r) => [r.name, r.outcome])).toEqual([
      ["main-roll-a", "DONE"],
      ["main-roll-b", "DONE"],
      ["main-roll-c", "DONE"],
    ]);
    expect(data.restartProcesses.map((r) => r.process?.supervisor?.pid)).toEqual(after);
    after.forEach((pid, i) => expect(pid).not.toBe(before[i]));
  });

  it("stops at the first failure unless told not to", async () => {
    const names = ["main-roll-a", "main-missing", "main-roll-c"];
    const stopping = await operator.http.data<{ restartProcesses: Result[] }>(
      `mutation($names: [String!]) { restartProcesses(filter: { names: $names }, maxParallel: 1) { ${RESULT} } }`,
      { names },
    );
    // Name order: main-missing, main-roll-a, main-roll-c.
    expect(stopping.restartProcesses.map((r) => [r.name, r.outcome])).toEqual([
      ["main-missing", "FAILED"],
      ["main-roll-a", "SKIPPED"],
      ["main-roll-c", "SKIPPED"],
    ]);
    expect(stopping.restartProcesses[0]!.error).toMatchObject({ code: "SUPERVISOR_FAULT", faultName: "NO_FILE" });

    const going = await operator.http.data<{ restartProcesses: Result[] }>(
      `mutation($names: [String!]) { restartProcesses(filter: { names: $names }, maxParallel: 1, continueOnError: true) { ${RESULT} } }`,
      { names },
    );
    expect(going.restartProcesses.map((r) => r.outcome)).toEqual(["FAILED", "DONE", "DONE"]);
  });

  it("different hosts in parallel, one result per process; stop and start in bulk", async () => {
    const stopped = await operator.http.data<{ stopProcesses: Result[] }>(
      `mutation { stopProcesses(filter: { names: ["main-slow-start", "other-slow-start"] }, maxParallel: 2) { ${RESULT} } }`,
    );
    expect(stopped.stopProcesses.map((r) => r.outcome)).toEqual(["DONE", "DONE"]);
    expect(await main.programState("slow-start")).toBe("STOPPED");
    expect(await other.programState("slow-start")).toBe("STOPPED");
    const started = await operator.http.data<{ startProcesses: Result[] }>(
      `mutation { startProcesses(filter: { names: ["main-slow-start", "other-slow-start"] }, maxParallel: 2) { ${RESULT} } }`,
    );
    expect(started.startProcesses.map((r) => r.outcome)).toEqual(["DONE", "DONE"]);
    // In parallel: each was spawned before the other had waited out its startsecs (one after
    // the other, the second would be spawned only after the first entered RUNNING).
    const [a, b] = [main.lastStart("slow-start"), other.lastStart("slow-start")];
    expect(a.spawnedAt).toBeLessThan(b.runningAt);
    expect(b.spawnedAt).toBeLessThan(a.runningAt);
  });

  it("an operator bound to a pattern acts on its processes only: a broader filter selects only those", async () => {
    const bound = await app.client("OPERATOR", "roll-operator", "main-roll-*");
    const worker = await main.programPid("worker");
    const before = await Promise.all(["roll-a", "roll-b", "roll-c"].map((p) => main.programPid(p)));
    const data = await bound.http.data<{ restartProcesses: Result[] }>(
      `mutation { restartProcesses(filter: { namePrefix: "main-" }, maxParallel: 3, continueOnError: true) { ${RESULT} } }`,
    );
    expect(data.restartProcesses.map((r) => [r.name, r.outcome])).toEqual([
      ["main-roll-a", "DONE"],
      ["main-roll-b", "DONE"],
      ["main-roll-c", "DONE"],
    ]);
    const after = await Promise.all(["roll-a", "roll-b", "roll-c"].map((p) => main.programPid(p)));
    after.forEach((pid, i) => expect(pid).not.toBe(before[i]));
    const refused = await bound.http.error(`mutation { stopProcess(name: "main-worker") { status } }`);
    expect(refused.extensions?.code).toBe("FORBIDDEN");
    expect(refused.message).toContain('"main-roll-*"');
    expect(await main.programPid("worker")).toBe(worker);
  });

  it("refuses an empty filter and a maxParallel out of range", async () => {
    const empty = await operator.http.error(`mutation { stopProcesses(filter: {}) { name } }`);
    expect(empty.extensions?.code).toBe("BAD_USER_INPUT");
    expect(empty.message).toContain("filter");
    const zero = await operator.http.error(
      `mutation { stopProcesses(filter: { namePrefix: "main-" }, maxParallel: 0) { name } }`,
    );
    expect(zero.extensions?.invalidFields).toEqual([expect.objectContaining({ field: "maxParallel" })]);
    expect(await main.programState("worker")).toBe("RUNNING");
  });
});

describe("logs", () => {
  it("tails stdout and stderr, and continues from the returned offset", async () => {
    const data = await viewer.http.data<{
      process: { out: { text: string; offset: number; overflow: boolean }; err: { text: string } };
    }>(
      `{ process(name: "main-chatty") { out: log(stream: STDOUT) { text offset overflow } err: log(stream: STDERR) { text } } }`,
    );
    expect(data.process.out.text).toBe("hello from stdout\n");
    expect(data.process.out.overflow).toBe(false);
    expect(data.process.err.text).toBe("trouble on stderr\n");

    const next = await viewer.http.data<{ process: { log: { text: string; offset: number } } }>(
      `query($o: Int!) { process(name: "main-chatty") { log(offset: $o) { text offset } } }`,
      { o: data.process.out.offset },
    );
    expect(next.process.log).toEqual({ text: "", offset: data.process.out.offset });

    const tail = await viewer.http.data<{ process: { log: { text: string; overflow: boolean } } }>(
      `{ process(name: "main-chatty") { log(bytes: 5) { text overflow } } }`,
    );
    expect(tail.process.log).toEqual({ text: "dout\n", overflow: true });
  });

  describe("followed by offset, from a program writing numbered lines", () => {
    const LINES = 1_000;
    // Hangul (three bytes a character), an ANSI colour and CR LF: bounds fall inside
    // characters, and XML cannot carry ESC or CR raw.
    const line = (i: number) => `${String(i).padStart(5, "0")} 도메카 \x1b[32mok\x1b[0m\r\n`;
    const numbered = Array.from({ length: LINES }, (_, i) => line(i + 1)).join("");
    const PROGRAM = [
      "import os, sys, time",
      "go, again, count = sys.argv[1], sys.argv[2], int(sys.argv[3])",
      "out = sys.stdout.buffer",
      'out.write(b"ready\\n"); out.flush()',
      "while not os.path.exists(go): time.sleep(0.01)",
      "for i in range(1, count + 1):",
      '    data = ("%05d \\uB3C4\\uBA54\\uCE74 \\x1b[32mok\\x1b[0m\\r\\n" % i).encode()',
      "    if i == count // 2:",
      "        # Flushed inside a character, as a block-buffered program may.",
      "        out.write(data[:8]); out.flush(); time.sleep(0.3); data = data[8:]",
      "    out.write(data)",
      "    if i % 10 == 0: out.flush(); time.sleep(0.005)",
      "out.flush()",
      "while not os.path.exists(again): time.sleep(0.01)",
      'out.write(b"after rotation\\n"); out.flush()',
      "time.sleep(1000)",
    ].join("\n");

    interface Chunk {
      text: string;
      startOffset: number;
      offset: number;
      remainingBytes: number;
      overflow: boolean;
      rotated: boolean;
    }
    let dir: string;
    let writer: Supervisord;
    const read = async (offset: number, bytes: number): Promise<Chunk> =>
      (
        await viewer.http.data<{ process: { log: Chunk } }>(
          `query($o: Int!, $b: Int!) { process(name: "numbered") {
            log(offset: $o, bytes: $b) { text startOffset offset remainingBytes overflow rotated } } }`,
          { o: offset, b: bytes },
        )
      ).process.log;

    beforeAll(async () => {
      dir = tempDir("numbered");
      writeFileSync(join(dir, "numbered.py"), PROGRAM);
      writer = await Supervisord.start({
        auth: MAIN_AUTH,
        programs: {
          numbered: {
            command: `python3 ${join(dir, "numbered.py")} ${join(dir, "go")} ${join(dir, "again")} ${LINES}`,
          },
        },
      });
      await app.admin.data(`mutation($input: CreateProcessInput!) { createProcess(input: $input) { id } }`, {
        input: {
          name: "numbered",
          port: 8000,
          supervisorHost: "127.0.0.1",
          supervisorPort: writer.port,
          program: "numbered",
        },
      });
    });
    afterAll(async () => {
      await writer?.stop();
    });

    it("gives every line once, in order: no gap, no repeat", async () => {
      const start = await until("the program to start", async () => {
        const chunk = await read(0, 4096);
        return chunk.text === "ready\n" && chunk;
      });
      expect(start).toMatchObject({ startOffset: 0, offset: 6, remainingBytes: 0, overflow: false, rotated: false });

      writeFileSync(join(dir, "go"), "");
      let offset = start.offset;
      let followed = "";
      await until(
        "every numbered line",
        async () => {
          // Small reads, while the program writes: most end inside a line, many inside a character.
          for (;;) {
            const chunk = await read(offset, 256);
            expect(chunk).toMatchObject({ startOffset: offset, overflow: false, rotated: false });
            followed += chunk.text;
            offset = chunk.offset;
            if (chunk.remainingBytes === 0) break;
          }
          return followed.length >= numbered.length;
        },
        30_000,
      );
      expect(followed).toBe(numbered);
      expect(offset).toBe(6 + Buffer.byteLength(numbered));

      // The case: from an offset near the end, only what was written since.
      const last = line(LINES);
      const since = await read(offset - Buffer.byteLength(last), 4096);
      expect(since).toEqual({
        text: last,
        startOffset: offset - Buffer.byteLength(last),
        offset,
        remainingBytes: 0,
        overflow: false,
        rotated: false,
      });
      // From inside "도", the read begins with the next character.
      const inside = offset - Buffer.byteLength(last) + Buffer.byteLength("01000 도") - 1;
      expect(await read(inside, 7)).toMatchObject({ text: "메카", startOffset: inside + 1, offset: inside + 7 });
    });

    it("after supervisord clears the log, an offset beyond its end reads the new log from its start", async () => {
      const before = (await read(0, 1)).offset;
      expect(before).toBe(6 + Buffer.byteLength(numbered));
      await writer.ctl("clear", "numbered");
      writeFileSync(join(dir, "again"), "");
      await until("the line after the clear", async () => (await read(0, 4096)).text === "after rotation\n");
      expect(await read(before, 4096)).toEqual({
        text: "after rotation\n",
        startOffset: 0,
        offset: 15,
        remainingBytes: 0,
        overflow: true,
        rotated: true,
      });
    });
  });

  it("refuses more than 64 KiB at once", async () => {
    const error = await viewer.http.error(`{ process(name: "main-chatty") { log(bytes: 65537) { text } } }`);
    expect(error.extensions?.code).toBe("BAD_USER_INPUT");
    expect(error.message).toContain("65536");
  });
});
