import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestApp, type TestApp } from "./support/app.js";
import { createTestDatabase, type TestDatabase } from "./support/database.js";
import { FakeSupervisord, methodResponse, writeForever } from "./support/fake-supervisord.js";

/**
 * A supervisord that lies — answers too large, endless, dripping, not XML, entity bombs,
 * the wrong shape — costs only its own rows' `supervisor` field: a located
 * SUPERVISOR_UNAVAILABLE, within the read timeout, with bounded memory, and the service
 * answers throughout.
 */

const MAX_RESPONSE_BYTES = 1024 * 1024;
// Long enough for 1 MiB to arrive on a busy machine: the size cap, not the timeout, must end those.
const TIMEOUT_MS = 4_000;

let db: TestDatabase;
let app: TestApp;
let fake: FakeSupervisord;

beforeAll(async () => {
  db = await createTestDatabase("lying");
  fake = await FakeSupervisord.start();
  app = await startTestApp(db.url, {
    SUPERVISOR_MAX_RESPONSE_BYTES: String(MAX_RESPONSE_BYTES),
    SUPERVISOR_TIMEOUT_MS: String(TIMEOUT_MS),
  });
  await app.admin.data(`mutation($input: CreateProcessInput!) { createProcess(input: $input) { id } }`, {
    input: { name: "liar", port: 8000, supervisorHost: fake.host, supervisorPort: fake.port, program: "liar" },
  });
  await app.admin.data(`mutation { createProcess(input: { name: "plain", port: 8001 }) { id } }`);
});

afterAll(async () => {
  await app?.stop();
  await fake?.stop();
  await db?.drop();
});

interface Listed {
  processes: { name: string; status: string; supervisor: { state: string } | null }[];
}

/** The list as a dashboard asks for it, timed. */
async function list() {
  const started = performance.now();
  const result = await app.admin.request<Listed>(`{ processes { name status supervisor { state } } }`);
  return { ...result, ms: performance.now() - started };
}

function expectLocatedUnavailable(result: Awaited<ReturnType<typeof list>>, reason: RegExp): void {
  expect(result.status).toBe(200);
  expect(result.body.data?.processes.map((p) => p.name)).toEqual(["liar", "plain"]);
  expect(result.body.data?.processes[1]).toEqual({ name: "plain", status: "STOPPED", supervisor: null });
  expect(result.body.errors).toEqual([
    expect.objectContaining({
      path: ["processes", 0, "supervisor"],
      message: expect.stringMatching(reason),
      extensions: expect.objectContaining({ code: "SUPERVISOR_UNAVAILABLE" }),
    }),
  ]);
}

