import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestApp, type TestApp } from "./support/app.js";
import { until } from "./support/wait.js";
import { createTestDatabase, type TestDatabase } from "./support/database.js";
import { freePort, Supervisord } from "./support/supervisord.js";

const EXAMPLE = fileURLToPath(new URL("../client-examples/python/example_server.py", import.meta.url));
const AUTH = { username: "fleet", password: "python-pass-77aa" };

let db: TestDatabase;
let app: TestApp;
let appPort: number;
let token: string;
let supervisord: Supervisord;
const env = () => ({
  ...{ SUPERVISOR_USERNAME: AUTH.username, SUPERVISOR_PASSWORD: AUTH.password },
  PORT: String(appPort),
  HEARTBEAT_INTERVAL_SECONDS: "1",
  HEARTBEAT_STALE_SECONDS: "5",
});

interface Row {
  status: string;
  pid: number | null;
  port: number;
  last_heartbeat: Date | null;
}

async function row(name: string): Promise<Row> {
  const [r] = await db.query<Row>(
    "SELECT status, pid, port, last_heartbeat FROM kb_server_processes WHERE process_name = ?",
    [name],
  );
  return r!;
}

beforeAll(async () => {
  db = await createTestDatabase("python");
  appPort = await freePort();
  app = await startTestApp(db.url, env());
  token = (await app.client("AGENT", "domaeka-agent", "domaeka-*")).token;
  const servedPort = await freePort();
  supervisord = await Supervisord.start({
    auth: AUTH,
    programs: {
      // The guide's program name; the registry name comes from --name.
      "python-server": {
        command: `python3 -u ${EXAMPLE} --name domaeka-test-01 --host 127.0.0.1`,
        autostart: false,
        startsecs: 1,
        stopwaitsecs: 5,
        environment: { FLEETVISOR_URL: `http://127.0.0.1:${appPort}`, FLEETVISOR_TOKEN: token },
      },
      // Named by supervisord: SUPERVISOR_PROCESS_NAME is the registry name.
      "domaeka-test-02": {
        command: `python3 -u ${EXAMPLE} --host 127.0.0.1`,
        autostart: false,
        startsecs: 1,
        environment: { FLEETVISOR_URL: `http://127.0.0.1:${appPort}`, FLEETVISOR_TOKEN: token },
      },
    },
  });
  await app.admin.data(`mutation($input: CreateProcessInput!) { createProcess(input: $input) { id } }`, {
    input: {
      name: "domaeka-test-01",
      port: servedPort,
      supervisorHost: "127.0.0.1",
      supervisorPort: supervisord.port,
      program: "python-server",
    },
  });
  await app.admin.data(`mutation($input: CreateProcessInput!) { createProcess(input: $input) { id } }`, {
    input: {
      name: "domaeka-test-02",
      port: await freePort(),
      supervisorHost: "127.0.0.1",
      supervisorPort: supervisord.port,
      program: "domaeka-test-02",
    },
  });
}, 60_000);

afterAll(async () => {
  await supervisord?.stop();
  await app?.stop();
  await db?.drop();
});

describe("the Python registry client, in the example server under a real supervisord", () => {
  it("registers with supervisord's pid, serves on the port from the registry, and heartbeats", async () => {
    const started = await app.admin.data<{ startProcess: { supervisor: { state: string; pid: number } } }>(
      `mutation { startProcess(name: "domaeka-test-01") { supervisor { state pid } } }`,
    );
    expect(started.startProcess.supervisor.state).toBe("RUNNING");
    const pid = await supervisord.programPid("python-server");
    const registered = await until("the registration", async () => {
      const r = await row("domaeka-test-01");
      return r.status === "running" && r;
    });
    expect(registered.pid).toBe(pid);

    const served = (await (await fetch(`http://127.0.0.1:${registered.port}/`)).json()) as {
      name: string;
      pid: number;
      port: number;
    };
    expect(served).toEqual({ name: "domaeka-test-01", pid, port: registered.port });

    const first = registered.last_heartbeat!.getTime();
    await until(
      "a later heartbeat",
      async () => (await row("domaeka-test-01")).last_heartbeat!.getTime() > first,
      5_000,
    );

    const health = await app.admin.data<{ process: { health: string } }>(
      `{ process(name: "domaeka-test-01") { health } }`,
    );
    expect(health.process.health).toBe("HEALTHY");
  });

  it("takes its name from SUPERVISOR_PROCESS_NAME when supervisord names it", async () => {
    await app.admin.data(`mutation { startProcess(name: "domaeka-test-02") { status } }`);
    const pid = await supervisord.programPid("domaeka-test-02");
    const registered = await until("the registration", async () => {
      const r = await row("domaeka-test-02");
      return r.pid === pid && r;
    });
    expect(registered.status).toBe("running");
    // It serves under the name supervisord gave it, on the port the registry has for it.
    const served = (await (await fetch(`http://127.0.0.1:${registered.port}/`)).json()) as {
      name: string;
      pid: number;
    };
    expect(served).toMatchObject({ name: "domaeka-test-02", pid });
    const stopped = await app.admin.data<{ stopProcess: { status: string } }>(
      `mutation { stopProcess(name: "domaeka-test-02") { status } }`,
    );
    expect(stopped.stopProcess.status).toBe("STOPPED");
  });

  it("survives Fleetvisor being down for a while, and resumes heartbeats when it is back", async () => {
    const pid = await supervisord.programPid("python-server");
    await app.stop();
    const downAt = Date.now();
    await new Promise((r) => setTimeout(r, 4_000));
    // Still running, still the same process, still serving.
    expect(await supervisord.programState("python-server")).toBe("RUNNING");
    expect(await supervisord.programPid("python-server")).toBe(pid);
    const port = (await row("domaeka-test-01")).port;
    expect((await fetch(`http://127.0.0.1:${port}/`)).status).toBe(200);

    app = await startTestApp(db.url, env());
    const backAt = Date.now();
    const resumed = await until(
      "a heartbeat after the restart",
      async () => {
        const r = await row("domaeka-test-01");
        return r.last_heartbeat!.getTime() >= Math.floor(backAt / 1000) * 1000 && r;
      },
      10_000,
    );
    expect(resumed.pid).toBe(pid);
    expect(resumed.status).toBe("running");
    expect(backAt - downAt).toBeGreaterThanOrEqual(4_000);
  });

  it("stopProcess through Fleetvisor makes its SIGTERM handler deregister it", async () => {
    const before = await db.query<{ id: string }>("SELECT COALESCE(MAX(id), 0) AS id FROM fleetvisor_process_events");
    const stopped = await app.admin.data<{
      stopProcess: { status: string; pid: number | null; supervisor: { state: string } };
    }>(`mutation { stopProcess(name: "domaeka-test-01") { status pid supervisor { state } } }`);
    expect(stopped.stopProcess).toEqual({ status: "STOPPED", pid: null, supervisor: { state: "STOPPED" } });
    const events = await db.query<{ kind: string; actor: string; message: string }>(
      "SELECT kind, actor, message FROM fleetvisor_process_events WHERE process_name = 'domaeka-test-01' AND id > ? ORDER BY id",
      [before[0]!.id],
    );
    // The server deregistered itself (its token's name is the actor) before supervisord
    // confirmed the stop, so Fleetvisor had no "no deregister came" to record.
    expect(events.map((e) => [e.kind, e.actor])).toEqual([
      ["STATUS_CHANGED", "bootstrap-admin"],
      ["DEREGISTERED", "domaeka-agent"],
    ]);
  });
});
