import { execFile } from "node:child_process";
import { once } from "node:events";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from "vitest";
import {
  configRetrySecondsFromEnvironment,
  graphqlEndpoint,
  RegistryClient,
  tokenFromEnvironment,
} from "../client-examples/typescript/registry-client.js";
import { subscribeToChanges, type ProcessChange } from "../client-examples/typescript/subscriber.js";
import { startTestApp, type TestApp } from "./support/app.js";
import { until } from "./support/wait.js";
import { createTestDatabase, storedTime, type TestDatabase } from "./support/database.js";
import { RecordingProxy } from "./support/recording-proxy.js";
import { freePort } from "./support/supervisord.js";
import { tempDir } from "./support/temp-dir.js";

let db: TestDatabase;
let app: TestApp;
let appPort: number;
let token: string;
const env = () => ({ PORT: String(appPort), HEARTBEAT_INTERVAL_SECONDS: "1", HEARTBEAT_STALE_SECONDS: "5" });
const quiet = { info: () => undefined, warn: () => undefined, error: () => undefined };
/** A logger that keeps every line, as "level: message". */
const recording = (lines: string[]) => ({
  info: (message: string) => void lines.push(`info: ${message}`),
  warn: (message: string) => void lines.push(`warn: ${message}`),
  error: (message: string) => void lines.push(`error: ${message}`),
});

async function row(name: string): Promise<{ status: string; pid: number | null; last_heartbeat: Date | null }> {
  const [r] = await db.query<{ status: string; pid: number | null; last_heartbeat: Date | null }>(
    "SELECT status, pid, last_heartbeat FROM kb_server_processes WHERE process_name = ?",
    [name],
  );
  return { ...r!, last_heartbeat: storedTime(r!.last_heartbeat) };
}

async function kinds(name: string): Promise<string[]> {
  return (
    await db.query<{ kind: string }>("SELECT kind FROM fleetvisor_process_events WHERE process_name = ? ORDER BY id", [
      name,
    ])
  ).map((e) => e.kind);
}

beforeAll(async () => {
  db = await createTestDatabase("tsclient");
  appPort = await freePort();
  app = await startTestApp(db.url, env());
  token = (await app.client("AGENT", "node-agent", "node-*")).token;
  for (const [name, port] of [
    ["node-01", 9301],
    ["node-02", 9302],
    ["node-03", 9303],
    ["node-04", 9304],
    ["node-05", 9305],
  ] as const) {
    await app.admin.data(`mutation($n: String!, $p: Int!) { createProcess(input: { name: $n, port: $p }) { id } }`, {
      n: name,
      p: port,
    });
  }
});

afterAll(async () => {
  await app?.stop();
  await db?.drop();
});

describe("the TypeScript registry client", () => {
  it("registers, learns its port, heartbeats, and deregisters on stop", async () => {
    const client = new RegistryClient({ name: "node-01", url: app.url, token, pid: 4101, logger: quiet });
    expect(await client.start()).toBe(9301);
    expect(await row("node-01")).toMatchObject({ status: "running", pid: 4101 });
    const first = (await row("node-01")).last_heartbeat!.getTime();
    await until("a heartbeat", async () => (await row("node-01")).last_heartbeat!.getTime() > first);
    await client.stop();
    expect(await row("node-01")).toMatchObject({ status: "stopped", pid: null });
    expect(await kinds("node-01")).toEqual(["CREATED", "REGISTERED", "DEREGISTERED"]);
  });

  it("registers again when a heartbeat is refused (another pid took the name)", async () => {
    const client = new RegistryClient({ name: "node-02", url: app.url, token, pid: 4201, logger: quiet });
    await client.start();
    await app.admin.data(`mutation { registerProcess(name: "node-02", pid: 9999) { port } }`);
    await until("the re-registration", async () => (await row("node-02")).pid === 4201);
    expect(await row("node-02")).toMatchObject({ status: "running", pid: 4201 });
    expect(await kinds("node-02")).toEqual(["CREATED", "REGISTERED", "REGISTERED", "REGISTERED"]);
    await client.stop();
  });

  it("survives Fleetvisor being down, without throwing, and resumes; serves a fallback port when down at start", async () => {
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => unhandled.push(reason);
    process.on("unhandledRejection", onUnhandled);
    // Removed however the test ends: left behind by a failure, it would swallow later tests' rejections.
    onTestFinished(() => void process.off("unhandledRejection", onUnhandled));
    const client = new RegistryClient({ name: "node-03", url: app.url, token, pid: 4301, logger: quiet });
    await client.start();
    await app.stop();
    await new Promise((r) => setTimeout(r, 3_000));
    app = await startTestApp(db.url, env());
    const backAt = Math.floor(Date.now() / 1000) * 1000;
    await until("heartbeats again", async () => (await row("node-03")).last_heartbeat!.getTime() >= backAt);
    await client.stop();

    await app.stop();
    const early = new RegistryClient({
      name: "node-03",
      url: app.url,
      token,
      pid: 4302,
      fallbackPort: 7777,
      logger: quiet,
    });
    expect(await early.start()).toBe(7777);
    expect(early.isRegistered).toBe(false);
    app = await startTestApp(db.url, env());
    // The row changes before the client has read the answer: wait for both to agree.
    await until("the late registration", async () => (await row("node-03")).pid === 4302 && early.isRegistered);
    await early.stop();
    expect(unhandled).toEqual([]);
  });
});

