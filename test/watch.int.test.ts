import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from "vitest";
import { startTestApp, type TestApp, type TokenClient } from "./support/app.js";
import { until } from "./support/wait.js";
import { createTestDatabase, onMysql, type TestDatabase } from "./support/database.js";
import { connectWs, type SubscriptionRecorder, type WsConnection } from "./support/graphql-client.js";
import { freePort, Supervisord } from "./support/supervisord.js";

const LISTENER = fileURLToPath(
  new URL("../client-examples/supervisor-listener/fleetvisor_listener.py", import.meta.url),
);
const EXAMPLE_SERVER = fileURLToPath(new URL("../client-examples/python/example_server.py", import.meta.url));
const AUTH = { username: "fleet", password: "watch-pass-3e1d" };
const SUPERVISOR_ENV = {
  SUPERVISOR_USERNAME: AUTH.username,
  SUPERVISOR_PASSWORD: AUTH.password,
  SUPERVISOR_TIMEOUT_MS: "500",
};

interface Event {
  id: string | null;
  kind: string;
  processName: string;
  message: string | null;
  status: string | null;
  actor: string;
}
type Changed = { processChanged: Event };
const SUBSCRIPTION = `subscription($names: [String!], $kinds: [ProcessEventKind!], $after: ID) {
  processChanged(names: $names, kinds: $kinds, after: $after) { id kind processName message status actor } }`;

let db: TestDatabase;
const sockets: WsConnection[] = [];
const cleanups: (() => Promise<unknown>)[] = [];

async function lastEventId(): Promise<string> {
  const [row] = await db.query<{ last: string }>("SELECT COALESCE(MAX(id), 0) AS last FROM fleetvisor_process_events");
  return String(row!.last);
}

async function events(name: string, kind?: string): Promise<{ kind: string; message: string; actor: string }[]> {
  return db.query(
    `SELECT kind, message, actor FROM fleetvisor_process_events WHERE process_name = ? ${kind ? "AND kind = ?" : ""} ORDER BY id`,
    kind ? [name, kind] : [name],
  );
}

async function status(name: string): Promise<string> {
  const [row] = await db.query<{ status: string }>("SELECT status FROM kb_server_processes WHERE process_name = ?", [
    name,
  ]);
  return row!.status;
}

function subscribe(app: TestApp, token: string, variables: Record<string, unknown>): SubscriptionRecorder<Changed> {
  const ws = connectWs(app.url, token);
  sockets.push(ws);
  return ws.subscribe<Changed>(SUBSCRIPTION, variables);
}

let markers = 0;

/**
 * Records an UPDATED event for `name` and waits until `seen` has it. A stream delivers in
 * the log's order: whatever was recorded for it before the marker has arrived by then.
 */
async function marker(app: TestApp, seen: SubscriptionRecorder<Changed>, name: string): Promise<void> {
  const port = 20_000 + ++markers;
  await app.admin.data(
    `mutation($name: String!, $port: Int!) { updateProcess(name: $name, input: { port: $port }) { port } }`,
    {
      name,
      port,
    },
  );
  await seen.until(
    (v) => v.some((e) => e.processChanged.kind === "UPDATED" && e.processChanged.message?.endsWith(`→ ${port}`)),
    10_000,
    `the marker on ${name}`,
  );
}

async function createRow(app: TestApp, name: string, supervisord: Supervisord, program: string): Promise<void> {
  await app.admin.data(`mutation($input: CreateProcessInput!) { createProcess(input: $input) { id } }`, {
    input: { name, port: 8000, supervisorHost: "127.0.0.1", supervisorPort: supervisord.port, program },
  });
}

beforeAll(async () => {
  db = await createTestDatabase("watch");
});

afterAll(async () => {
  await Promise.all(sockets.map((s) => s.dispose()));
  for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
  await db?.drop();
});