describe("a supervisord that lies", () => {
  it("a huge answer is cut off at SUPERVISOR_MAX_RESPONSE_BYTES, the connection dropped", async () => {
    fake.answer = (_request, response) => {
      response.writeHead(200, { "content-type": "text/xml" });
      response.write('<?xml version="1.0"?><methodResponse><params><param><value><string>');
      writeForever(response, "x".repeat(64 * 1024), 200 * 1024 * 1024);
    };
    const result = await list();
    expectLocatedUnavailable(result, /with more than 1 MiB \(SUPERVISOR_MAX_RESPONSE_BYTES\)/);
    // What got out before Fleetvisor hung up: the cap and the sockets' buffers, not 200 MiB.
    await expectSentAtMost(4 * MAX_RESPONSE_BYTES);
  });

  it("an endless answer that never ends is cut off the same way", async () => {
    fake.answer = (_request, response) => {
      response.writeHead(200, { "content-type": "text/xml", "transfer-encoding": "chunked" });
      // Opening tags without end, in chunks large enough to pass the cap well within the
      // read timeout on a busy machine.
      writeForever(response, "<value>".repeat(8 * 1024), Number.MAX_SAFE_INTEGER);
    };
    const result = await list();
    expectLocatedUnavailable(result, /with more than 1 MiB/);
    await expectSentAtMost(4 * MAX_RESPONSE_BYTES);
  });

  it("an answer that drips a byte at a time ends at the read timeout", async () => {
    fake.answer = (_request, response) => {
      response.writeHead(200, { "content-type": "text/xml" });
      const drip = setInterval(() => (response.destroyed ? clearInterval(drip) : response.write(" ")), 100);
      response.on("close", () => clearInterval(drip));
    };
    const result = await list();
    expectLocatedUnavailable(result, new RegExp(`did not answer supervisor.getAllProcessInfo within ${TIMEOUT_MS} ms`));
    expect(result.ms).toBeLessThan(TIMEOUT_MS + 1_000);
  });

  it("an answer that is not XML-RPC", async () => {
    fake.answer = (_request, response) => response.writeHead(200, { "content-type": "text/html" }).end("<html>hi");
    expectLocatedUnavailable(await list(), /supervisord at 127\.0\.0\.1:\d+/);
  });

  it("an entity bomb is refused without expanding it", async () => {
    const bomb =
      '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">' +
      Array.from({ length: 9 }, (_, i) => `<!ENTITY lol${i + 1} "${`&lol${i || ""};`.repeat(10)}">`).join("") +
      "]>" +
      "<methodResponse><params><param><value><string>&lol9;</string></value></param></params></methodResponse>";
    fake.answer = (_request, response) => response.writeHead(200, { "content-type": "text/xml" }).end(bomb);
    const before = process.memoryUsage().heapUsed;
    expectLocatedUnavailable(await list(), /supervisord at 127\.0\.0\.1:\d+/);
    // Expanded, it would be 10^9 × "lol": nothing of that size was ever built.
    expect(process.memoryUsage().heapUsed - before).toBeLessThan(64 * 1024 * 1024);
  });

  it("answers of the wrong shape", async () => {
    for (const value of [
      "<string>not a list</string>",
      "<array><data><value><int>1</int></value></data></array>",
      "<array><data><value><struct><member><name>name</name><value><string>x</string></value></member></struct></value></data></array>",
    ]) {
      fake.answer = (_request, response) =>
        response.writeHead(200, { "content-type": "text/xml" }).end(methodResponse(value));
      expectLocatedUnavailable(await list(), /answered supervisor\.getAllProcessInfo with something other than/);
    }
  });

  it("the service answers throughout, and a well-behaved answer afterwards is read", async () => {
    expect((await app.anonymous.request(`{ __typename }`)).status).toBe(401);
    expect(await app.admin.data(`{ __typename }`)).toEqual({ __typename: "Query" });
    fake.answer = (_request, response) =>
      response.writeHead(200, { "content-type": "text/xml" }).end(
        methodResponse(
          "<array><data><value><struct>" +
            Object.entries({
              name: "<string>liar</string>",
              group: "<string>liar</string>",
              start: "<int>0</int>",
              stop: "<int>0</int>",
              now: "<int>1700000000</int>",
              state: "<int>0</int>",
              statename: "<string>STOPPED</string>",
              spawnerr: "<string></string>",
              exitstatus: "<int>0</int>",
              pid: "<int>0</int>",
              description: "<string>Not started</string>",
              logfile: "<string>/dev/null</string>",
              stdout_logfile: "<string>/dev/null</string>",
              stderr_logfile: "<string></string>",
            })
              .map(([name, value]) => `<member><name>${name}</name><value>${value}</value></member>`)
              .join("") +
            "</struct></value></data></array>",
        ),
      );
    const result = await list();
    expect(result.body.errors).toBeUndefined();
    expect(result.body.data?.processes[0]).toEqual({
      name: "liar",
      status: "STOPPED",
      supervisor: { state: "STOPPED" },
    });
  });
});

/** The last answer's bytes sent, once its connection closed. */
async function expectSentAtMost(bytes: number): Promise<void> {
  const sent = fake.bytesSent.at(-1)!;
  expect(sent).toBeGreaterThan(MAX_RESPONSE_BYTES);
  expect(sent).toBeLessThanOrEqual(bytes);
}
