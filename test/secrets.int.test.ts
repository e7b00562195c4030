import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ADMIN_TOKEN, startTestApp, type TestApp } from "./support/app.js";
import { createTestDatabase, type TestDatabase } from "./support/database.js";
import { connectWs } from "./support/graphql-client.js";
import { freePort, Supervisord } from "./support/supervisord.js";
import { tempDir } from "./support/temp-dir.js";
import { until } from "./support/wait.js";

const DEFAULT_PASSWORD = "default-pw-8d1f";
const FILE_PASSWORD = "file-pw-27ce";
const WEBHOOK_TOKEN = "hook-token-5b90";

let db: TestDatabase;
let app: TestApp;
let supervisord: Supervisord;
const logs: string[] = [];
const responses: string[] = [];

beforeAll(async () => {
  db = await createTestDatabase("secrets");
  // Its password is neither the default one nor the one in the credentials file.
  supervisord = await Supervisord.start({
    auth: { username: "fleet", password: "the-right-one" },
    programs: { p: { command: "sleep 1000" } },
  });
  const credentials = join(tempDir("secrets"), "credentials.json");
  writeFileSync(
    credentials,
    JSON.stringify({ [`127.0.0.1:${supervisord.port}`]: { username: "fleet", password: FILE_PASSWORD } }),
  );
  app = await startTestApp(
    db.url,
    {
      LOG_LEVEL: "trace",
      SUPERVISOR_USERNAME: "fleet",
      SUPERVISOR_PASSWORD: DEFAULT_PASSWORD,
      SUPERVISOR_CREDENTIALS_FILE: credentials,
      SUPERVISOR_TIMEOUT_MS: "500",
      // The receiver's token rides in its URL, as Slack's and many others' do; nothing listens.
      ALERT_WEBHOOK_URL: `http://127.0.0.1:${await freePort()}/hooks/${WEBHOOK_TOKEN}?token=${WEBHOOK_TOKEN}`,
      HEARTBEAT_INTERVAL_SECONDS: "1",
      HEARTBEAT_STALE_SECONDS: "2",
      HEARTBEAT_CHECK_INTERVAL_SECONDS: "1",
      SUPERVISOR_POLL_INTERVAL_SECONDS: "1",
      SUPERVISOR_UNREACHABLE_POLLS: "1",
    },
    logs,
  );
}, 60_000);

afterAll(async () => {
  await app?.stop();
  await supervisord?.stop();
  await db?.drop();
});

describe("secrets", () => {
  it("never appear in a response, an error or a log line, whatever goes wrong", async () => {
    const record = async (query: string) => {
      const result = await app.admin.request(query);
      responses.push(JSON.stringify(result.body));
      return result;
    };
    await record(
      `mutation { createProcess(input: { name: "secretive", port: 8000, supervisorHost: "127.0.0.1", supervisorPort: ${supervisord.port}, program: "p" }) { id } }`,
    );
    await record(
      `mutation { createProcess(input: { name: "nowhere", port: 8000, supervisorHost: "127.0.0.1", supervisorPort: ${await freePort()}, program: "p" }) { id } }`,
    );
    const created = await record(`mutation { createApiToken(input: { name: "issued", role: OPERATOR }) { token } }`);
    const issued = (created.body.data as { createApiToken: { token: string } }).createApiToken.token;
    responses.pop(); // the one answer that shows the new token, once

    // supervisord rejects the credentials; another is not there at all.
    const live = await record(`{ processes { name supervisor { state } health healthReasons } supervisors { error } }`);
    expect(live.body.errors?.map((e) => e.extensions?.code)).toContain("SUPERVISOR_UNAVAILABLE");
    await record(`mutation { startProcess(name: "secretive") { status } }`);
    await record(`{ process(name: "secretive") { log { text } } }`);
    // A heartbeat goes stale: an alert that the webhook cannot take, retried and logged.
    await record(`mutation { registerProcess(name: "secretive", pid: 42) { port } }`);
    await until(
      "the failed alert to be logged",
      async () => logs.some((l) => l.includes("alert webhook failed")),
      20_000,
    );
    // Bad tokens, over HTTP and WebSocket.
    responses.push(JSON.stringify((await app.anonymous.as("fvt_wrong").request(`{ processes { name } }`)).body));
    const ws = connectWs(app.url, "fvt_wrong");
    await ws.closed;
    await ws.dispose();

    const everything = [...logs, ...responses].join("\n");
    // The logs were captured (the failed alert is among them), and hold none of the secrets.
    expect(logs.some((line) => line.includes("alert webhook failed"))).toBe(true);
    for (const secret of [DEFAULT_PASSWORD, FILE_PASSWORD, WEBHOOK_TOKEN, ADMIN_TOKEN, issued]) {
      expect(everything, `"${secret}" leaked`).not.toContain(secret);
    }
    // …and what went wrong is still said.
    expect(everything).toContain("rejected the credentials (HTTP 401)");
    expect(everything).toContain("refused the connection");
  });
});