describe("supervisord changes, pushed by the event listener", () => {
  let app: TestApp;
  // Its listener would go on reporting to a port that a later test may be given.
  afterAll(async () => {
    await supervisord?.stop();
    await app?.stop();
  });
  let agent: TokenClient;
  let viewer: TokenClient;
  let supervisord: Supervisord;

  beforeAll(async () => {
    app = await startTestApp(db.url, SUPERVISOR_ENV);
    agent = await app.client("AGENT", "pushed-listener", "pushed-*");
    viewer = await app.client("VIEWER");
    supervisord = await Supervisord.start({
      auth: AUTH,
      programs: {
        worker: { command: "sleep 1000" },
        phoenix: { command: "sleep 1000", autorestart: true, startsecs: 1, startretries: 3 },
      },
      eventListeners: {
        fleetvisor: {
          command: `python3 ${LISTENER}`,
          events: "PROCESS_STATE",
          // The listener names its supervisord as the registry does.
          environment: (port) => ({
            FLEETVISOR_URL: app.url,
            FLEETVISOR_TOKEN: agent.token,
            FLEETVISOR_SUPERVISOR: `127.0.0.1:${port}`,
          }),
        },
      },
    });
    cleanups.push(() => supervisord.stop());
    await createRow(app, "pushed-worker", supervisord, "worker");
    await createRow(app, "pushed-phoenix", supervisord, "phoenix");
    await supervisord.waitForState("phoenix", "RUNNING");
  });

  it("supervisorctl stop reaches a subscriber through the listener, and the registry follows", async () => {
    await app.admin.data(`mutation($p: Int!) { registerProcess(name: "pushed-worker", pid: $p) { port } }`, {
      p: await supervisord.programPid("worker"),
    });
    // From where the log ends now: whenever the subscription attaches, nothing the stop
    // records can fall before it, and a late attachment only counts against the latency.
    const seen = subscribe(app, viewer.token, {
      names: ["pushed-worker"],
      kinds: ["SUPERVISOR_STATE_CHANGED", "STATUS_CHANGED"],
      after: await lastEventId(),
    });
    await supervisord.ctl("stop", "worker"); // returns once supervisord has it STOPPED
    const stoppedAt = Date.now();
    const received = (await seen.until((v) => v.some((e) => e.processChanged.status === "STOPPED"), 5_000)).map(
      (e) => e.processChanged,
    );
    const latency = Date.now() - stoppedAt;
    // Sightings of the program's start (the first poll's, or listener reports of STARTING and
    // RUNNING that supervisord resent once the row existed) may be recorded late, after the
    // cursor: before the stop, and nothing else.
    const stop = received.findIndex((e) => / → STOPPING /.test(e.message ?? ""));
    for (const early of received.slice(0, stop)) {
      expect([early.kind, early.message], JSON.stringify(received)).toEqual([
        "SUPERVISOR_STATE_CHANGED",
        expect.stringMatching(/→ (STARTING|RUNNING) /),
      ]);
    }
    const all = received.slice(stop);
    expect(all.map((e) => [e.kind, e.status])).toEqual([
      ["SUPERVISOR_STATE_CHANGED", "RUNNING"],
      ["STATUS_CHANGED", "STOPPING"],
      ["SUPERVISOR_STATE_CHANGED", "STOPPING"],
      ["STATUS_CHANGED", "STOPPED"],
    ]);
    expect(all[0]!.message).toMatch(/^RUNNING \(pid \d+\) → STOPPING \(pid \d+\) \(listener\)$/);
    expect(all[2]!.message).toMatch(/→ STOPPED \(listener\)$/);
    expect(all.every((e) => e.actor === "pushed-listener")).toBe(true);
    expect(all[3]!.message).toBe("supervisord stopped it; no deregister came");
    // Pushed, not polled: every change came from the listener's reports, above. How soon is
    // bench/change-latency's figure; on a busy machine a pass mark in seconds would judge the moment.
    console.log(`supervisorctl stop to the subscriber: ${latency} ms`);
    expect(await status("pushed-worker")).toBe("stopped");
  });

  it("kill -9: recorded as a crash, supervisord restarts it, and healthReasons names the new pid", async () => {
    const oldPid = await supervisord.programPid("phoenix");
    await app.admin.data(`mutation($p: Int!) { registerProcess(name: "pushed-phoenix", pid: $p) { port } }`, {
      p: oldPid,
    });
    process.kill(oldPid, "SIGKILL");
    const crash = await until("the crash", async () => (await events("pushed-phoenix", "PROCESS_CRASHED"))[0]);
    expect(crash.message).toMatch(/^exited unexpectedly/);
    await supervisord.waitForState("phoenix", "RUNNING");
    const newPid = await supervisord.programPid("phoenix");
    expect(newPid).not.toBe(oldPid);
    const health = await until("the new pid", async () => {
      const data = await viewer.http.data<{ process: { status: string; health: string; healthReasons: string[] } }>(
        `{ process(name: "pushed-phoenix") { status health healthReasons } }`,
      );
      return data.process.healthReasons.some((r) => r.includes(String(newPid))) && data.process;
    });
    // The registry still has the old pid: the restarted server has not registered (sleep never does).
    expect(health.status).toBe("ERROR");
    expect(health.healthReasons).toContain(`pid differs: registry has ${oldPid}, supervisord runs ${newPid}`);
    expect((await events("pushed-phoenix", "PROCESS_CRASHED")).length).toBe(1);
  });

  it("an agent may not report for processes outside its binding", async () => {
    const foreign = await app.client("AGENT", "foreign", "elsewhere-*");
    const error = await foreign.http.error(
      `mutation($i: SupervisorEventInput!) { reportSupervisorEvent(input: $i) { name } }`,
      { i: { supervisorHost: "127.0.0.1", supervisorPort: supervisord.port, program: "worker", state: "FATAL" } },
    );
    expect(error.extensions?.code).toBe("FORBIDDEN");
    // The refusal does not name what lies outside the agent's binding.
    expect(error.message).not.toContain("pushed-worker");
    expect(await status("pushed-worker")).toBe("stopped");

    const future = await agent.http.error(
      `mutation($i: SupervisorEventInput!) { reportSupervisorEvent(input: $i) { name } }`,
      {
        i: {
          supervisorHost: "127.0.0.1",
          supervisorPort: supervisord.port,
          program: "worker",
          state: "RUNNING",
          at: new Date(Date.now() + 3_600_000).toISOString(),
        },
      },
    );
    expect(future.extensions?.invalidFields).toEqual([expect.objectContaining({ field: "input.at" })]);
  });
});