describe("the TypeScript registry client's configuration", () => {
  it("reads the token from FLEETVISOR_TOKEN_FILE, before FLEETVISOR_TOKEN, as the README's snippet has it", async () => {
    const file = join(tempDir("agent-token"), "fleetvisor-agent");
    writeFileSync(file, `${token}\n`);
    const client = RegistryClient.fromEnvironment(
      { pid: 4401, logger: quiet },
      {
        FLEETVISOR_URL: app.url,
        FLEETVISOR_TOKEN_FILE: file,
        FLEETVISOR_TOKEN: "not-the-token-in-the-file",
        SUPERVISOR_PROCESS_NAME: "node-04",
      },
    );
    expect(await client.start()).toBe(9304);
    expect(client.isRegistered).toBe(true);
    expect(await row("node-04")).toMatchObject({ status: "running", pid: 4401 });
    await client.stop();
  });

  it("says which file it could not use, instead of falling back to another token", () => {
    const dir = tempDir("agent-token");
    expect(() => tokenFromEnvironment({ FLEETVISOR_TOKEN_FILE: join(dir, "missing"), FLEETVISOR_TOKEN: "t" })).toThrow(
      `FLEETVISOR_TOKEN_FILE cannot be read: ENOENT ${join(dir, "missing")}`,
    );
    writeFileSync(join(dir, "empty"), "\n");
    expect(() => tokenFromEnvironment({ FLEETVISOR_TOKEN_FILE: join(dir, "empty") })).toThrow(
      `FLEETVISOR_TOKEN_FILE is empty: ${join(dir, "empty")}`,
    );
    expect(tokenFromEnvironment({ FLEETVISOR_TOKEN: "from-the-variable" })).toBe("from-the-variable");
  });
});

