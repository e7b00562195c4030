import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startApp } from "../src/app.js";
import { loadConfig } from "../src/config/config.js";
import { createLogger } from "../src/logger.js";
import { ADMIN_TOKEN, startTestApp, type TestApp } from "./support/app.js";
import { createTestDatabase, TEST_MYSQL_URL, type TestDatabase } from "./support/database.js";
import { TcpProxy } from "./support/tcp-proxy.js";
import { until } from "./support/wait.js";

let db: TestDatabase;
let proxy: TcpProxy;
let app: TestApp;

/** DATABASE_URL for the test database, through the proxy. */
function proxiedUrl(): string {
  const url = new URL(db.url);
  url.hostname = "127.0.0.1";
  url.port = String(proxy.port);
  return url.toString();
}

const TIMEOUTS = { DATABASE_QUERY_TIMEOUT_MS: "1000", DATABASE_CONNECT_TIMEOUT_MS: "1000" };

beforeAll(async () => {
  db = await createTestDatabase("resilience");
  const server = new URL(TEST_MYSQL_URL);
  proxy = await TcpProxy.start(server.hostname, Number(server.port || 3306));
  app = await startTestApp(proxiedUrl(), TIMEOUTS);
  await app.admin.data(`mutation { createProcess(input: { name: "steady-01", port: 8000 }) { id } }`);
});

afterAll(async () => {
  await app?.stop();
  await proxy?.stop();
  await db?.drop();
});

async function timed<T>(work: () => Promise<T>): Promise<{ value: T; ms: number }> {
  const started = Date.now();
  const value = await work();
  return { value, ms: Date.now() - started };
}

async function eventually(check: () => Promise<boolean>, withinMs: number): Promise<number> {
  const started = Date.now();
  while (!(await check())) {
    if (Date.now() - started > withinMs) throw new Error(`not recovered within ${withinMs}ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return Date.now() - started;
}

const query = `{ processes { name } }`;

describe("the registry database goes away and comes back", () => {
  it("a hung database: a clear DATABASE_UNAVAILABLE within the query timeout, /readyz 503, then recovery on its own", async () => {
    proxy.blackhole();
    const { value: error, ms } = await timed(() => app.admin.error(query));
    expect(error.extensions?.code).toBe("DATABASE_UNAVAILABLE");
    expect(error.message).toMatch(/registry database is unavailable/);
    expect(ms).toBeLessThan(5_000);

    const readiness = await timed(() => fetch(`${app.url}/readyz`));
    expect(readiness.value.status).toBe(503);
    expect(readiness.ms).toBeLessThan(4_000);
    expect((await fetch(`${app.url}/healthz`)).status).toBe(200);

    await proxy.restore();
    await eventually(async () => (await app.admin.request(query)).body.data !== undefined, 15_000);
    expect((await app.admin.data<{ processes: { name: string }[] }>(query)).processes).toEqual([{ name: "steady-01" }]);
    expect((await fetch(`${app.url}/readyz`)).status).toBe(200);
  });

  it("a refused database: DATABASE_UNAVAILABLE at once, a write changes nothing, then recovery", async () => {
    await proxy.refuse();
    const { value: error, ms } = await timed(() =>
      app.admin.error(`mutation { updateProcess(name: "steady-01", input: { port: 8100 }) { port } }`),
    );
    expect(error.extensions?.code).toBe("DATABASE_UNAVAILABLE");
    expect(ms).toBeLessThan(3_000);

    await proxy.restore();
    await eventually(async () => (await app.admin.request(query)).body.data !== undefined, 15_000);
    const [row] = await db.query<{ port: number }>(
      "SELECT port FROM kb_server_processes WHERE process_name = 'steady-01'",
    );
    expect(row!.port).toBe(8000);
  });

  it("starts when the database comes up during the start-up retry window", async () => {
    await proxy.refuse();
    const config = loadConfig({
      DATABASE_URL: proxiedUrl(),
      HOST: "127.0.0.1",
      PORT: "0",
      FLEETVISOR_BOOTSTRAP_ADMIN_TOKEN: ADMIN_TOKEN,
      LOG_LEVEL: "silent",
      DATABASE_STARTUP_RETRY_MS: "20000",
      ...TIMEOUTS,
    });
    const lines: string[] = [];
    const starting = startApp(config, { logger: createLogger("warn", {}, { write: (line) => lines.push(line) }) });
    // Up only once start-up has found it down and said it will retry.
    const refused = await until(
      "a refused start-up attempt in the log",
      async () => lines.map((line) => JSON.parse(line) as { msg: string; reason?: string }).find((l) => l.reason),
      10_000,
    );
    expect(refused.msg).toMatch(/^waiting for mysql:\/\/.*attempt 1 failed, retrying in/);
    expect(refused.reason).toBe("connection refused");
    await proxy.restore();
    const late = await starting;
    try {
      expect((await fetch(`${late.url}/readyz`)).status).toBe(200);
    } finally {
      await late.stop();
    }
  });

  it("gives up with a clear error when the database stays down past the retry window", async () => {
    await proxy.refuse();
    try {
      const withPassword = new URL(proxiedUrl());
      withPassword.username = "fleet";
      withPassword.password = "s3cret-db-pass";
      const config = loadConfig({
        DATABASE_URL: withPassword.toString(),
        PORT: "0",
        LOG_LEVEL: "silent",
        DATABASE_STARTUP_RETRY_MS: "1500",
        ...TIMEOUTS,
      });
      const { value: failure, ms } = await timed(() =>
        startApp(config, { logger: createLogger("silent") }).catch((e: Error) => e),
      );
      expect(failure).toBeInstanceOf(Error);
      expect((failure as Error).message).toMatch(
        new RegExp(`mysql://127\\.0\\.0\\.1:${proxy.port}/${db.name} is not reachable: connection refused`),
      );
      // The password is never part of the message.
      expect((failure as Error).message).not.toContain("s3cret-db-pass");
      expect((failure as Error).message).not.toContain("@");
      expect(ms).toBeLessThan(6_000);
    } finally {
      await proxy.restore();
    }
  });
});
