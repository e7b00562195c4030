import { afterAll, beforeAll, describe, expect, it, onTestFinished } from "vitest";
import { startTestApp, type TestApp } from "./support/app.js";
import { createTestDatabase, type TestDatabase } from "./support/database.js";
import { Supervisord } from "./support/supervisord.js";
import { TcpProxy } from "./support/tcp-proxy.js";
import { until } from "./support/wait.js";

// Misconfigured and unreachable supervisords, and alerts, each logged once when they begin
// and once when they end, however many polls and checks see them in between.

const AUTH = { username: "fleet", password: "problem-pass-5c2e" };
/** What the misauthenticated supervisord expects; Fleetvisor sends AUTH's password. */
const OTHER_PASSWORD = "not-fleetvisors-9a1b";
const PROGRAMS = { p: { command: "sleep 1000" }, crashy: { command: "sleep 1000" } };

let db: TestDatabase;
let app: TestApp;
const logLines: string[] = [];
/** Answers as Fleetvisor expects; what the proxies switch to once a problem is "fixed". */
let good: Supervisord;
let wrongPassword: Supervisord;
let noRpcInterface: Supervisord;
/** In front of `wrongPassword`, later of `good`. */
let credentialsProxy: TcpProxy;
/** In front of `noRpcInterface`, later of `good`. */
let rpcInterfaceProxy: TcpProxy;
/** Stopped and started again. */
let away: Supervisord;

interface LogLine {
  level: number;
  msg: string;
  supervisor?: string;
  problem?: string;
  alert?: string;
  process?: string;
}

const lines = (): LogLine[] => logLines.map((line) => JSON.parse(line) as LogLine);
const key = (port: number) => `127.0.0.1:${port}`;
const problemLines = (port: number) =>
  lines().filter((l) => l.supervisor === key(port) && l.msg.startsWith("supervisord problem"));
const alertLines = (process: string, alert: string, from = logLines) =>
  from
    .map((line) => JSON.parse(line) as LogLine)
    .filter((l) => l.process === process && l.alert === alert && l.msg.startsWith("alert"));

/** Polls of the supervisord at `port` so far (every outcome), from Fleetvisor's metrics. */
async function polls(port: number): Promise<number> {
  const text = await (await fetch(`${app.url}/metrics`)).text();
  return text
    .split("\n")
    .filter(
      (line) =>
        line.startsWith("fleetvisor_supervisor_calls_total{") &&
        line.includes(`supervisor="${key(port)}"`) &&
        line.includes('method="supervisor.getAllProcessInfo"'),
    )
    .reduce((sum, line) => sum + Number(line.split(" ").at(-1)), 0);
}

/** Waits until `count` more polls of the supervisord at `port` have ended. */
async function morePolls(port: number, count: number): Promise<void> {
  const from = await polls(port);
  await until(`${count} more polls of ${key(port)}`, async () => (await polls(port)) >= from + count, 15_000);
}

async function createRow(name: string, port: number, program = "p"): Promise<void> {
  await app.admin.data(`mutation($input: CreateProcessInput!) { createProcess(input: $input) { id } }`, {
    input: { name, port: 8000, supervisorHost: "127.0.0.1", supervisorPort: port, program },
  });
}

async function events(name: string, kind: string): Promise<unknown[]> {
  return db.query("SELECT id FROM fleetvisor_process_events WHERE process_name = ? AND kind = ?", [name, kind]);
}

beforeAll(async () => {
  [good, wrongPassword, noRpcInterface, away] = await Promise.all([
    Supervisord.start({ auth: AUTH, programs: PROGRAMS }),
    Supervisord.start({ auth: { username: AUTH.username, password: OTHER_PASSWORD }, programs: PROGRAMS }),
    Supervisord.start({ auth: AUTH, rpcinterface: false, programs: PROGRAMS }),
    Supervisord.start({ auth: AUTH, programs: PROGRAMS }),
  ]);
  credentialsProxy = await TcpProxy.start("127.0.0.1", wrongPassword.port);
  rpcInterfaceProxy = await TcpProxy.start("127.0.0.1", noRpcInterface.port);
  db = await createTestDatabase("problem_log");
  app = await startTestApp(
    db.url,
    {
      LOG_LEVEL: "warn",
      SUPERVISOR_USERNAME: AUTH.username,
      SUPERVISOR_PASSWORD: AUTH.password,
      SUPERVISOR_TIMEOUT_MS: "500",
      SUPERVISOR_POLL_INTERVAL_SECONDS: "1",
      SUPERVISOR_UNREACHABLE_POLLS: "2",
      HEARTBEAT_INTERVAL_SECONDS: "1",
      HEARTBEAT_STALE_SECONDS: "2",
    },
    logLines,
  );
  await createRow("behind-wrong-password", credentialsProxy.port);
  await createRow("behind-no-rpcinterface", rpcInterfaceProxy.port);
  await createRow("on-away", away.port);
  await createRow("crashy", good.port, "crashy");
}, 60_000);