describe("supervisord changes, polled", () => {
  let app: TestApp;
  afterAll(async () => {
    await app?.stop();
    await supervisord?.stop();
  });
  let viewer: TokenClient;
  let supervisord: Supervisord;

  beforeAll(async () => {
    supervisord = await Supervisord.start({
      auth: AUTH,
      programs: { worker: { command: "sleep 1000" }, other: { command: "sleep 1000" } },
    });
    cleanups.push(() => supervisord.stop());
    app = await startTestApp(db.url, {
      ...SUPERVISOR_ENV,
      SUPERVISOR_POLL_INTERVAL_SECONDS: "1",
      SUPERVISOR_UNREACHABLE_POLLS: "2",
    });
    viewer = await app.client("VIEWER");
    await createRow(app, "polled-worker", supervisord, "worker");
    await createRow(app, "polled-other", supervisord, "other");
    await until("the first poll", async () => (await events("polled-worker", "SUPERVISOR_STATE_CHANGED")).length > 0);
  });

  it("a stop outside Fleetvisor is found by the next poll and recorded once", async () => {
    const seen = subscribe(app, viewer.token, {
      names: ["polled-worker"],
      // UPDATED only for the marker below.
      kinds: ["SUPERVISOR_STATE_CHANGED", "UPDATED"],
      after: await lastEventId(),
    });
    await supervisord.ctl("stop", "worker");
    const [change] = (await seen.count(1, 5_000)).map((e) => e.processChanged);
    expect(change).toMatchObject({ actor: "fleetvisor" });
    expect(change!.message).toMatch(/RUNNING \(pid \d+\) → STOPPED \(poll\)/);
    // Later polls see the same state and record nothing more: two whole polls, then a
    // marker; the stream follows the log's order, so anything they recorded comes before it.
    await app.services.watch.pollOnce();
    await app.services.watch.pollOnce();
    await marker(app, seen, "polled-worker");
    expect(seen.values.filter((e) => e.processChanged.kind === "SUPERVISOR_STATE_CHANGED")).toHaveLength(1);
    expect(seen.values).toHaveLength(2);
  });

  it("a process deleted and created again under its old name is first seen afresh", async () => {
    await app.admin.data(`mutation { deleteProcess(name: "polled-worker") { id } }`);
    const after = await lastEventId();
    await createRow(app, "polled-worker", supervisord, "worker");
    const seen = subscribe(app, viewer.token, { names: ["polled-worker"], kinds: ["SUPERVISOR_STATE_CHANGED"], after });
    const [sighting] = (await seen.count(1, 5_000)).map((e) => e.processChanged);
    expect(sighting!.message).toMatch(/^first seen → STOPPED \(poll\)/);
  });

  it("a supervisord that stays unreachable is an alert of its own, once; its return is recorded", async () => {
    const seen = subscribe(app, viewer.token, {
      names: ["polled-other"],
      // UPDATED only for the marker below.
      kinds: ["SUPERVISOR_UNREACHABLE", "SUPERVISOR_STATE_CHANGED", "UPDATED"],
      after: await lastEventId(),
    });
    supervisord.pause();
    const [alert] = (await seen.until((v) => v.some((e) => e.processChanged.kind === "SUPERVISOR_UNREACHABLE"), 10_000))
      .map((e) => e.processChanged)
      .filter((e) => e.kind === "SUPERVISOR_UNREACHABLE");
    expect(alert!.message).toContain("did not answer");
    // Two more polls that get no answer either, then a marker after them.
    await app.services.watch.pollOnce();
    await app.services.watch.pollOnce();
    await marker(app, seen, "polled-other");
    expect(seen.values.filter((e) => e.processChanged.kind === "SUPERVISOR_UNREACHABLE")).toHaveLength(1);
    supervisord.resume();
    const back = await seen.until(
      (v) => v.at(-1)?.processChanged.message?.startsWith("UNREACHABLE → RUNNING") ?? false,
      10_000,
    );
    expect(back.at(-1)!.processChanged.kind).toBe("SUPERVISOR_STATE_CHANGED");
  });
});

