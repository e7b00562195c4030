import { mkdirSync } from "node:fs";
import { fileURLToPath } from "node:url";
import type { Browser, Page, WebSocketRoute } from "playwright-core";
import { launchChromium } from "./support/browser.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ADMIN_TOKEN, startTestApp, type TestApp } from "./support/app.js";
import { createTestDatabase, type TestDatabase } from "./support/database.js";
import { freePort, Supervisord } from "./support/supervisord.js";
import { until } from "./support/wait.js";

const EXAMPLE = fileURLToPath(new URL("../client-examples/python/example_server.py", import.meta.url));
const ARTIFACTS = fileURLToPath(new URL("./artifacts/", import.meta.url));
const AUTH = { username: "fleet", password: "dashboard-pass-5c2e" };

let db: TestDatabase;
let app: TestApp;
let appPort: number;
let supervisord: Supervisord;
let browser: Browser;
let operatorToken: string;
let viewerToken: string;
const env = () => ({
  PORT: String(appPort),
  // As in production: supervisord's own changes (STARTING → RUNNING) reach the dashboard.
  SUPERVISOR_POLL_INTERVAL_SECONDS: "1",
  SUPERVISOR_USERNAME: AUTH.username,
  SUPERVISOR_PASSWORD: AUTH.password,
  HEARTBEAT_INTERVAL_SECONDS: "1",
  HEARTBEAT_STALE_SECONDS: "10",
});

const row = (page: Page, name: string) => page.locator(`[data-testid="process-row"][data-name="${name}"]`);
const cell = (page: Page, name: string, testId: string) => row(page, name).locator(`[data-testid="${testId}"]`);

beforeAll(async () => {
  db = await createTestDatabase("dashboard");
  appPort = await freePort();
  app = await startTestApp(db.url, env());
  operatorToken = (await app.client("OPERATOR", "ops")).token;
  viewerToken = (await app.client("VIEWER", "watcher")).token;
  const agentToken = (await app.client("AGENT", "domaeka-agent", "domaeka-*")).token;
  // The rows first: the example server registers as soon as supervisord starts it.
  const ports = { "domaeka-test-01": await freePort(), "domaeka-live-01": await freePort() };
  const supervisorPort = await freePort();
  for (const [name, program] of [
    ["domaeka-test-01", "python-server"],
    ["domaeka-live-01", "not-on-this-supervisord"],
  ] as const) {
    await app.admin.data(`mutation($input: CreateProcessInput!) { createProcess(input: $input) { id } }`, {
      input: { name, port: ports[name], supervisorHost: "127.0.0.1", supervisorPort, program },
    });
  }
  supervisord = await Supervisord.start({
    port: supervisorPort,
    auth: AUTH,
    programs: {
      "python-server": {
        command: `python3 -u ${EXAMPLE} --name domaeka-test-01 --host 127.0.0.1`,
        startsecs: 1,
        stopwaitsecs: 5,
        environment: { FLEETVISOR_URL: `http://127.0.0.1:${appPort}`, FLEETVISOR_TOKEN: agentToken },
      },
    },
  });
  await supervisord.waitForState("python-server", "RUNNING");
  await until("the example server's registration", async () => {
    const [row] = await db.query<{ status: string }>(
      "SELECT status FROM kb_server_processes WHERE process_name = 'domaeka-test-01'",
    );
    return row?.status === "running";
  });
  browser = await launchChromium();
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await supervisord?.stop();
  await app?.stop();
  await db?.drop();
});

