import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from "vitest";
import { startTestApp, type TestApp } from "./support/app.js";
import { until } from "./support/wait.js";
import { createTestDatabase, storedTime, type TestDatabase } from "./support/database.js";
import { RecordingProxy } from "./support/recording-proxy.js";
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

/** The example server run directly, as the README runs it, with what it writes to stderr. */
interface ExampleServer {
  readonly pid: number;
  readonly lines: string[];
  /** SIGTERM (it deregisters), then the exit. */
  stop(): Promise<void>;
}
const children = new Set<ExampleServer>();

function runExampleServer(name: string, env: Record<string, string>): ExampleServer {
  const child: ChildProcess = spawn("python3", ["-u", EXAMPLE, "--name", name, "--host", "127.0.0.1"], {
    // Nothing of the test runner's own FLEETVISOR_* may leak in.
    env: { ...Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("FLEETVISOR_"))), ...env },
    stdio: ["ignore", "ignore", "pipe"],
  });
  const lines: string[] = [];
  let rest = "";
  child.stderr!.on("data", (chunk: Buffer) => {
    const text = rest + chunk.toString();
    const parts = text.split("\n");
    rest = parts.pop()!;
    lines.push(...parts);
  });
  const exited = once(child, "exit");
  const server: ExampleServer = {
    pid: child.pid!,
    lines,
    async stop() {
      children.delete(server);
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
      await exited;
      clearTimeout(timer);
    },
  };
  children.add(server);
  return server;
}

/** The log lines without their time stamps: "fleetvisor ERROR …". */
function messages(server: ExampleServer): string[] {
  return server.lines.map((line) => line.replace(/^\S+ \S+ /, ""));
}

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
  return { ...r!, last_heartbeat: storedTime(r!.last_heartbeat) };
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
        // FLEETVISOR_URL as the endpoint, as people copy it from "fleetvisor is listening".
        environment: { FLEETVISOR_URL: `http://127.0.0.1:${appPort}/graphql`, FLEETVISOR_TOKEN: token },
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
  await app.admin.data(`mutation($n: String!, $p: Int!) { createProcess(input: { name: $n, port: $p }) { id } }`, {
    n: "domaeka-test-03",
    p: await freePort(),
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
  await Promise.all([...children].map((child) => child.stop()));
  await supervisord?.stop();
  await app?.stop();
  await db?.drop();
});

/**
 * What the example server answers on `port`. It registers first (the registry gives it
 * its port) and listens after, so a registered row may come a moment before the socket.
 */
function servedOn(port: number): Promise<{ name: string; pid: number; port: number }> {
  return until(`the example server to answer on port ${port}`, async () => {
    const response = await fetch(`http://127.0.0.1:${port}/`).catch(() => undefined);
    return response?.ok && ((await response.json()) as { name: string; pid: number; port: number });
  });
}

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

    const served = await servedOn(registered.port);
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
    const served = await servedOn(registered.port);
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
    // The intent changed (desired state now STOPPED), the status was marked, and the server
    // deregistered itself (its token's name is the actor) before supervisord confirmed the
    // stop, so Fleetvisor had no "no deregister came" to record.
    expect(events.map((e) => [e.kind, e.actor])).toEqual([
      ["UPDATED", "bootstrap-admin"],
      ["STATUS_CHANGED", "bootstrap-admin"],
      ["DEREGISTERED", "domaeka-agent"],
    ]);
    expect(events[0]!.message).toMatch(/^desiredState: \S+ → STOPPED$/);
  });
});