describe("the heartbeat watchdog", () => {
  it("a heartbeat that stops arriving: ERROR with HEARTBEAT_LOST; the next one: RUNNING with HEARTBEAT_RESTORED", async () => {
    const app = await startTestApp(db.url, {
      HEARTBEAT_INTERVAL_SECONDS: "1",
      HEARTBEAT_STALE_SECONDS: "2",
      HEARTBEAT_CHECK_INTERVAL_SECONDS: "1",
    });
    // Its watchdog must not outlive the test: the apps of later tests share the database.
    onTestFinished(() => app.stop());
    const viewer = await app.client("VIEWER");
    await app.admin.data(`mutation { createProcess(input: { name: "beating", port: 8000 }) { id } }`);
    const seen = subscribe(app, viewer.token, {
      names: ["beating"],
      kinds: ["HEARTBEAT_LOST", "HEARTBEAT_RESTORED"],
      after: await lastEventId(),
    });
    await app.admin.data(`mutation { registerProcess(name: "beating", pid: 77) { port } }`);
    const lost = (await seen.count(1, 10_000))[0]!.processChanged;
    expect(lost).toMatchObject({ kind: "HEARTBEAT_LOST", status: "ERROR", actor: "fleetvisor" });
    expect(lost.message).toMatch(/the limit is 2s$/);
    expect(await status("beating")).toBe("error");

    const beat = await app.admin.data<{ heartbeat: { ok: boolean } }>(
      `mutation { heartbeat(name: "beating", pid: 77) { ok } }`,
    );
    expect(beat.heartbeat.ok).toBe(true);
    const restored = (await seen.count(2, 5_000))[1]!.processChanged;
    expect(restored).toMatchObject({ kind: "HEARTBEAT_RESTORED", status: "RUNNING" });
    expect(await status("beating")).toBe("running");
  });

  it("a hung program that supervisord still runs reads UNRESPONSIVE once the watchdog marks it error; resumed, HEALTHY", async () => {
    const app = await startTestApp(db.url, {
      ...SUPERVISOR_ENV,
      HEARTBEAT_INTERVAL_SECONDS: "1",
      HEARTBEAT_STALE_SECONDS: "3",
      HEARTBEAT_CHECK_INTERVAL_SECONDS: "1",
    });
    onTestFinished(() => app.stop());
    const agent = await app.client("AGENT", "hung-agent", "hung-*");
    const supervisord = await Supervisord.start({
      auth: AUTH,
      programs: {
        server: {
          command: `python3 -u ${EXAMPLE_SERVER} --name hung-server --host 127.0.0.1`,
          autostart: false,
          startsecs: 1,
          environment: { FLEETVISOR_URL: app.url, FLEETVISOR_TOKEN: agent.token },
        },
      },
    });
    // Runs before app.stop (onTestFinished runs in reverse): the server deregisters on SIGTERM.
    onTestFinished(() => supervisord.stop());
    // The server serves on the port the registry gives it.
    await app.admin.data(`mutation($input: CreateProcessInput!) { createProcess(input: $input) { id } }`, {
      input: {
        name: "hung-server",
        port: await freePort(),
        supervisorHost: "127.0.0.1",
        supervisorPort: supervisord.port,
        program: "server",
      },
    });
    await supervisord.ctl("start", "server");
    type Health = { status: string; health: string; healthReasons: string[]; supervisor: { state: string } };
    const health = async () =>
      (
        await app.admin.data<{ process: Health }>(
          `{ process(name: "hung-server") { status health healthReasons supervisor { state } } }`,
        )
      ).process;
    await until("the server to register and beat", async () => (await health()).health === "HEALTHY");

    const pid = await supervisord.programPid("server");
    process.kill(pid, "SIGSTOP");
    onTestFinished(() => {
      // Let supervisord stop it; it may be gone already.
      try {
        process.kill(pid, "SIGCONT");
      } catch {
        /* already gone */
      }
    });
    await until("the watchdog to mark it lost", async () => (await events("hung-server", "HEARTBEAT_LOST")).length > 0);
    const hung = await health();
    expect(hung).toMatchObject({ status: "ERROR", supervisor: { state: "RUNNING" }, health: "UNRESPONSIVE" });
    expect(hung.healthReasons[0]).toMatch(/^supervisord says RUNNING, but last heartbeat \d+s ago \(stale after 3s\)$/);

    process.kill(pid, "SIGCONT");
    const resumed = await until("the heartbeat to come back", async () => {
      const now = await health();
      return now.health === "HEALTHY" && now;
    });
    expect(resumed.status).toBe("RUNNING");
    expect((await events("hung-server", "HEARTBEAT_RESTORED")).length).toBe(1);
  });
});