afterAll(async () => {
  await app?.stop();
  await Promise.all([credentialsProxy?.stop(), rpcInterfaceProxy?.stop()]);
  await Promise.all([good, wrongPassword, noRpcInterface, away].map((s) => s?.stop()));
  await db?.drop();
});

// Three supervisords, each with its own problem, each waiting for polls: together.
describe.concurrent("supervisord problems in the log", () => {
  it("wrong credentials: one line when it begins, however many polls, and one when it ends", async ({ expect }) => {
    const port = credentialsProxy.port;
    await until("the problem to be logged", async () => problemLines(port).length > 0);
    await morePolls(port, 3);
    expect(problemLines(port).map((l) => [l.level, l.problem, l.msg])).toEqual([
      [40, "credentials", `supervisord problem began: supervisord at ${key(port)} rejected the credentials (HTTP 401)`],
    ]);

    // Fixed: the supervisord behind the address now takes Fleetvisor's credentials.
    credentialsProxy.retarget(good.port);
    await until("the end to be logged", async () => problemLines(port).length > 1);
    await morePolls(port, 3);
    const logged = problemLines(port);
    expect(logged).toHaveLength(2);
    expect(logged[1]!.level).toBe(40);
    expect(logged[1]!.msg).toMatch(
      new RegExp(`^supervisord problem ended: ${key(port)} \\(credentials, for \\d+s\\): it answers again$`),
    );
  });

  it("no [rpcinterface:supervisor] section: one line when it begins, and one when it ends", async ({ expect }) => {
    const port = rpcInterfaceProxy.port;
    await until("the problem to be logged", async () => problemLines(port).length > 0);
    await morePolls(port, 3);
    expect(problemLines(port).map((l) => [l.problem, l.msg])).toEqual([
      [
        "rpcinterface",
        `supervisord problem began: supervisord at ${key(port)} has no [rpcinterface:supervisor] section in its ` +
          "configuration (it answered supervisor.getAllProcessInfo with UNKNOWN_METHOD); add the section and restart supervisord",
      ],
    ]);

    rpcInterfaceProxy.retarget(good.port);
    await until("the end to be logged", async () => problemLines(port).length > 1);
    await morePolls(port, 3);
    expect(problemLines(port).map((l) => l.msg)).toEqual([
      expect.stringMatching(/^supervisord problem began: /),
      expect.stringMatching(/\(rpcinterface, for \d+s\): it answers again$/),
    ]);
  });

  it("a stopped supervisord: the problem and its alert, each logged once when it begins and once when it ends", async ({
    expect,
  }) => {
    const port = away.port;
    await until("a first poll to see it", async () => (await events("on-away", "SUPERVISOR_STATE_CHANGED")).length > 0);
    await away.stop();
    await until("the problem to be logged", async () => problemLines(port).length > 0);
    await until("the alert to be logged", async () => alertLines("on-away", "SUPERVISOR_UNREACHABLE").length > 0);
    await morePolls(port, 3);
    expect(problemLines(port).map((l) => [l.problem, l.msg])).toEqual([
      [
        "unreachable",
        `supervisord problem began: supervisord at ${key(port)} refused the connection (2 polls in a row)`,
      ],
    ]);
    expect(alertLines("on-away", "SUPERVISOR_UNREACHABLE").map((l) => l.msg)).toEqual([
      `alert began: SUPERVISOR_UNREACHABLE for on-away: supervisord at ${key(port)} refused the connection; 2 polls in a row`,
    ]);

    away = await Supervisord.start({ port, auth: AUTH, programs: PROGRAMS });
    await until("the problem's end to be logged", async () => problemLines(port).length > 1);
    await until("the alert's end to be logged", async () => alertLines("on-away", "SUPERVISOR_UNREACHABLE").length > 1);
    await morePolls(port, 3);
    expect(problemLines(port).map((l) => l.msg)).toEqual([
      expect.stringMatching(/^supervisord problem began: /),
      expect.stringMatching(/\(unreachable, for \d+s\): it answers again$/),
    ]);
    // The first poll after the restart may find the program still within its startsecs.
    expect(alertLines("on-away", "SUPERVISOR_UNREACHABLE").map((l) => l.msg)).toEqual([
      expect.stringMatching(/^alert began: /),
      expect.stringMatching(
        /^alert ended: SUPERVISOR_UNREACHABLE for on-away after \d+s: SUPERVISOR_STATE_CHANGED \(UNREACHABLE → (STARTING|RUNNING) \(pid \d+\) \(poll\)\)$/,
      ),
    ]);
  });
});

