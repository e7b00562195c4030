import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestApp, type TestApp, type TokenClient } from "./support/app.js";
import { createTestDatabase, type TestDatabase } from "./support/database.js";
import { connectWs } from "./support/graphql-client.js";
import { freePort, Supervisord } from "./support/supervisord.js";
import { until } from "./support/wait.js";

const EXAMPLE = fileURLToPath(new URL("../client-examples/python/example_server.py", import.meta.url));
const AUTH = { username: "fleet", password: "metrics-pass-5d1e" };
const METRICS_TOKEN = "metrics-token-for-prometheus-0123";
const NAME = "domaeka-test-01";

let db: TestDatabase;
let app: TestApp;
let viewer: TokenClient;
let supervisord: Supervisord;
const logLines: string[] = [];

/** `/metrics` as Prometheus scrapes it, with the token. */
async function scrape(): Promise<string> {
  const response = await fetch(`${app.url}/metrics`, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } });
  expect(response.status).toBe(200);
  return response.text();
}

/** The value of one sample (`name{labels}`), or undefined when there is none. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  const wanted = Object.entries(labels)
    .map(([k, v]) => `${k}="${v}"`)
    .join(",");
  const prefix = wanted ? `${name}{${wanted}} ` : `${name} `;
  const line = text.split("\n").find((l) => l.startsWith(prefix));
  return line === undefined ? undefined : Number(line.slice(prefix.length));
}

/** Waits until the gauges read `expected` (every sample named), and returns the scrape. */
async function untilGauges(what: string, expected: Record<string, number>, withinMs = 15_000): Promise<string> {
  return until(
    what,
    async () => {
      const text = await scrape();
      for (const [key, value] of Object.entries(expected)) {
        const [, name, label, labelValue] = /^(\w+)(?:\{(\w+)="(\w+)"\})?$/.exec(key)!;
        if (sample(text, name!, label ? { [label]: labelValue! } : {}) !== value) return false;
      }
      return text;
    },
    withinMs,
  );
}

beforeAll(async () => {
  db = await createTestDatabase("metrics");
  app = await startTestApp(
    db.url,
    {
      METRICS_TOKEN,
      SUPERVISOR_USERNAME: AUTH.username,
      SUPERVISOR_PASSWORD: AUTH.password,
      SUPERVISOR_POLL_INTERVAL_SECONDS: "1",
      SUPERVISOR_TIMEOUT_MS: "500",
      SUPERVISOR_UNREACHABLE_POLLS: "2",
      HEARTBEAT_INTERVAL_SECONDS: "1",
      HEARTBEAT_STALE_SECONDS: "5",
      LOG_LEVEL: "debug",
    },
    logLines,
  );
  viewer = await app.client("VIEWER");
  const agent = await app.client("AGENT", "domaeka-agent", "domaeka-*");
  supervisord = await Supervisord.start({
    auth: AUTH,
    programs: {
      "python-server": {
        command: `python3 -u ${EXAMPLE} --name ${NAME} --host 127.0.0.1`,
        autostart: false,
        startsecs: 1,
        stopwaitsecs: 5,
        environment: { FLEETVISOR_URL: app.url, FLEETVISOR_TOKEN: agent.token },
      },
    },
  });
  await app.admin.data(`mutation($input: CreateProcessInput!) { createProcess(input: $input) { id } }`, {
    input: {
      name: NAME,
      port: await freePort(),
      supervisorHost: "127.0.0.1",
      supervisorPort: supervisord.port,
      program: "python-server",
    },
  });
}, 60_000);

afterAll(async () => {
  await supervisord?.stop();
  await app?.stop();
  await db?.drop();
});