describe.runIf(onMysql)("two replicas on one database (MySQL: the embedded database serves one replica)", () => {
  it("record each transition exactly once, however many replicas watch", async () => {
    const supervisord = await Supervisord.start({ auth: AUTH, programs: { shared: { command: "sleep 1000" } } });
    cleanups.push(() => supervisord.stop());
    const env = {
      ...SUPERVISOR_ENV,
      REDIS_URL: process.env.TEST_REDIS_URL ?? "redis://127.0.0.1:6379",
      SUPERVISOR_POLL_INTERVAL_SECONDS: "1",
      HEARTBEAT_INTERVAL_SECONDS: "1",
      HEARTBEAT_STALE_SECONDS: "2",
      HEARTBEAT_CHECK_INTERVAL_SECONDS: "1",
    };
    const [one, two] = await Promise.all([startTestApp(db.url, env), startTestApp(db.url, env)]);
    onTestFinished(async () => {
      await Promise.all([one.stop(), two.stop()]);
    });
    await createRow(one, "replicated", supervisord, "shared");
    await one.admin.data(`mutation($p: Int!) { registerProcess(name: "replicated", pid: $p) { port } }`, {
      p: await supervisord.programPid("shared"),
    });
    // Both watchdogs see the heartbeat go stale; both pollers see the stop.
    await until("the lost heartbeat", async () => (await events("replicated", "HEARTBEAT_LOST")).length > 0);
    await supervisord.ctl("stop", "shared");
    await until("the stop", async () => (await events("replicated")).some((e) => e.message?.includes("→ STOPPED")));
    // More polls and watchdog passes on both replicas at once. Each waits for the pass under
    // way on its replica first, so none that saw the changes above is still to record.
    for (let round = 0; round < 2; round++) {
      await Promise.all(
        [one, two].flatMap((app) => [app.services.watch.pollOnce(), app.services.watch.checkHeartbeats()]),
      );
    }

    const all = await events("replicated");
    const count = (kind: string, match?: string) =>
      all.filter((e) => e.kind === kind && (!match || e.message.includes(match))).length;
    expect(count("HEARTBEAT_LOST")).toBe(1);
    expect(count("SUPERVISOR_STATE_CHANGED", "→ STOPPED")).toBe(1);
    expect(count("STATUS_CHANGED", "supervisord stopped it")).toBe(1);
  });
});

