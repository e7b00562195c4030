import { readFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestApp, type TestApp } from "./support/app.js";
import { createTestDatabase, type TestDatabase } from "./support/database.js";
import { metric } from "./support/metrics.js";
import { RecordingProxy, type ProxiedRequest } from "./support/recording-proxy.js";
import { freePort, Supervisord } from "./support/supervisord.js";
import { until } from "./support/wait.js";

const LISTENER = fileURLToPath(
  new URL("../client-examples/supervisor-listener/fleetvisor_listener.py", import.meta.url),
);

let db: TestDatabase;
let app: TestApp;
let supervisord: Supervisord;
let recorder: Server;
let agentToken: string;
/** The extensions.code of each error in each answer to reportSupervisorEvent ("ok" when none). */
const answers: string[][] = [];

/**
 * Passes the listener's requests on to Fleetvisor and notes what Fleetvisor answered, so
 * that the test knows how many events were refused without reading the listener's mind.
 */
function startRecorder(target: string): Promise<string> {
  recorder = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => {
      void (async () => {
        const response = await fetch(`${target}${req.url}`, {
          method: req.method,
          headers: {
            "content-type": req.headers["content-type"] ?? "application/json",
            authorization: req.headers.authorization ?? "",
          },
          body: Buffer.concat(chunks),
        });
        const text = await response.text();
        const body = JSON.parse(text) as { errors?: { extensions?: { code?: string } }[] };
        answers.push(body.errors ? body.errors.map((e) => e.extensions?.code ?? "?") : ["ok"]);
        res.writeHead(response.status, { "content-type": response.headers.get("content-type") ?? "" });
        res.end(text);
      })().catch(() => res.destroy());
    });
  });
  return new Promise((resolve) =>
    recorder.listen(0, "127.0.0.1", () => resolve(`http://127.0.0.1:${(recorder.address() as { port: number }).port}`)),
  );
}

function listenerLog(instance = supervisord, name = "fleetvisor"): string[] {
  return readFileSync(join(instance.dir, `${name}.err.log`), "utf8")
    .split("\n")
    .filter(Boolean);
}

beforeAll(async () => {
  db = await createTestDatabase("listener");
  app = await startTestApp(db.url);
  const agent = await app.client("AGENT", "listener", "listen-*");
  agentToken = agent.token;
  const via = await startRecorder(app.url);
  supervisord = await Supervisord.start({
    programs: { worker: { command: "sleep 1000" } },
    eventListeners: {
      fleetvisor: {
        command: `python3 ${LISTENER}`,
        events: "PROCESS_STATE",
        // The registry names this supervisord 127.0.0.1:<port>; the listener was told localhost.
        environment: (port) => ({
          FLEETVISOR_URL: via,
          FLEETVISOR_TOKEN: agent.token,
          FLEETVISOR_SUPERVISOR: `localhost:${port}`,
        }),
      },
    },
  });
  await app.admin.data(`mutation($input: CreateProcessInput!) { createProcess(input: $input) { id } }`, {
    input: {
      name: "listen-worker",
      port: 8000,
      supervisorHost: "127.0.0.1",
      supervisorPort: supervisord.port,
      program: "worker",
    },
  });
});

afterAll(async () => {
  await supervisord?.stop();
  await new Promise((resolve) => (recorder ? recorder.close(resolve) : resolve(undefined)));
  await app?.stop();
  await db?.drop();
});