describe("the dashboard, in a real browser", () => {
  it("signs in from a #token link, shows live rows, stops and starts a real program through its buttons", async () => {
    const page = await browser.newPage({ locale: "ko-KR" });
    await page.goto(`${app.url}/#token=${operatorToken}`);
    // Signed in, and the token is gone from the address bar.
    await expect.poll(() => page.url()).toBe(`${app.url}/`);
    await expect.poll(() => page.getByTestId("whoami").textContent()).toContain("ops");
    expect(await page.evaluate(() => sessionStorage.getItem("fleetvisor.token"))).toBe(operatorToken);

    await expect
      .poll(() => cell(page, "domaeka-test-01", "cell-supervisor-state").textContent(), { timeout: 15_000 })
      .toBe("RUNNING");
    await expect
      .poll(() => cell(page, "domaeka-test-01", "cell-status").textContent(), { timeout: 15_000 })
      .toBe("RUNNING");
    await expect.poll(() => cell(page, "domaeka-test-01", "cell-health").textContent()).toContain("HEALTHY");
    expect(await cell(page, "domaeka-test-01", "cell-pid").textContent()).toBe(
      String(await supervisord.programPid("python-server")),
    );
    // The program the supervisord does not know is shown, with the reason.
    await expect
      .poll(() => cell(page, "domaeka-live-01", "cell-health-reasons").textContent())
      .toContain("not-on-this-supervisord");
    // Buttons only where they make sense.
    expect(await cell(page, "domaeka-test-01", "action-start").isDisabled()).toBe(true);
    expect(await cell(page, "domaeka-test-01", "action-stop").isDisabled()).toBe(false);
    // The heartbeat age ticks.
    const age = await cell(page, "domaeka-test-01", "cell-heartbeat-age").textContent();
    expect(age).toMatch(/\d/);

    // A marker that a reload would wipe.
    await page.evaluate(() => ((window as unknown as { notReloaded: boolean }).notReloaded = true));

    // Stop, behind a confirmation; cancel first changes nothing: it sends no control call,
    // which the one the confirmed stop sends afterwards shows.
    const controlCalls: string[] = [];
    page.on("request", (request) => {
      const body = request.method() === "POST" ? (request.postData() ?? "") : "";
      const call = /\b(start|stop|restart)Process(es)?\b/.exec(body);
      if (call) controlCalls.push(call[0]);
    });
    await cell(page, "domaeka-test-01", "action-stop").click();
    await page.getByTestId("confirm-dialog").waitFor({ state: "visible" });
    expect(await page.getByTestId("confirm-dialog").textContent()).toContain("domaeka-test-01");
    await page.getByTestId("confirm-no").click();
    await page.getByTestId("confirm-dialog").waitFor({ state: "hidden" });
    expect(await supervisord.programState("python-server")).toBe("RUNNING");
    expect(controlCalls).toEqual([]);

    await cell(page, "domaeka-test-01", "action-stop").click();
    await page.getByTestId("confirm-yes").click();
    await expect
      .poll(() => cell(page, "domaeka-test-01", "cell-supervisor-state").textContent(), { timeout: 15_000 })
      .toBe("STOPPED");
    await expect
      .poll(() => cell(page, "domaeka-test-01", "cell-status").textContent(), { timeout: 15_000 })
      .toBe("STOPPED");
    expect(await supervisord.programState("python-server")).toBe("STOPPED");
    expect(controlCalls).toEqual(["stopProcess"]);
    // The row's buttons wait for the stop's own answer, which may come after its event.
    await expect
      .poll(() => cell(page, "domaeka-test-01", "action-start").isDisabled(), { timeout: 15_000 })
      .toBe(false);

    await cell(page, "domaeka-test-01", "action-start").click();
    await page.getByTestId("confirm-yes").click();
    await expect
      .poll(() => cell(page, "domaeka-test-01", "cell-supervisor-state").textContent(), { timeout: 15_000 })
      .toBe("RUNNING");
    // The example server registers itself again: the row follows, live.
    await expect
      .poll(() => cell(page, "domaeka-test-01", "cell-status").textContent(), { timeout: 15_000 })
      .toBe("RUNNING");
    expect(await supervisord.programState("python-server")).toBe("RUNNING");

    expect(await page.evaluate(() => (window as unknown as { notReloaded?: boolean }).notReloaded)).toBe(true);
    mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: `${ARTIFACTS}dashboard.png`, fullPage: true });
    await page.close();
  });

  it("shows the log tail of a process", async () => {
    const page = await browser.newPage({ locale: "en-US" });
    await page.goto(`${app.url}/#token=${operatorToken}`);
    await cell(page, "domaeka-test-01", "action-logs").click();
    await page.getByTestId("log-stream-stderr").click();
    await expect
      .poll(() => page.getByTestId("log-text").textContent(), { timeout: 10_000 })
      .toContain("registered domaeka-test-01");
    await page.getByTestId("log-close").click();
    await page.close();
  });

  it("follows the browser's language, switches, and hides controls from a viewer", async () => {
    const page = await browser.newPage({ locale: "en-US" });
    await page.goto(`${app.url}/`);
    await page.getByTestId("token-input").fill(viewerToken);
    await page.getByTestId("sign-in").click();
    await row(page, "domaeka-test-01").waitFor();
    expect(await page.evaluate(() => document.documentElement.lang)).toBe("en");
    expect(await cell(page, "domaeka-test-01", "action-stop").count()).toBe(0);
    expect(await cell(page, "domaeka-test-01", "action-logs").count()).toBe(1);
    const english = await page.locator("thead").textContent();
    await page.getByTestId("lang-switch").click();
    await expect.poll(() => page.evaluate(() => document.documentElement.lang)).toBe("ko");
    const korean = await page.locator("thead").textContent();
    expect(korean).not.toBe(english);
    expect(korean).toContain("프로세스명");
    await page.close();
  });

  it("refuses a wrong token, and filters rows", async () => {
    const page = await browser.newPage({ locale: "en-US" });
    await page.goto(`${app.url}/`);
    await page.getByTestId("token-input").fill("fvt_wrong");
    await page.getByTestId("sign-in").click();
    await expect.poll(() => page.getByTestId("sign-in-error").textContent()).not.toBe("");
    await page.getByTestId("token-input").fill(operatorToken);
    await page.getByTestId("sign-in").click();
    await row(page, "domaeka-live-01").waitFor();
    await page.getByTestId("filter-name").fill("live");
    await expect.poll(() => page.getByTestId("process-row").count()).toBe(1);
    await page.getByTestId("filter-name").fill("");
    await page.getByTestId("filter-health").selectOption("UNKNOWN");
    await expect.poll(() => page.getByTestId("process-row").count()).toBe(1);
    await page.close();
  });

  it("after a lost connection shows it is reconnecting, then resumes without missing a change", async () => {
    const page = await browser.newPage({ locale: "en-US" });
    await page.goto(`${app.url}/#token=${operatorToken}`);
    await row(page, "domaeka-live-01").waitFor();
    await expect.poll(() => page.getByTestId("connection-status").getAttribute("data-state")).toBe("connected");

    await app.stop();
    await expect
      .poll(() => page.getByTestId("connection-status").getAttribute("data-state"), { timeout: 15_000 })
      .not.toBe("connected");
    // A change made while the dashboard is cut off, through another replica.
    const other = await startTestApp(db.url, { ...env(), PORT: "0" });
    await other.admin.data(`mutation { updateProcess(name: "domaeka-live-01", input: { port: 9999 }) { port } }`);
    await other.stop();
    app = await startTestApp(db.url, env());

    await expect
      .poll(() => page.getByTestId("connection-status").getAttribute("data-state"), { timeout: 30_000 })
      .toBe("connected");
    await expect.poll(() => cell(page, "domaeka-live-01", "cell-port").textContent(), { timeout: 15_000 }).toBe("9999");
    await page.close();
  });
});