describe("alerts in the log", () => {
  it("PROCESS_CRASHED: once when it begins, however many polls, and once when the process runs again", async () => {
    await until("a first poll to see it", async () => (await events("crashy", "SUPERVISOR_STATE_CHANGED")).length > 0);
    process.kill(await good.programPid("crashy"), "SIGKILL");
    await until("the crash alert to be logged", async () => alertLines("crashy", "PROCESS_CRASHED").length > 0);
    await morePolls(good.port, 3);
    expect(alertLines("crashy", "PROCESS_CRASHED").map((l) => [l.level, l.msg])).toEqual([
      [
        40,
        expect.stringMatching(/^alert began: PROCESS_CRASHED for crashy: exited unexpectedly \(exit status -?\d+\)$/),
      ],
    ]);

    await good.ctl("start", "crashy");
    await until("the end to be logged", async () => alertLines("crashy", "PROCESS_CRASHED").length > 1);
    await morePolls(good.port, 3);
    expect(alertLines("crashy", "PROCESS_CRASHED").map((l) => l.msg)).toEqual([
      expect.stringMatching(/^alert began: /),
      expect.stringMatching(
        /^alert ended: PROCESS_CRASHED for crashy after \d+s: SUPERVISOR_STATE_CHANGED \(EXITED → RUNNING/,
      ),
    ]);
  });

  it("HEARTBEAT_LOST: once when it begins, however many watchdog passes, and once when the heartbeat is back", async () => {
    await app.admin.data(`mutation { createProcess(input: { name: "beating", port: 8000 }) { id } }`);
    await app.admin.data(`mutation { registerProcess(name: "beating", pid: 77) { port } }`);
    await db.query(
      "UPDATE kb_server_processes SET last_heartbeat = UTC_TIMESTAMP() - INTERVAL 1 HOUR WHERE process_name = 'beating'",
    );
    for (let pass = 0; pass < 3; pass++) await app.services.watch.checkHeartbeats();
    await until("the alert to be logged", async () => alertLines("beating", "HEARTBEAT_LOST").length > 0);
    expect(alertLines("beating", "HEARTBEAT_LOST").map((l) => l.msg)).toEqual([
      expect.stringMatching(/^alert began: HEARTBEAT_LOST for beating: last heartbeat 360[01]s ago; the limit is 2s$/),
    ]);

    await app.admin.data(`mutation { heartbeat(name: "beating", pid: 77) { ok } }`);
    await until("the end to be logged", async () => alertLines("beating", "HEARTBEAT_LOST").length > 1);
    for (let pass = 0; pass < 3; pass++) await app.services.watch.checkHeartbeats();
    await app.admin.data(`mutation { heartbeat(name: "beating", pid: 77) { ok } }`);
    expect(alertLines("beating", "HEARTBEAT_LOST").map((l) => l.msg)).toEqual([
      expect.stringMatching(/^alert began: /),
      expect.stringMatching(
        /^alert ended: HEARTBEAT_LOST for beating after \d+s: HEARTBEAT_RESTORED \(heartbeat from pid 77\)$/,
      ),
    ]);
    // Stopped cleanly: it must not go stale under the later tests' watchdog passes.
    await app.admin.data(`mutation { deregisterProcess(name: "beating") { status } }`);
  });

  it("the replica that logged an alert's beginning logs its end, whichever replica records that", async () => {
    const [oneLines, twoLines]: string[][] = [[], []];
    const env = {
      LOG_LEVEL: "warn",
      REDIS_URL: process.env.TEST_REDIS_URL ?? "redis://127.0.0.1:6379",
      HEARTBEAT_INTERVAL_SECONDS: "1",
      HEARTBEAT_STALE_SECONDS: "2",
    };
    const [one, two] = await Promise.all([startTestApp(db.url, env, oneLines), startTestApp(db.url, env, twoLines)]);
    onTestFinished(async () => {
      await Promise.all([one.stop(), two.stop()]);
    });
    // A name no other test file's deployment on the same Redis uses.
    const name = `replicated-beat-${db.name.slice(-8)}`;
    await one.admin.data(`mutation { createProcess(input: { name: "${name}", port: 8000 }) { id } }`);
    await one.admin.data(`mutation { registerProcess(name: "${name}", pid: 5) { port } }`);
    await db.query(
      "UPDATE kb_server_processes SET last_heartbeat = UTC_TIMESTAMP() - INTERVAL 1 HOUR WHERE process_name = ?",
      [name],
    );
    expect((await one.services.watch.checkHeartbeats()).map((p) => p.name)).toEqual([name]);
    await two.admin.data(`mutation { heartbeat(name: "${name}", pid: 5) { ok } }`);

    await until(
      "the first replica to log the end",
      async () => alertLines(name, "HEARTBEAT_LOST", oneLines).length > 1,
    );
    expect(alertLines(name, "HEARTBEAT_LOST", oneLines).map((l) => l.msg)).toEqual([
      expect.stringMatching(/^alert began: HEARTBEAT_LOST/),
      expect.stringMatching(/^alert ended: HEARTBEAT_LOST .*: HEARTBEAT_RESTORED \(heartbeat from pid 5\)$/),
    ]);
    expect(alertLines(name, "HEARTBEAT_LOST", twoLines)).toEqual([]);
  });

  it("no line holds a password", () => {
    expect(logLines.length).toBeGreaterThan(0);
    for (const secret of [AUTH.password, OTHER_PASSWORD]) expect(logLines.join("\n")).not.toContain(secret);
  });
});