describe("the Python registry client's forgiveness of the usual configuration mistakes", () => {
  it("takes Fleetvisor's /graphql endpoint, with a trailing slash, as FLEETVISOR_URL", async () => {
    const server = runExampleServer("domaeka-test-03", {
      FLEETVISOR_URL: `${app.url}/graphql/`,
      FLEETVISOR_TOKEN: token,
    });
    onTestFinished(() => server.stop());
    await until("the registration", async () => (await row("domaeka-test-03")).pid === server.pid);
    expect((await row("domaeka-test-03")).status).toBe("running");
    await server.stop();
    expect(await row("domaeka-test-03")).toMatchObject({ status: "stopped", pid: null });
  });

  // One case per configuration error: FLEETVISOR_URL, the token, the name. Fleetvisor's own
  // answers, through a proxy that notes when each request came.
  const mistakes = [
    {
      mistake: "a token Fleetvisor does not know",
      name: "domaeka-test-03",
      path: "",
      token: () => "not-a-token-fleetvisor-knows",
      line: (url: string) =>
        `fleetvisor ERROR Fleetvisor at ${url}/graphql refused the token (HTTP 401: unknown or revoked API token): ` +
        'set FLEETVISOR_TOKEN or FLEETVISOR_TOKEN_FILE to an AGENT token bound to "domaeka-test-03"; retrying every 1 s',
    },
    {
      mistake: "a FLEETVISOR_URL with a path where nothing answers GraphQL (HTTP 404)",
      name: "domaeka-test-03",
      path: "/fleetvisor",
      token: () => token,
      line: (url: string) =>
        `fleetvisor ERROR no GraphQL endpoint at ${url}/fleetvisor/graphql (HTTP 404): set FLEETVISOR_URL to ` +
        "Fleetvisor's address, such as http://fleetvisor:4000 (or its /graphql endpoint); retrying every 1 s",
    },
    {
      mistake: "a process name the registry does not have",
      name: "domaeka-test-99",
      path: "",
      token: () => token,
      line: (url: string) =>
        `fleetvisor ERROR Fleetvisor at ${url}/graphql has no process named "domaeka-test-99": add it to the ` +
        "registry (createProcess), or run this server under the name the registry has for it; retrying every 1 s",
    },
    {
      mistake: "a token bound to other processes",
      name: "domaeka-test-03",
      path: "",
      token: () => otherAgentToken,
      line: (url: string) =>
        `fleetvisor ERROR Fleetvisor at ${url}/graphql refused "domaeka-test-03" to this token (token "other-agent" ` +
        'is bound to "other-*" and may not touch "domaeka-test-03"): use an AGENT token bound to this process\'s ' +
        "name or to a prefix-* that matches it; retrying every 1 s",
    },
  ];
  let otherAgentToken: string;
  beforeAll(async () => {
    otherAgentToken = (await app.client("AGENT", "other-agent", "other-*")).token;
  });

  // Each case waits for four attempts a second apart, on nothing the others touch: together.
  it.concurrent.for(mistakes)(
    "says so once, in one line, for $mistake, and asks again only slowly",
    async (mistake, { expect, onTestFinished }) => {
      const proxy = await RecordingProxy.start(app.url);
      onTestFinished(() => proxy.close());
      const server = runExampleServer(mistake.name, {
        FLEETVISOR_URL: `${proxy.url}${mistake.path}`,
        FLEETVISOR_TOKEN: mistake.token(),
        FLEETVISOR_CONFIG_RETRY_SECONDS: "1",
      });
      onTestFinished(() => server.stop());
      const startedAt = Date.now();
      await until("its fourth attempt", async () => proxy.requests.length >= 4);
      const elapsedMs = Date.now() - startedAt;

      // Every attempt got the same answer, and it was said once, in one line, without the token.
      expect(messages(server)).toEqual([mistake.line(proxy.url)]);
      expect(server.lines.join("\n")).not.toContain(mistake.token());
      // At the configured pace, not every few hundred milliseconds.
      expect(Math.min(...proxy.gapsMs())).toBeGreaterThanOrEqual(900);
      expect(proxy.requests.length).toBeLessThanOrEqual(1 + Math.ceil(elapsedMs / 900));
      // Still up, waiting for a fix, not crashed.
      expect(await row("domaeka-test-03")).toMatchObject({ status: "stopped", pid: null });
    },
  );

  it.concurrent("waits 30 s between attempts by default", async ({ expect, onTestFinished }) => {
    const proxy = await RecordingProxy.start(app.url);
    onTestFinished(() => proxy.close());
    const server = runExampleServer("domaeka-test-03", {
      FLEETVISOR_URL: proxy.url,
      FLEETVISOR_TOKEN: "not-a-token-fleetvisor-knows",
    });
    onTestFinished(() => server.stop());
    await until("the line about the token", async () => server.lines.length > 0);
    expect(messages(server)).toEqual([expect.stringMatching(/refused the token .*; retrying every 30 s$/)]);
    // Watched for a while: no second attempt.
    const firstAt = proxy.requests[0]!.at;
    await new Promise((resolve) => setTimeout(resolve, 3_000));
    expect(proxy.requests.filter((r) => r.at < firstAt + 3_000)).toHaveLength(1);
  });

  it("registers without a restart once the missing process is created", async () => {
    const server = runExampleServer("domaeka-test-04", {
      FLEETVISOR_URL: app.url,
      FLEETVISOR_TOKEN: token,
      FLEETVISOR_CONFIG_RETRY_SECONDS: "1",
    });
    onTestFinished(() => server.stop());
    await until("the line about the name", async () => server.lines.length > 0);
    await app.admin.data(`mutation($n: String!, $p: Int!) { createProcess(input: { name: $n, port: $p }) { id } }`, {
      n: "domaeka-test-04",
      p: await freePort(),
    });
    await until("the registration", async () => (await row("domaeka-test-04")).pid === server.pid);
    // Its line about it may come a moment after the row shows it.
    await until("the line about the registration", async () => messages(server).length > 1);
    expect(messages(server)[0]).toContain('has no process named "domaeka-test-04"');
    expect(messages(server)[1]).toBe(
      `fleetvisor INFO registered domaeka-test-04 (pid ${server.pid}, port ${(await row("domaeka-test-04")).port})`,
    );
  });

  it("retries a 5xx soon, with backoff, not at the configuration-error pace", async () => {
    const proxy = await RecordingProxy.start(app.url);
    onTestFinished(() => proxy.close());
    proxy.answerWith = 502;
    const server = runExampleServer("domaeka-test-03", {
      FLEETVISOR_URL: proxy.url,
      FLEETVISOR_TOKEN: token,
      FLEETVISOR_CONFIG_RETRY_SECONDS: "60",
    });
    onTestFinished(() => server.stop());
    await until("three attempts", async () => proxy.requests.length >= 3, 10_000);
    const gaps = proxy.gapsMs();
    // 0.5 s, then 1 s (each with up to 20 % jitter): growing, and far below 60 s.
    expect(gaps[1]!).toBeGreaterThan(gaps[0]!);
    expect(Math.max(...gaps)).toBeLessThan(5_000);
    expect(
      messages(server).every((m) =>
        m.startsWith(`fleetvisor WARNING Fleetvisor at ${proxy.url}/graphql answered HTTP 502; retrying in `),
      ),
    ).toBe(true);

    proxy.answerWith = undefined;
    await until(
      "the registration once the proxy passes requests on",
      async () => (await row("domaeka-test-03")).pid === server.pid,
    );
    await server.stop();
  });
});