describe("alerts", () => {
  let receiver: Server;
  let received: { body: Record<string, unknown>; at: number }[];
  let failFirst: number;

  beforeAll(async () => {
    received = [];
    failFirst = 0;
    receiver = createServer((req: IncomingMessage, res) => {
      let body = "";
      req.on("data", (c: Buffer) => (body += c.toString()));
      req.on("end", () => {
        if (failFirst > 0) {
          failFirst--;
          res.statusCode = 503;
          res.end();
          return;
        }
        received.push({ body: JSON.parse(body) as Record<string, unknown>, at: Date.now() });
        res.end("ok");
      });
    });
    await new Promise<void>((resolve) => receiver.listen(0, "127.0.0.1", resolve));
    cleanups.push(() => new Promise((resolve) => receiver.close(resolve)));
  });

  it("are POSTed to ALERT_WEBHOOK_URL as JSON, retried when the receiver fails", async () => {
    const url = `http://127.0.0.1:${(receiver.address() as { port: number }).port}/hook`;
    const app = await startTestApp(db.url, {
      ALERT_WEBHOOK_URL: url,
      HEARTBEAT_INTERVAL_SECONDS: "1",
      HEARTBEAT_STALE_SECONDS: "2",
      HEARTBEAT_CHECK_INTERVAL_SECONDS: "1",
    });
    onTestFinished(() => app.stop());
    failFirst = 1;
    await app.admin.data(`mutation { createProcess(input: { name: "alerting", port: 8000 }) { id } }`);
    await app.admin.data(`mutation { registerProcess(name: "alerting", pid: 5) { port } }`);
    const incidentOf = (r: { body: Record<string, unknown> }) => r.body.incident as Record<string, unknown>;
    const alert = await until("the alert", async () => received.find((r) => incidentOf(r).process === "alerting"));
    expect(alert.body.status).toBe("firing");
    expect(incidentOf(alert)).toMatchObject({
      process: "alerting",
      kind: "HEARTBEAT_LOST",
      state: "OPEN",
      occurrences: 1,
    });
    expect(incidentOf(alert).reason).toMatch(/the limit is 2s$/);
    expect(Date.parse(incidentOf(alert).openedAt as string)).toBeGreaterThan(Date.now() - 60_000);
    expect(failFirst).toBe(0); // the first attempt failed and was retried
    expect(received.filter((r) => incidentOf(r).process === "alerting")).toHaveLength(1);
  });

  it("a webhook that never answers delays nothing else", async () => {
    // Accepts, and answers only when the test is over: the replica's stop then has nothing
    // to wait for (it would wait up to 5 s for an alert still being sent).
    const held: ServerResponse[] = [];
    let answering = false;
    const silent = createServer((_req, res) => (answering ? res.end("ok") : held.push(res)));
    await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
    cleanups.push(() => new Promise((resolve) => silent.close(resolve)));
    cleanups.push(async () => silent.closeAllConnections());
    const app = await startTestApp(db.url, {
      ALERT_WEBHOOK_URL: `http://127.0.0.1:${(silent.address() as { port: number }).port}/hook`,
      ALERT_WEBHOOK_TIMEOUT_MS: "20000",
    });
    onTestFinished(() => app.stop());
    await app.admin.data(`mutation { createProcess(input: { name: "quiet-alerts", port: 8000 }) { id } }`);
    await app.admin.data(`mutation { registerProcess(name: "quiet-alerts", pid: 6) { port } }`);
    await app.services.watch.checkHeartbeats(); // nothing stale yet
    await db.query("UPDATE kb_server_processes SET last_heartbeat = ? WHERE process_name = 'quiet-alerts'", [
      new Date(Date.now() - 3_600_000),
    ]);
    const started = Date.now();
    const lost = await app.services.watch.checkHeartbeats();
    expect(lost.map((p) => p.name)).toEqual(["quiet-alerts"]);
    const beat = await app.admin.data<{ heartbeat: { ok: boolean } }>(
      `mutation { heartbeat(name: "quiet-alerts", pid: 6) { ok } }`,
    );
    expect(beat.heartbeat.ok).toBe(true);
    // The alert is still waiting on the silent receiver; none of this waited for it.
    expect(Date.now() - started).toBeLessThan(2_000);
    await until("the alert at the receiver", async () => held.length > 0 || undefined);
    answering = true;
    for (const res of held) res.end("ok");
  });
});
