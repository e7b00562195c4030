import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { createServer, type Server } from "node:net";
import mysql2 from "mysql2/promise";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ADMIN_TOKEN } from "./support/app.js";
import { bundled } from "./support/bundle.js";
import { createTestDatabase, TEST_MYSQL_URL, type TestDatabase } from "./support/database.js";
import { connectWs } from "./support/graphql-client.js";
import { freePort } from "./support/supervisord.js";
import { tempDir } from "./support/temp-dir.js";
import { TcpProxy } from "./support/tcp-proxy.js";
import { until } from "./support/wait.js";

/** src/main.ts compiled, as `npm start` runs it (set in beforeAll). */
let main: string;

let db: TestDatabase;
const children: ChildProcess[] = [];
const disposables: (() => Promise<unknown>)[] = [];

interface LogLine {
  level: number;
  msg: string;
  [field: string]: unknown;
}

/** The JSON lines a run has logged so far. */
function logLines(stdout: string): LogLine[] {
  return stdout
    .split("\n")
    .filter((line) => line.startsWith("{"))
    .map((line) => JSON.parse(line) as LogLine);
}

/** Resolves with the run's URL once it logs that it listens; fails with its output otherwise. */
/** How long the service may take to say its first line on a busy machine. */
const BOOT_MS = 30_000;

async function listening(run: ReturnType<typeof startMain>, withinMs = BOOT_MS): Promise<string> {
  const line = await until(
    "fleetvisor is listening",
    async () => {
      if (run.child.exitCode !== null) throw new Error(`exited ${run.child.exitCode}: ${run.stderr()}${run.stdout()}`);
      return logLines(run.stdout()).find((l) => l.msg === "fleetvisor is listening");
    },
    withinMs,
  );
  return (line.url as string).replace(/\/graphql$/, "");
}

/** DATABASE_URL for the test database through `proxy`. */
function throughProxy(proxy: TcpProxy): string {
  const url = new URL(db.url);
  url.hostname = "127.0.0.1";
  url.port = String(proxy.port);
  return url.toString();
}

async function mysqlProxy(): Promise<TcpProxy> {
  const server = new URL(TEST_MYSQL_URL);
  const proxy = await TcpProxy.start(server.hostname, Number(server.port || 3306));
  disposables.push(() => proxy.stop());
  return proxy;
}

