import { mkdirSync } from "node:fs";
import { fileURLToPath } from "node:url";
import type { Browser, Page } from "playwright-core";
import { launchChromium } from "./support/browser.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestApp, type TestApp } from "./support/app.js";
import { createTestDatabase, type TestDatabase } from "./support/database.js";
import { freePort, Supervisord } from "./support/supervisord.js";
import { until } from "./support/wait.js";

const EXAMPLE = fileURLToPath(new URL("../client-examples/python/example_server.py", import.meta.url));
const ARTIFACTS = fileURLToPath(new URL("./artifacts/", import.meta.url));
const AUTH = { username: "fleet", password: "dash-rollout-pass-9e3b" };
const NAMES = ["web-01", "web-02", "web-03"];

let db: TestDatabase;
let app: TestApp;
let supervisord: Supervisord;
let browser: Browser;
let operatorToken: string;
let viewerToken: string;

const row = (page: Page, name: string) => page.locator(`[data-testid="process-row"][data-name="${name}"]`);
const step = (page: Page, name: string) => page.locator(`[data-testid="rollout-step"][data-name="${name}"]`);
const outcomes = (page: Page) =>
  page
    .locator('[data-testid="rollout-step"]')
    .evaluateAll((rows) => rows.map((r) => (r as HTMLElement).dataset.outcome));

async function signIn(token: string): Promise<Page> {
  const page = await browser.newPage({ locale: "en-US" });
  await page.goto(`${app.url}/#token=${token}`);
  await row(page, "web-01").waitFor();
  return page;
}

beforeAll(async () => {
  db = await createTestDatabase("dashboard_rollout");
  const appPort = await freePort();
  app = await startTestApp(db.url, {
    PORT: String(appPort),
    SUPERVISOR_POLL_INTERVAL_SECONDS: "1",
    SUPERVISOR_USERNAME: AUTH.username,
    SUPERVISOR_PASSWORD: AUTH.password,
    HEARTBEAT_INTERVAL_SECONDS: "1",
    HEARTBEAT_STALE_SECONDS: "10",
  });
  operatorToken = (await app.client("OPERATOR", "ops")).token;
  viewerToken = (await app.client("VIEWER", "watcher")).token;
  const agentToken = (await app.client("AGENT", "fleet-agent", "*")).token;
  const supervisorPort = await freePort();
  for (const name of [...NAMES, "api-01"]) {
    await app.admin.data(`mutation($input: CreateProcessInput!) { createProcess(input: $input) { id } }`, {
      input: { name, port: await freePort(), supervisorHost: "127.0.0.1", supervisorPort, program: name },
    });
  }
  supervisord = await Supervisord.start({
    port: supervisorPort,
    auth: AUTH,
    programs: Object.fromEntries(
      [...NAMES, "api-01"].map((name) => [
        name,
        {
          command: `python3 -u ${EXAMPLE} --host 127.0.0.1`,
          startsecs: 1,
          stopwaitsecs: 5,
          environment: { FLEETVISOR_URL: `http://127.0.0.1:${appPort}`, FLEETVISOR_TOKEN: agentToken },
        },
      ]),
    ),
  });
  await until(
    "every example server registered",
    async () => {
      const rows = await db.query<{ status: string }>("SELECT status FROM kb_server_processes");
      return rows.length === 4 && rows.every((r) => r.status === "running");
    },
    30_000,
  );
  browser = await launchChromium();
}, 90_000);

afterAll(async () => {
  await browser?.close();
  await supervisord?.stop();
  await app?.stop();
  await db?.drop();
});

