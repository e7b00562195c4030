import { readFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestApp, type TestApp } from "./support/app.js";
import { createTestDatabase, type TestDatabase } from "./support/database.js";
import { Supervisord } from "./support/supervisord.js";
import { until } from "./support/wait.js";

const LISTENER = fileURLToPath(
  new URL("../client-examples/supervisor-listener/fleetvisor_listener.py", import.meta.url),
);

let db: TestDatabase;
let app: TestApp;
let supervisord: Supervisord;
let recorder: Server;
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

function listenerLog(): string[] {
  return readFileSync(join(supervisord.dir, "fleetvisor.err.log"), "utf8").split("\n").filter(Boolean);
}

beforeAll(async () => {
  db = await createTestDatabase("listener");
  app = await startTestApp(db.url);
  const agent = await app.client("AGENT", "listener", "listen-*");
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
    const lines = listenerLog();
    expect(lines).toHaveLength(2);
    expect(lines[1]).toBe("fleetvisor-listener: Fleetvisor accepts this listener's events again");
  });
});