describe("the dashboard on first contact", () => {
  let closedPort: number;
  /** Runs one program the registry names and one it does not. */
  let edge: Supervisord;
  let agentToken: string;

  beforeAll(async () => {
    closedPort = await freePort();
    agentToken = (await app.client("AGENT", "dashboard-agent", "domaeka-*")).token;
    edge = await Supervisord.start({
      auth: AUTH,
      programs: { api: { command: "sleep 3600" }, "cron-worker": { command: "sleep 3600" } },
    });
    await edge.waitForState("cron-worker", "RUNNING");
    const create = `mutation($input: CreateProcessInput!) { createProcess(input: $input) { id } }`;
    const rows = [
      { name: "nowhere-01" },
      { name: "unreachable-01", supervisorHost: "127.0.0.1", supervisorPort: closedPort },
      { name: "edge-api-01", supervisorHost: "127.0.0.1", supervisorPort: edge.port, program: "api" },
    ];
    for (const input of rows) await app.admin.data(create, { input: { ...input, port: await freePort() } });
  }, 60_000);

  afterAll(async () => {
    await edge?.stop();
  });

  it("shows the rows from HTTP while the WebSocket cannot connect, then goes live once it can", async () => {
    const page = await browser.newPage({ locale: "en-US" });
    // The page's timers stand still until resumed: rows that waited for the socket (or for
    // a timeout to give up on it) would never come.
    await page.clock.install();
    await page.clock.pauseAt(new Date(Date.now() + 1000));
    let socketAllowed = false;
    const held: WebSocketRoute[] = [];
    await page.routeWebSocket(/\/graphql$/, (socket) => {
      // Not connected to the server: the page's socket opens and is never answered.
      if (socketAllowed) socket.connectToServer();
      else held.push(socket);
    });

    await page.goto(`${app.url}/#token=${operatorToken}`);
    await row(page, "domaeka-test-01").waitFor({ timeout: 15_000 });
    await expect.poll(() => cell(page, "domaeka-test-01", "cell-supervisor-state").textContent()).toBe("RUNNING");
    expect(await page.getByTestId("process-row").count()).toBeGreaterThanOrEqual(2);
    expect(held.length).toBeGreaterThan(0);
    expect(await page.getByTestId("connection-status").getAttribute("data-state")).toBe("offline");

    // Let it through: the held socket fails, graphql-ws tries again and reaches the server.
    socketAllowed = true;
    await page.clock.resume();
    for (const socket of held) await socket.close({ code: 1013, reason: "try again" });
    await expect
      .poll(() => page.getByTestId("connection-status").getAttribute("data-state"), { timeout: 15_000 })
      .toBe("connected");
    await app.admin.data(`mutation { updateProcess(name: "domaeka-live-01", input: { port: 9998 }) { port } }`);
    await expect.poll(() => cell(page, "domaeka-live-01", "cell-port").textContent(), { timeout: 15_000 }).toBe("9998");
    await page.close();
  });

  it("disables start / stop / restart where they cannot work, and says why, in both languages", async () => {
    const page = await browser.newPage({ locale: "en-US" });
    await page.goto(`${app.url}/#token=${operatorToken}`);
    const button = (name: string, action: string) => cell(page, name, `action-${action}`);
    const reason = (name: string, action: string) => button(name, action).getAttribute("title");
    await expect.poll(() => reason("unreachable-01", "start"), { timeout: 15_000 }).toContain("cannot be reached");
    await expect
      .poll(() => cell(page, "domaeka-test-01", "cell-supervisor-state").textContent(), { timeout: 15_000 })
      .toBe("RUNNING");

    for (const action of ["start", "stop", "restart"]) {
      expect(await button("nowhere-01", action).isDisabled()).toBe(true);
      expect(await reason("nowhere-01", action)).toBe("No supervisord is set for this process in the registry.");
      expect(await button("unreachable-01", action).isDisabled()).toBe(true);
      expect(await reason("unreachable-01", action)).toMatch(
        new RegExp(`^supervisord 127\\.0\\.0\\.1:${closedPort} cannot be reached: .*refused the connection`),
      );
      expect(await button("domaeka-live-01", action).isDisabled()).toBe(true);
      expect(await reason("domaeka-live-01", action)).toBe(
        `supervisord 127.0.0.1:${supervisord.port} runs no program called "not-on-this-supervisord".`,
      );
      // Logs stay open to everyone: they say for themselves when there are none.
      expect(await button("nowhere-01", "logs").isDisabled()).toBe(false);
    }
    // Where supervisord can act, only what would change something is enabled.
    expect(await button("domaeka-test-01", "start").isDisabled()).toBe(true);
    expect(await reason("domaeka-test-01", "start")).toBe("Already RUNNING.");
    expect(await button("domaeka-test-01", "stop").isDisabled()).toBe(false);
    expect(await reason("domaeka-test-01", "stop")).toBe("");
    expect(await button("domaeka-test-01", "restart").isDisabled()).toBe(false);

    await page.getByTestId("lang-switch").click();
    await expect
      .poll(() => reason("nowhere-01", "stop"))
      .toBe("레지스트리에 이 프로세스의 supervisord가 지정되어 있지 않습니다.");
    expect(await reason("unreachable-01", "restart")).toContain(
      `supervisord 127.0.0.1:${closedPort}에 연결할 수 없습니다`,
    );
    expect(await reason("domaeka-live-01", "start")).toBe(
      `supervisord 127.0.0.1:${supervisord.port}에 "not-on-this-supervisord" 프로그램이 없습니다.`,
    );
    expect(await reason("domaeka-test-01", "start")).toBe("이미 RUNNING 상태입니다.");
    await page.close();
  });

  it("shows each supervisord, and an admin adds a program the registry does not know through its form", async () => {
    const page = await browser.newPage({ locale: "en-US" });
    await page.goto(`${app.url}/#token=${ADMIN_TOKEN}`);
    await row(page, "domaeka-test-01").waitFor();
    await page.getByTestId("view-supervisors").click();
    const card = (port: number) => page.locator(`[data-testid="supervisor"][data-address="127.0.0.1:${port}"]`);
    const program = (port: number, name: string) =>
      card(port).locator(`[data-testid="supervisor-program"][data-program="${name}"]`);
    await card(edge.port).waitFor({ timeout: 15_000 });

    // The supervisord of the first tests: reachable, its version and latency, its processes.
    const main = card(supervisord.port);
    expect(await main.getByTestId("supervisor-reachable").textContent()).toBe("Reachable");
    expect(await main.getByTestId("supervisor-version").textContent()).toBe("4.2.5");
    expect(await main.getByTestId("supervisor-latency").textContent()).toMatch(/^\d+ ms$/);
    expect(await main.getByTestId("supervisor-registered-count").textContent()).toBe("2");
    expect(await program(supervisord.port, "python-server").getByTestId("program-state").textContent()).toBe("RUNNING");
    expect(await program(supervisord.port, "python-server").getByTestId("program-registry").textContent()).toBe(
      "domaeka-test-01",
    );
    expect(await main.getByTestId("supervisor-missing").textContent()).toContain(
      "domaeka-live-01 (not-on-this-supervisord)",
    );
    // One that does not answer says so, and why.
    expect(await card(closedPort).getByTestId("supervisor-reachable").textContent()).toBe("Unreachable");
    expect(await card(closedPort).getByTestId("supervisor-error").textContent()).toContain("refused the connection");
    expect(await card(closedPort).getByTestId("supervisor-program").count()).toBe(0);

    // The program no registry row names, with a way to add it; the named one has none.
    expect(await program(edge.port, "api").getByTestId("add-to-registry").count()).toBe(0);
    expect(await program(edge.port, "cron-worker").getByTestId("program-registry").textContent()).toContain(
      "Not in the registry",
    );
    await program(edge.port, "cron-worker").getByTestId("add-to-registry").click();
    const dialog = page.getByTestId("register-dialog");
    await dialog.waitFor({ state: "visible" });
    expect(await page.getByTestId("register-name").inputValue()).toBe("cron-worker");
    expect(await page.getByTestId("register-program").inputValue()).toBe("cron-worker");
    expect(await page.getByTestId("register-supervisor").inputValue()).toBe(`127.0.0.1:${edge.port}`);
    // The port is asked for.
    await page.getByTestId("register-submit").click();
    await expect.poll(() => page.getByTestId("register-error").textContent()).toContain("port");
    const port = await freePort();
    await page.getByTestId("register-port").fill(String(port));
    mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: `${ARTIFACTS}dashboard-add-to-registry.png`, fullPage: true });
    await page.getByTestId("register-submit").click();
    await dialog.waitFor({ state: "hidden", timeout: 15_000 });
    await expect.poll(() => page.getByTestId("message").textContent()).toContain("Added cron-worker");
    await expect
      .poll(() => program(edge.port, "cron-worker").getByTestId("program-registry").textContent(), { timeout: 15_000 })
      .toBe("cron-worker");
    await page.screenshot({ path: `${ARTIFACTS}dashboard-supervisords.png`, fullPage: true });
    expect(
      await db.query(
        "SELECT port, supervisor_host, supervisor_port, supervisor_program FROM kb_server_processes WHERE process_name = 'cron-worker'",
      ),
    ).toEqual([{ port, supervisor_host: "127.0.0.1", supervisor_port: edge.port, supervisor_program: "cron-worker" }]);

    // And the row is in the process table, joined with what supervisord says.
    await page.getByTestId("view-processes").click();
    await expect
      .poll(() => cell(page, "cron-worker", "cell-supervisor-state").textContent(), { timeout: 15_000 })
      .toBe("RUNNING");
    expect(await cell(page, "cron-worker", "cell-port").textContent()).toBe(String(port));
    await page.close();
  });

  it("shows the supervisord view to viewers without the form, in Korean too, and not to agents", async () => {
    const page = await browser.newPage({ locale: "ko-KR" });
    await page.goto(`${app.url}/#token=${viewerToken}`);
    await row(page, "domaeka-test-01").waitFor();
    await page.getByTestId("view-supervisors").click();
    const edgeCard = page.locator(`[data-testid="supervisor"][data-address="127.0.0.1:${edge.port}"]`);
    await edgeCard.waitFor({ timeout: 15_000 });
    expect(await edgeCard.getByTestId("supervisor-reachable").textContent()).toBe("연결됨");
    expect(await page.getByTestId("add-to-registry").count()).toBe(0);
    expect(await page.getByTestId("supervisor-program").count()).toBeGreaterThanOrEqual(3);
    await page.close();

    const agentPage = await browser.newPage({ locale: "en-US" });
    await agentPage.goto(`${app.url}/#token=${agentToken}`);
    await row(agentPage, "domaeka-test-01").waitFor();
    expect(await agentPage.getByTestId("view-supervisors").isVisible()).toBe(false);
    await agentPage.close();
  });
});