describe("the subscriber example", () => {
  it("prints changes, and after a lost connection resumes with the ones it missed", async () => {
    const viewer = (await app.client("VIEWER", "frontend")).token;
    const seen: ProcessChange[] = [];
    const statuses: string[] = [];
    const [{ last }] = (await db.query<{ last: string }>(
      "SELECT COALESCE(MAX(id), 0) AS last FROM fleetvisor_process_events",
    )) as [{ last: string }];
    const stop = subscribeToChanges({
      url: app.url,
      token: viewer,
      names: ["node-01"],
      after: String(last),
      onChange: (change) => seen.push(change),
      onStatus: (status) => statuses.push(status),
    });
    await app.admin.data(`mutation { updateProcess(name: "node-01", input: { port: 9401 }) { port } }`);
    await until("the first change", async () => seen.length === 1);

    // Down: a change made meanwhile through another replica is missed live…
    await app.stop();
    const other = await startTestApp(db.url, { HEARTBEAT_INTERVAL_SECONDS: "1", HEARTBEAT_STALE_SECONDS: "5" });
    await other.admin.data(`mutation { updateProcess(name: "node-01", input: { port: 9402 }) { port } }`);
    await other.stop();
    // …and received after the reconnect, followed by live ones.
    app = await startTestApp(db.url, env());
    await until("the missed change", async () => seen.length === 2, 15_000);
    await app.admin.data(`mutation { updateProcess(name: "node-01", input: { port: 9403 }) { port } }`);
    await until("the live change", async () => seen.length === 3);
    expect(seen.map((c) => c.message)).toEqual(["port: 9301 → 9401", "port: 9401 → 9402", "port: 9402 → 9403"]);
    expect(statuses).toContain("reconnecting");
    await stop();
  });

  it("runs as a command that prints JSON lines", async () => {
    const viewer = (await app.client("VIEWER", "cli")).token;
    const [{ last }] = (await db.query<{ last: string }>(
      "SELECT COALESCE(MAX(id), 0) AS last FROM fleetvisor_process_events",
    )) as [{ last: string }];
    await app.admin.data(`mutation { updateProcess(name: "node-02", input: { port: 9502 }) { port } }`);
    const child = execFile(
      process.execPath,
      ["--import", "tsx", "client-examples/typescript/subscriber.ts", "--names", "node-02", "--after", String(last)],
      {
        env: { ...process.env, FLEETVISOR_URL: app.url, FLEETVISOR_TOKEN: viewer },
      },
    );
    let out = "";
    child.stdout!.on("data", (d: Buffer) => (out += d.toString()));
    await until("a printed change", async () => out.includes("\n"), 15_000);
    child.kill("SIGTERM");
    expect(JSON.parse(out.split("\n")[0]!)).toMatchObject({
      kind: "UPDATED",
      processName: "node-02",
      message: "port: 9302 → 9502",
    });
  });

  it("exits 1 with one clear line when Fleetvisor refuses its token", async () => {
    const child = execFile(process.execPath, ["--import", "tsx", "client-examples/typescript/subscriber.ts"], {
      env: { ...process.env, FLEETVISOR_URL: app.url, FLEETVISOR_TOKEN: "not-a-token-fleetvisor-knows" },
    });
    let out = "";
    let err = "";
    child.stdout!.on("data", (d: Buffer) => (out += d.toString()));
    child.stderr!.on("data", (d: Buffer) => (err += d.toString()));
    const timer = setTimeout(() => child.kill("SIGKILL"), 20_000);
    const [code] = (await once(child, "exit")) as [number | null];
    clearTimeout(timer);
    expect(code).toBe(1);
    expect(err).toBe(
      "subscriber: Fleetvisor refused the token (4401: Unauthorized: unknown or revoked token); " +
        "check FLEETVISOR_TOKEN or FLEETVISOR_TOKEN_FILE\n",
    );
    expect(out).toBe("");
  });
});