describe("/metrics behind METRICS_TOKEN", () => {
  it("answers 401 without the token or with another, and never says what it expects", async () => {
    for (const authorization of [undefined, "Bearer not-the-metrics-token", METRICS_TOKEN, `Basic ${METRICS_TOKEN}`]) {
      const response = await fetch(`${app.url}/metrics`, { headers: authorization ? { authorization } : {} });
      expect(response.status, String(authorization)).toBe(401);
      expect(response.headers.get("www-authenticate")).toBe('Bearer realm="metrics"');
      const body = await response.text();
      expect(body).not.toContain(METRICS_TOKEN);
      expect(body).not.toContain("fleetvisor_");
    }
    const text = await scrape();
    expect(text).toContain("fleetvisor_supervisor_calls_total");
    // Neither the token expected nor a wrong one sent ends up in the log.
    expect(logLines.join("\n")).not.toContain(METRICS_TOKEN);
    expect(logLines.join("\n")).not.toContain("not-the-metrics-token");
  });
});

describe("fleet-state gauges", () => {
  it("count processes by health as the process starts and stops", async () => {
    // Not started: the first polls see it STOPPED.
    await untilGauges("the process counted as stopped", {
      'fleetvisor_processes{health="STOPPED"}': 1,
      'fleetvisor_processes{health="HEALTHY"}': 0,
    });

    await app.admin.data(`mutation { startProcess(name: "${NAME}") { status } }`);
    const running = await untilGauges("the started process counted as healthy", {
      'fleetvisor_processes{health="HEALTHY"}': 1,
      'fleetvisor_processes{health="STOPPED"}': 0,
    });
    // Every health has a sample, so that a graph has no gap where a count is 0.
    for (const health of ["STARTING", "STOPPING", "UNRESPONSIVE", "ORPHANED", "CRASHED", "UNREACHABLE", "UNKNOWN"]) {
      expect(sample(running, "fleetvisor_processes", { health }), health).toBe(0);
    }
    // The API, asking supervisord live, agrees.
    const live = await viewer.http.data<{ process: { health: string } }>(`{ process(name: "${NAME}") { health } }`);
    expect(live.process.health).toBe("HEALTHY");

    await app.admin.data(`mutation { stopProcess(name: "${NAME}") { status } }`);
    await untilGauges("the stopped process counted as stopped again", {
      'fleetvisor_processes{health="STOPPED"}': 1,
      'fleetvisor_processes{health="HEALTHY"}': 0,
    });
  });

  it("count open subscriptions as they open and close", async () => {
    await untilGauges("no subscription", { fleetvisor_open_subscriptions: 0 });
    const ws = connectWs(app.url, viewer.token);
    try {
      await ws.connected;
      const query = `subscription { processChanged(names: ["${NAME}"]) { kind } }`;
      const first = ws.client.subscribe(
        { query },
        { next: () => undefined, error: () => undefined, complete: () => undefined },
      );
      await untilGauges("one subscription", { fleetvisor_open_subscriptions: 1 });
      ws.subscribe(query);
      await untilGauges("two subscriptions", { fleetvisor_open_subscriptions: 2 });
      // A query over the same socket answers once: it is no subscription.
      await ws.client.iterate({ query: `{ me { role } }` }).next();
      expect(sample(await scrape(), "fleetvisor_open_subscriptions")).toBe(2);

      first();
      await untilGauges("one subscription after the other completed", { fleetvisor_open_subscriptions: 1 });
    } finally {
      await ws.dispose();
    }
    await untilGauges("none once the socket closed", { fleetvisor_open_subscriptions: 0 });
  });

  it("count supervisords that answer the polls and that do not", async () => {
    await untilGauges("the supervisord reachable", {
      'fleetvisor_supervisors{state="reachable"}': 1,
      'fleetvisor_supervisors{state="unreachable"}': 0,
    });
    supervisord.pause();
    try {
      await untilGauges("the frozen supervisord unreachable, and its process with it", {
        'fleetvisor_supervisors{state="reachable"}': 0,
        'fleetvisor_supervisors{state="unreachable"}': 1,
        'fleetvisor_processes{health="UNREACHABLE"}': 1,
      });
    } finally {
      supervisord.resume();
    }
    await untilGauges("the supervisord reachable again", {
      'fleetvisor_supervisors{state="reachable"}': 1,
      'fleetvisor_supervisors{state="unreachable"}': 0,
      'fleetvisor_processes{health="UNREACHABLE"}': 0,
    });
  });
});