/** `npm start`'s entry point, compiled, as its own process. */
function startMain(
  env: Record<string, string>,
  cwd = process.cwd(),
): { child: ChildProcess; stdout: () => string; stderr: () => string } {
  const child = spawn(process.execPath, [main], {
    cwd,
    env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  children.push(child);
  let out = "";
  let err = "";
  child.stdout!.on("data", (d: Buffer) => (out += d.toString()));
  child.stderr!.on("data", (d: Buffer) => (err += d.toString()));
  return { child, stdout: () => out, stderr: () => err };
}

async function exitCode(child: ChildProcess, withinMs: number): Promise<number | null> {
  if (child.exitCode !== null) return child.exitCode;
  const timer = setTimeout(() => child.kill("SIGKILL"), withinMs);
  const [code] = (await once(child, "exit")) as [number | null];
  clearTimeout(timer);
  return code;
}

beforeAll(async () => {
  main = await bundled("main");
  db = await createTestDatabase("startup");
});

afterAll(async () => {
  for (const child of children) child.kill("SIGKILL");
  for (const dispose of disposables.reverse()) await dispose().catch(() => undefined);
  await db?.drop();
});

describe("the service process", () => {
  it("reports every invalid variable at once and exits non-zero", async () => {
    const run = startMain({
      DATABASE_URL: "postgres://db/fleetvisor",
      PORT: "http",
      HEARTBEAT_STALE_SECONDS: "1",
      REDIS_URL: "localhost",
      SUPERVISOR_PASSWORD: "topsecret",
    });
    expect(await exitCode(run.child, 20_000)).toBe(2);
    const stderr = run.stderr();
    for (const variable of ["DATABASE_URL", "PORT", "HEARTBEAT_STALE_SECONDS", "REDIS_URL", "SUPERVISOR_USERNAME"]) {
      expect(stderr).toContain(`- ${variable} `);
    }
    expect(stderr).not.toContain("topsecret");
  });

  it("stops gracefully on SIGTERM: open subscriptions are closed, the process exits 0", async () => {
    const run = startMain({
      DATABASE_URL: db.url,
      HOST: "127.0.0.1",
      PORT: "0",
      FLEETVISOR_BOOTSTRAP_ADMIN_TOKEN: ADMIN_TOKEN,
    });
    const started = Date.now();
    let url: string | undefined;
    while (!url) {
      const line = run
        .stdout()
        .split("\n")
        .find((l) => l.includes("fleetvisor is listening"));
      if (line) url = (JSON.parse(line) as { url: string }).url.replace(/\/graphql$/, "");
      else if (run.child.exitCode !== null || Date.now() - started > 30_000)
        throw new Error(`did not start: ${run.stderr()}${run.stdout()}`);
      else await new Promise((r) => setTimeout(r, 100));
    }
    // Nothing it logs carries the bootstrap token.
    expect(run.stdout()).not.toContain(ADMIN_TOKEN);

    const ws = connectWs(url, ADMIN_TOKEN);
    await ws.connected;
    ws.subscribe(`subscription { processChanged { id } }`);
    run.child.kill("SIGTERM");
    expect(await exitCode(run.child, 20_000)).toBe(0);
    expect(await ws.closed).toBe(1001);
    expect(run.stdout()).toContain('"msg":"stopped"');
    await ws.dispose();
  });

  it("without DATABASE_URL, runs on the embedded SQLite database under ./data and says so once", async () => {
    const dir = tempDir("embedded");
    const run = startMain(
      { HOST: "127.0.0.1", PORT: "0", FLEETVISOR_BOOTSTRAP_ADMIN_TOKEN: ADMIN_TOKEN, LOG_LEVEL: "info" },
      dir,
    );
    const url = await listening(run);
    const path = join(dir, "data", "fleetvisor.db");
    expect(logLines(run.stdout()).filter((l) => l.msg.includes("embedded SQLite"))).toEqual([
      expect.objectContaining({
        msg: `using the embedded SQLite database ${path}; it serves one replica only (set DATABASE_URL=mysql://… for more)`,
      }),
    ]);
    expect(existsSync(path)).toBe(true);
    const created = await fetch(`${url}/graphql`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${ADMIN_TOKEN}` },
      body: JSON.stringify({
        query: `mutation { createProcess(input: { name: "embedded-1", port: 8001 }) { status } }`,
      }),
    });
    expect(await created.json()).toEqual({ data: { createProcess: { status: "STOPPED" } } });
    run.child.kill("SIGTERM");
    expect(await exitCode(run.child, 20_000)).toBe(0);
  });

  it("refuses REDIS_URL with the embedded database: it serves one replica", async () => {
    const run = startMain({ REDIS_URL: "redis://127.0.0.1:6379" }, tempDir("embedded-redis"));
    expect(await exitCode(run.child, 20_000)).toBe(2);
    expect(run.stderr()).toContain(
      "- REDIS_URL is for several replicas, and the embedded SQLite database serves one replica only; " +
        "set DATABASE_URL=mysql://… to run replicas, or unset REDIS_URL",
    );
  });

  it("names an invalid NODE_ENV", async () => {
    const run = startMain({ DATABASE_URL: db.url, NODE_ENV: "prod" });
    expect(await exitCode(run.child, 20_000)).toBe(2);
    expect(run.stderr()).toBe(
      'fleetvisor: invalid configuration:\n  - NODE_ENV must be one of development, production, test (got "prod")\n',
    );
  });

  it("warns once about each unknown variable with Fleetvisor's prefix, suggesting the name meant", async () => {
    const run = startMain({
      DATABASE_URL: db.url,
      HOST: "127.0.0.1",
      PORT: "0",
      FLEETVISOR_BOOTSTRAP_ADMIN_TOKEN: ADMIN_TOKEN,
      FLEETVISOR_BOOTSTRAP_TOKEN: "meant-as-the-admin-token-0001",
      SUPERVISOR_PASWORD: "meant-as-the-password-0002",
      // supervisord's own, and one that is nobody's business here.
      SUPERVISOR_PROCESS_NAME: "fleetvisor",
      EDITOR: "vi",
    });
    await listening(run);
    const warnings = logLines(run.stdout()).filter((l) => l.variable !== undefined);
    expect(warnings.map((l) => [l.level, l.msg])).toEqual([
      [
        40,
        "FLEETVISOR_BOOTSTRAP_TOKEN is not a Fleetvisor variable and is ignored; did you mean FLEETVISOR_BOOTSTRAP_ADMIN_TOKEN?",
      ],
      [40, "SUPERVISOR_PASWORD is not a Fleetvisor variable and is ignored; did you mean SUPERVISOR_PASSWORD?"],
    ]);
    expect(run.stdout()).not.toContain("meant-as-the");
    run.child.kill("SIGTERM");
    expect(await exitCode(run.child, 20_000)).toBe(0);
  });

  it("logs every retry with its reason while the database hangs, then refuses, and starts when it answers", async () => {
    const proxy = await mysqlProxy();
    proxy.blackhole();
    const run = startMain({
      DATABASE_URL: throughProxy(proxy),
      HOST: "127.0.0.1",
      PORT: "0",
      FLEETVISOR_BOOTSTRAP_ADMIN_TOKEN: ADMIN_TOKEN,
      DATABASE_CONNECT_TIMEOUT_MS: "300",
      DATABASE_STARTUP_RETRY_MS: "60000",
    });
    const retries = () => logLines(run.stdout()).filter((l) => l.msg.startsWith("waiting for mysql://"));
    await until("two retries while the database hangs", async () => retries().length >= 2, BOOT_MS);
    await proxy.refuse();
    await until("two retries while the port refuses", async () =>
      retries().filter((l) => l.reason === "connection refused").length >= 2 ? true : undefined,
    );
    await proxy.restore();
    await listening(run);

    const seen = retries();
    // One line per failed attempt, numbered, each with what went wrong and when it tries again.
    expect(seen.map((l) => l.attempt)).toEqual(seen.map((_, i) => i + 1));
    const where = `mysql://127.0.0.1:${proxy.port}/${db.name}`;
    for (const line of seen) {
      expect(line.level).toBe(40);
      expect(line.msg).toMatch(
        new RegExp(
          `^waiting for ${where}: (ETIMEDOUT|connection refused); attempt ${line.attempt} failed, retrying in \\d+(\\.\\d)? m?s, giving up in \\d+(\\.\\d)? m?s$`,
        ),
      );
    }
    expect(seen[0]!.reason).toBe("ETIMEDOUT");
    expect(seen.at(-1)!.reason).toBe("connection refused");
    run.child.kill("SIGTERM");
    expect(await exitCode(run.child, 20_000)).toBe(0);
  });

  it("a SIGTERM while it is still starting stops it once started, gracefully: exit 0", async () => {
    const proxy = await mysqlProxy();
    proxy.blackhole();
    const run = startMain({
      DATABASE_URL: throughProxy(proxy),
      HOST: "127.0.0.1",
      PORT: "0",
      FLEETVISOR_BOOTSTRAP_ADMIN_TOKEN: ADMIN_TOKEN,
      DATABASE_CONNECT_TIMEOUT_MS: "300",
      DATABASE_STARTUP_RETRY_MS: "60000",
    });
    const messages = () => logLines(run.stdout()).map((l) => l.msg);
    await until(
      "a retry while the database hangs",
      async () => messages().some((m) => m.startsWith("waiting for mysql://")),
      BOOT_MS,
    );
    run.child.kill("SIGTERM");
    const received = "signal received while starting: stopping once started";
    await until("the signal to be logged", async () => messages().includes(received));
    await proxy.restore();
    expect(await exitCode(run.child, 20_000)).toBe(0);
    expect(messages().indexOf("fleetvisor is listening")).toBeGreaterThan(messages().indexOf(received));
  });

  it("says so while another replica holds the migration lock", async () => {
    const server = new URL(TEST_MYSQL_URL);
    const holder = await mysql2.createConnection({
      host: server.hostname,
      port: Number(server.port || 3306),
      user: decodeURIComponent(server.username) || "root",
      password: decodeURIComponent(server.password),
    });
    disposables.push(() => holder.end());
    // The lock is the server's, not the database's: another test file may hold it a moment.
    const [[held]] = (await holder.query("SELECT GET_LOCK('fleetvisor:migrations', 30) AS held")) as unknown as [
      [{ held: number }],
    ];
    expect(held.held).toBe(1);
    const run = startMain({
      DATABASE_URL: db.url,
      HOST: "127.0.0.1",
      PORT: "0",
      FLEETVISOR_BOOTSTRAP_ADMIN_TOKEN: ADMIN_TOKEN,
    });
    await until(
      "the wait to be logged",
      async () =>
        logLines(run.stdout()).find((l) => l.msg.startsWith("waiting for another Fleetvisor to finish migrating")),
      BOOT_MS,
    );
    await holder.query("SELECT RELEASE_LOCK('fleetvisor:migrations')");
    await listening(run);
    run.child.kill("SIGTERM");
    expect(await exitCode(run.child, 20_000)).toBe(0);
  });

  it("a port in use: one line saying so, a non-zero exit, and no wait for the database", async () => {
    const taken: Server = createServer();
    await new Promise<void>((resolve) => taken.listen(0, "127.0.0.1", resolve));
    disposables.push(() => new Promise((resolve) => taken.close(resolve)));
    const port = (taken.address() as { port: number }).port;
    const run = startMain({
      // Nothing listens there: had it waited for the database first, the run would log retries.
      DATABASE_URL: `mysql://root@127.0.0.1:${await freePort()}/fleetvisor`,
      HOST: "127.0.0.1",
      PORT: String(port),
    });
    expect(await exitCode(run.child, 20_000)).toBe(1);
    expect(run.stderr()).toBe("");
    expect(logLines(run.stdout()).map((l) => [l.level, l.msg])).toEqual([
      [
        60,
        `fleetvisor could not start: port ${port} is already in use on 127.0.0.1; set PORT to a free port, or stop what listens there`,
      ],
    ]);
    expect(run.stdout().trim().split("\n")).toHaveLength(1);
  });
});