describe("the supervisord event listener with a FLEETVISOR_SUPERVISOR the registry does not know", () => {
  it("logs it once, in one line naming the variable, and acknowledges every event", async () => {
    for (let i = 0; i < 3; i++) {
      await supervisord.ctl("stop", "worker");
      await supervisord.ctl("start", "worker");
    }
    // Three stops and starts are at least twelve events, each refused by Fleetvisor.
    const refused = () => answers.filter((codes) => codes.includes("NOT_FOUND")).length;
    await until("twelve refused events", async () => refused() >= 12);
    expect(answers.every((codes) => codes.join() === "NOT_FOUND")).toBe(true);

    expect(listenerLog()).toEqual([
      `fleetvisor-listener: FLEETVISOR_SUPERVISOR=localhost:${supervisord.port} names a supervisord Fleetvisor ` +
        `does not know (no process in the registry has supervisorHost:supervisorPort localhost:${supervisord.port}): ` +
        "set FLEETVISOR_SUPERVISOR to this supervisord as its processes in the registry name it, then restart " +
        "this listener; until then its events are acknowledged and dropped",
    ]);
    // Answered OK, not FAIL: supervisord neither holds them back nor sends them again.
    const supervisordLog = readFileSync(join(supervisord.dir, "supervisord.log"), "utf8");
    expect(supervisordLog).not.toContain("event was rejected");
    expect(supervisordLog).not.toContain("overflowed");
  });

  it("says once that events are accepted again when the registry comes to know that name", async () => {
    await app.admin.data(`mutation($input: CreateProcessInput!) { createProcess(input: $input) { id } }`, {
      input: {
        name: "listen-worker-by-name",
        port: 8001,
        supervisorHost: "localhost",
        supervisorPort: supervisord.port,
        program: "worker",
      },
    });
    await supervisord.ctl("stop", "worker");
    await until("the stop recorded through the listener", async () => {
      const rows = await db.query<{ kind: string }>(
        "SELECT kind FROM fleetvisor_process_events WHERE process_name = 'listen-worker-by-name' AND kind = 'SUPERVISOR_STATE_CHANGED'",
      );
      return rows.length > 0;
    });
    // The listener writes its line once Fleetvisor's answer is back, which may be after the
    // event is in the log.
    const lines = await until("the listener's second line", async () => {
      const now = listenerLog();
      return now.length >= 2 && now;
    });
    expect(lines).toHaveLength(2);
    expect(lines[1]).toBe("fleetvisor-listener: Fleetvisor accepts this listener's events again");
  });
});

describe("the supervisord event listener's FLEETVISOR_URL and token", () => {
  const WRONG_TOKEN = "not-a-token-fleetvisor-knows";
  let proxy: RecordingProxy;
  let second: Supervisord;

  beforeAll(async () => {
    // Three listeners in one supervisord, told the same but for one thing each: the
    // endpoint form of FLEETVISOR_URL, a wrong path, a wrong token.
    proxy = await RecordingProxy.start(app.url);
    const port = await freePort();
    await app.admin.data(`mutation($input: CreateProcessInput!) { createProcess(input: $input) { id } }`, {
      input: {
        name: "listen-second",
        port: 8002,
        supervisorHost: "127.0.0.1",
        supervisorPort: port,
        program: "worker",
      },
    });
    const listener = (env: Record<string, string>) => ({
      command: `python3 ${LISTENER}`,
      events: "PROCESS_STATE",
      environment: () => ({
        FLEETVISOR_URL: proxy.url,
        FLEETVISOR_TOKEN: agentToken,
        FLEETVISOR_SUPERVISOR: `127.0.0.1:${port}`,
        ...env,
      }),
    });
    second = await Supervisord.start({
      port,
      programs: { worker: { command: "sleep 1000", autostart: false } },
      eventListeners: {
        endpoint: listener({ FLEETVISOR_URL: `${proxy.url}/graphql/` }),
        "wrong-path": listener({ FLEETVISOR_URL: `${proxy.url}/fleetvisor` }),
        "wrong-token": listener({ FLEETVISOR_TOKEN: WRONG_TOKEN }),
      },
    });
  });

  afterAll(async () => {
    await second?.stop();
    await proxy?.close();
  });

  it("takes the /graphql endpoint, and says a wrong path or token once while acknowledging every event", async () => {
    for (let i = 0; i < 3; i++) {
      await second.ctl("start", "worker");
      await second.ctl("stop", "worker");
    }
    // Three starts and stops are at least twelve events, which each listener reports. A
    // request still in flight has no status yet: only answered ones are counted.
    const answered = (match: (r: ProxiedRequest) => boolean) => () =>
      proxy.requests.filter((r) => r.status !== 0 && match(r));
    const through = {
      endpoint: answered((r) => r.path === "/graphql" && r.authorization === `Bearer ${agentToken}`),
      wrongPath: answered((r) => r.path === "/fleetvisor/graphql"),
      wrongToken: answered((r) => r.authorization === `Bearer ${WRONG_TOKEN}`),
    };
    await until(
      "twelve events from each listener",
      async () => Object.values(through).every((requests) => requests().length >= 12),
      30_000,
    );
    const statuses = (requests: ProxiedRequest[]) => [...new Set(requests.map((r) => r.status))];
    expect(statuses(through.endpoint())).toEqual([200]);
    expect(statuses(through.wrongPath())).toEqual([404]);
    expect(statuses(through.wrongToken())).toEqual([401]);
    const recorded = await db.query<{ kind: string }>(
      "SELECT kind FROM fleetvisor_process_events WHERE process_name = 'listen-second' AND kind = 'SUPERVISOR_STATE_CHANGED'",
    );
    expect(recorded.length).toBeGreaterThan(0);

    expect(listenerLog(second, "endpoint")).toEqual([]);
    expect(listenerLog(second, "wrong-path")).toEqual([
      `fleetvisor-listener: no GraphQL endpoint at ${proxy.url}/fleetvisor/graphql (HTTP 404): set FLEETVISOR_URL ` +
        "to Fleetvisor's address, such as http://fleetvisor:4000 (or its /graphql endpoint), then restart this " +
        "listener; until then its events are acknowledged and dropped",
    ]);
    expect(listenerLog(second, "wrong-token")).toEqual([
      `fleetvisor-listener: Fleetvisor at ${proxy.url}/graphql refused the token (HTTP 401): set FLEETVISOR_TOKEN ` +
        "or FLEETVISOR_TOKEN_FILE to an AGENT token bound to this supervisord's processes, then restart this " +
        "listener; until then its events are acknowledged and dropped",
    ]);
    // Each event once, answered OK: supervisord neither sends them again nor holds them back.
    const endpointCount = through.endpoint().length;
    expect(through.wrongPath().length).toBeLessThanOrEqual(endpointCount + 4);
    expect(through.wrongToken().length).toBeLessThanOrEqual(endpointCount + 4);
    const supervisordLog = readFileSync(join(second.dir, "supervisord.log"), "utf8");
    expect(supervisordLog).not.toContain("event was rejected");
    expect(supervisordLog).not.toContain("overflowed");
  });
});