describe("rollouts in the dashboard, in a real browser", () => {
  it("plans a rolling restart of the filtered rows, starts it, and watches it finish live", async () => {
    const page = await signIn(operatorToken);
    const before = await Promise.all(NAMES.map((n) => supervisord.programPid(n)));
    await page.getByTestId("filter-name").fill("web-");
    await page.getByTestId("rollout-open").click();
    await expect
      .poll(() => page.getByTestId("rollout-panel").textContent())
      .toContain("The 3 processes the filters show");

    // The plan first: nothing is done yet.
    await page.getByTestId("rollout-action").selectOption("RESTART");
    await page.getByTestId("rollout-timeout").fill("30");
    await page.getByTestId("rollout-plan").click();
    await expect.poll(() => outcomes(page)).toEqual(["PENDING", "PENDING", "PENDING"]);
    expect(await page.getByTestId("rollout-summary").textContent()).toBe(
      "Plan: 3 steps in 3 batches. Nothing has been done yet.",
    );
    expect(await step(page, "api-01").count()).toBe(0);
    expect(await db.query("SELECT id FROM fleetvisor_rollouts")).toEqual([]);

    // Started: the steps move live, one at a time, to the end.
    const seen = new Set<string>();
    const watching = setInterval(() => {
      outcomes(page)
        .then((values) => seen.add(values.join(",")))
        .catch(() => undefined);
    }, 100);
    await page.getByTestId("rollout-start").click();
    await expect.poll(() => page.getByTestId("rollout-state").textContent(), { timeout: 60_000 }).toBe("SUCCEEDED");
    clearInterval(watching);
    expect(await outcomes(page)).toEqual(["DONE", "DONE", "DONE"]);
    expect([...seen].some((s) => s.includes("IN_PROGRESS"))).toBe(true);
    expect(await page.getByTestId("message").textContent()).toContain("SUCCEEDED");
    const after = await Promise.all(NAMES.map((n) => supervisord.programPid(n)));
    after.forEach((pid, i) => expect(pid).not.toBe(before[i]));
    // Each row now says it is meant to run, as it does.
    await expect
      .poll(() => row(page, "web-02").locator('[data-testid="cell-desired"]').textContent())
      .toBe("RUNNING as desired");
    mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: `${ARTIFACTS}dashboard-rollout.png`, fullPage: true });
    await page.close();
  });

  it("shows a drift as it happens and reconciles it; cancels a rollout mid-way", async () => {
    const page = await signIn(operatorToken);
    await supervisord.ctl("stop", "web-03");
    await expect
      .poll(() => row(page, "web-03").locator('[data-testid="cell-drift"]').textContent(), { timeout: 15_000 })
      .toBe("SHOULD_RUN");

    await page.getByTestId("rollout-open").click();
    await page.getByTestId("rollout-action").selectOption("RECONCILE");
    await page.getByTestId("rollout-plan").click();
    await expect.poll(() => outcomes(page)).toEqual(["PENDING"]);
    expect(await step(page, "web-03").textContent()).toContain("START");
    await page.getByTestId("rollout-start").click();
    await expect.poll(() => page.getByTestId("rollout-state").textContent(), { timeout: 60_000 }).toBe("SUCCEEDED");
    await expect
      .poll(() => row(page, "web-03").locator('[data-testid="cell-drift"]').textContent(), { timeout: 15_000 })
      .toBe("as desired");
    expect(await supervisord.programState("web-03")).toBe("RUNNING");

    // A rollout cancelled from the page: the step under way finishes, the rest are CANCELLED.
    await page.getByTestId("filter-name").fill("web-");
    await page.getByTestId("rollout-action").selectOption("RESTART");
    await page.getByTestId("rollout-plan").click();
    await expect.poll(() => outcomes(page)).toEqual(["PENDING", "PENDING", "PENDING"]);
    await page.getByTestId("rollout-start").click();
    await expect.poll(() => outcomes(page), { timeout: 15_000 }).toEqual(["IN_PROGRESS", "PENDING", "PENDING"]);
    await page.getByTestId("rollout-cancel").click();
    await expect.poll(() => page.getByTestId("rollout-state").textContent(), { timeout: 60_000 }).toBe("CANCELLED");
    expect(await outcomes(page)).toEqual(["DONE", "CANCELLED", "CANCELLED"]);
    await page.close();
  });

  it("shows viewers the desired state, and no rollout panel", async () => {
    const page = await signIn(viewerToken);
    await expect
      .poll(() => row(page, "web-01").locator('[data-testid="cell-desired"]').textContent())
      .toContain("RUNNING");
    expect(await page.getByTestId("rollout-panel").isHidden()).toBe(true);
    await page.close();
  });
});