describe("the TypeScript registry client's forgiveness of the usual configuration mistakes", () => {
  it.each(["/graphql", "/graphql/", "/"])("takes FLEETVISOR_URL with %s after Fleetvisor's address", async (suffix) => {
    const client = new RegistryClient({ name: "node-05", url: `${app.url}${suffix}`, token, pid: 4501, logger: quiet });
    expect(await client.start()).toBe(9305);
    expect(await row("node-05")).toMatchObject({ status: "running", pid: 4501 });
    await client.stop();
    expect(await row("node-05")).toMatchObject({ status: "stopped", pid: null });
  });

  it("the subscriber takes the /graphql endpoint as FLEETVISOR_URL too", async () => {
    const viewer = (await app.client("VIEWER", "endpoint-viewer")).token;
    const seen: ProcessChange[] = [];
    const [{ last }] = (await db.query<{ last: string }>(
      "SELECT COALESCE(MAX(id), 0) AS last FROM fleetvisor_process_events",
    )) as [{ last: string }];
    const stop = subscribeToChanges({
      url: `${app.url}/graphql/`,
      token: viewer,
      names: ["node-04"],
      after: String(last),
      onChange: (change) => seen.push(change),
    });
    onTestFinished(stop);
    await app.admin.data(`mutation { updateProcess(name: "node-04", input: { port: 9404 }) { port } }`);
    await until("the change", async () => seen.length === 1);
    expect(seen[0]).toMatchObject({ kind: "UPDATED", processName: "node-04", message: "port: 9304 → 9404" });
  });

  it("says what is wrong with a FLEETVISOR_URL that is no http(s) URL, or a retry interval that is no number", () => {
    expect(() => graphqlEndpoint("localhost:4000")).toThrow(
      `FLEETVISOR_URL must be Fleetvisor's http:// or https:// address, such as http://fleetvisor:4000 (got "localhost:4000")`,
    );
    expect(configRetrySecondsFromEnvironment({})).toBe(30);
    expect(configRetrySecondsFromEnvironment({ FLEETVISOR_CONFIG_RETRY_SECONDS: "2.5" })).toBe(2.5);
    expect(() => configRetrySecondsFromEnvironment({ FLEETVISOR_CONFIG_RETRY_SECONDS: "0" })).toThrow(
      `FLEETVISOR_CONFIG_RETRY_SECONDS must be a number of seconds above 0 (got "0")`,
    );
  });

  // One case per configuration error: FLEETVISOR_URL, the token, the name. Fleetvisor's own
  // answers, through a proxy that notes when each request came.
  let otherAgentToken: string;
  beforeAll(async () => {
    otherAgentToken = (await app.client("AGENT", "other-agent", "other-*")).token;
  });
  const mistakes = [
    {
      mistake: "a token Fleetvisor does not know",
      name: "node-05",
      path: "",
      token: () => "not-a-token-fleetvisor-knows",
      line: (url: string) =>
        `error: Fleetvisor at ${url}/graphql refused the token (HTTP 401: unknown or revoked API token): ` +
        'set FLEETVISOR_TOKEN or FLEETVISOR_TOKEN_FILE to an AGENT token bound to "node-05"; retrying every 1 s',
    },
    {
      mistake: "a FLEETVISOR_URL with a path where nothing answers GraphQL (HTTP 404)",
      name: "node-05",
      path: "/api/v1/",
      token: () => token,
      line: (url: string) =>
        `error: no GraphQL endpoint at ${url}/api/v1/graphql (HTTP 404): set FLEETVISOR_URL to ` +
        "Fleetvisor's address, such as http://fleetvisor:4000 (or its /graphql endpoint); retrying every 1 s",
    },
    {
      mistake: "a process name the registry does not have",
      name: "node-99",
      path: "",
      token: () => token,
      line: (url: string) =>
        `error: Fleetvisor at ${url}/graphql has no process named "node-99": add it to the ` +
        "registry (createProcess), or run this server under the name the registry has for it; retrying every 1 s",
    },
    {
      mistake: "a token bound to other processes",
      name: "node-05",
      path: "",
      token: () => otherAgentToken,
      line: (url: string) =>
        `error: Fleetvisor at ${url}/graphql refused "node-05" to this token (token "other-agent" ` +
        'is bound to "other-*" and may not touch "node-05"): use an AGENT token bound to this process\'s ' +
        "name or to a prefix-* that matches it; retrying every 1 s",
    },
  ];

  // Each case waits for four attempts a second apart, on nothing the others touch: together.
  it.concurrent.for(mistakes)(
    "says so once, in one line, for $mistake, and asks again only slowly",
    async (mistake, { expect, onTestFinished }) => {
      const proxy = await RecordingProxy.start(app.url);
      onTestFinished(() => proxy.close());
      const lines: string[] = [];
      const client = new RegistryClient({
        name: mistake.name,
        url: `${proxy.url}${mistake.path}`,
        token: mistake.token(),
        pid: 4502,
        configRetrySeconds: 1,
        logger: recording(lines),
      });
      const started = client.start();
      started.catch(() => undefined);
      const startedAt = Date.now();
      await until("its fourth attempt", async () => proxy.requests.length >= 4);
      const elapsedMs = Date.now() - startedAt;

      // Every attempt got the same answer, and it was said once, in one line, without the token.
      expect(lines).toEqual([mistake.line(proxy.url)]);
      expect(lines.join("\n")).not.toContain(mistake.token());
      // At the configured pace, not every few hundred milliseconds.
      expect(Math.min(...proxy.gapsMs())).toBeGreaterThanOrEqual(900);
      expect(proxy.requests.length).toBeLessThanOrEqual(1 + Math.ceil(elapsedMs / 900));
      // Still waiting for a port, until stopped.
      expect(client.isRegistered).toBe(false);
      await client.stop();
      await expect(started).rejects.toThrow(`stopped before Fleetvisor gave ${mistake.name} a port`);
    },
  );

  it.concurrent("waits 30 s between attempts by default", async ({ expect, onTestFinished }) => {
    const proxy = await RecordingProxy.start(app.url);
    onTestFinished(() => proxy.close());
    const lines: string[] = [];
    const client = RegistryClient.fromEnvironment(
      { pid: 4503, logger: recording(lines) },
      {
        FLEETVISOR_URL: proxy.url,
        FLEETVISOR_TOKEN: "not-a-token-fleetvisor-knows",
        SUPERVISOR_PROCESS_NAME: "node-05",
      },
    );
    const started = client.start();
    started.catch(() => undefined);
    onTestFinished(() => client.stop());
    await until("the line about the token", async () => lines.length > 0);
    expect(lines).toEqual([expect.stringMatching(/^error: .* refused the token .*; retrying every 30 s$/)]);
    // Watched for a while: no second attempt.
    const firstAt = proxy.requests[0]!.at;
    await new Promise((resolve) => setTimeout(resolve, 3_000));
    expect(proxy.requests.filter((r) => r.at < firstAt + 3_000)).toHaveLength(1);
  });

  it("treats a token revoked while it runs the same way: heartbeats refused are said once and retried slowly", async () => {
    const agent = await app.client("AGENT", "node-05-agent", "node-05");
    const proxy = await RecordingProxy.start(app.url);
    onTestFinished(() => proxy.close());
    const lines: string[] = [];
    const client = new RegistryClient({
      name: "node-05",
      url: proxy.url,
      token: agent.token,
      pid: 4504,
      configRetrySeconds: 1,
      logger: recording(lines),
    });
    onTestFinished(() => client.stop());
    await client.start();
    await app.admin.data(`mutation($id: ID!) { revokeApiToken(id: $id) { id } }`, { id: agent.id });
    const refused = () => proxy.requests.filter((r) => r.status === 401);
    await until("four refused heartbeats", async () => refused().length >= 4);
    expect(Math.min(...proxy.gapsMs(refused()))).toBeGreaterThanOrEqual(900);
    expect(lines).toEqual([
      "info: registered node-05 (pid 4504, port 9305)",
      `error: Fleetvisor at ${proxy.url}/graphql refused the token (HTTP 401: unknown or revoked API token): ` +
        'set FLEETVISOR_TOKEN or FLEETVISOR_TOKEN_FILE to an AGENT token bound to "node-05"; retrying every 1 s',
    ]);
  });

  it("retries a 5xx soon, with backoff, not at the configuration-error pace", async () => {
    const proxy = await RecordingProxy.start(app.url);
    onTestFinished(() => proxy.close());
    proxy.answerWith = 502;
    const lines: string[] = [];
    const client = new RegistryClient({
      name: "node-05",
      url: proxy.url,
      token,
      pid: 4505,
      configRetrySeconds: 60,
      logger: recording(lines),
    });
    onTestFinished(() => client.stop());
    const started = client.start();
    await until("three attempts", async () => proxy.requests.length >= 3, 10_000);
    const gaps = proxy.gapsMs();
    // 0.5 s, then 1 s: growing, and far below 60 s.
    expect(gaps[1]!).toBeGreaterThan(gaps[0]!);
    expect(Math.max(...gaps)).toBeLessThan(5_000);
    expect(lines.slice(0, 2)).toEqual([
      `warn: Fleetvisor at ${proxy.url}/graphql answered HTTP 502; retrying in 500 ms`,
      `warn: Fleetvisor at ${proxy.url}/graphql answered HTTP 502; retrying in 1000 ms`,
    ]);

    proxy.answerWith = undefined;
    expect(await started).toBe(9305);
    expect(await row("node-05")).toMatchObject({ status: "running", pid: 4505 });
  });
});