describe("the supervisord event listener whose address met the limit on failed authentications", () => {
  const WRONG_TOKEN = "another-token-fleetvisor-does-not-know";
  let limited: TestApp;
  let third: Supervisord;

  beforeAll(async () => {
    // One failure a minute per address: the listener's second event meets the limit.
    limited = await startTestApp(db.url, { AUTH_FAILURES_PER_MINUTE: "1" });
    third = await Supervisord.start({
      programs: { worker: { command: "sleep 1000", autostart: false } },
      eventListeners: {
        refused: {
          command: `python3 ${LISTENER}`,
          events: "PROCESS_STATE",
          environment: (port) => ({
            FLEETVISOR_URL: limited.url,
            FLEETVISOR_TOKEN: WRONG_TOKEN,
            FLEETVISOR_SUPERVISOR: `127.0.0.1:${port}`,
          }),
        },
      },
    });
  });

  afterAll(async () => {
    await third?.stop();
    await limited?.stop();
  });

  it("takes the 429 for a refused token: says so once and acknowledges every event, instead of sending it again", async () => {
    for (let i = 0; i < 3; i++) {
      await third.ctl("start", "worker");
      await third.ctl("stop", "worker");
    }
    // Three starts and stops are at least twelve events, each reported once.
    const failures = () => metric(limited.url, "fleetvisor_auth_failures_total");
    await until("twelve events refused", async () => (await failures()) >= 12, 30_000);
    expect(listenerLog(third, "refused")).toEqual([
      `fleetvisor-listener: Fleetvisor at ${limited.url}/graphql refused the token (HTTP 401): set FLEETVISOR_TOKEN ` +
        "or FLEETVISOR_TOKEN_FILE to an AGENT token bound to this supervisord's processes, then restart this " +
        "listener; until then its events are acknowledged and dropped",
      `fleetvisor-listener: Fleetvisor at ${limited.url}/graphql refused the token (HTTP 429: too many unknown ` +
        "tokens from this address): set FLEETVISOR_TOKEN or FLEETVISOR_TOKEN_FILE to an AGENT token bound to this " +
        "supervisord's processes, then restart this listener; until then its events are acknowledged and dropped",
    ]);
    expect(await metric(limited.url, "fleetvisor_auth_failures_total", { answer: "refused" })).toBeGreaterThan(0);
    expect(await failures()).toBeLessThanOrEqual(16);
    expect(readFileSync(join(third.dir, "supervisord.log"), "utf8")).not.toContain("event was rejected");
  });
});
