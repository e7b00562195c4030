import type { Browser, Page } from "playwright-core";
import { launchChromium } from "./support/browser.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestApp, type TestApp } from "./support/app.js";
import { createTestDatabase, type TestDatabase } from "./support/database.js";
import { until } from "./support/wait.js";

let db: TestDatabase;
let app: TestApp;
let browser: Browser;

const incidentRow = (page: Page, subject: string) =>
  page.locator(`[data-testid="incident-row"][data-subject="${subject}"]`);

async function signIn(token: string): Promise<Page> {
  const page = await browser.newPage({ locale: "en-US" });
  await page.goto(`${app.url}/#token=${token}`);
  await page.getByTestId("incident-panel").waitFor();
  return page;
}

/** A registered process whose heartbeat is then an hour old, and the watchdog's pass: HEARTBEAT_LOST. */
async function loseHeartbeat(name: string): Promise<void> {
  await app.admin.data(`mutation($n: String!) { createProcess(input: { name: $n, port: 8000 }) { id } }`, { n: name });
  await app.admin.data(`mutation($n: String!) { registerProcess(name: $n, pid: 77) { port } }`, { n: name });
  await db.query("UPDATE kb_server_processes SET last_heartbeat = ? WHERE process_name = ?", [
    new Date(Date.now() - 3_600_000),
    name,
  ]);
  await app.services.watch.checkHeartbeats();
}

beforeAll(async () => {
  db = await createTestDatabase("dashboard_incidents");
  app = await startTestApp(db.url);
  browser = await launchChromium();
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await app?.stop();
  await db?.drop();
});

describe("incidents in the dashboard, in a real browser", () => {
  it("shows an incident as it opens; an operator acknowledges it with a note and silences it", async () => {
    const operator = await app.client("OPERATOR", "kim");
    const page = await signIn(operator.token);
    await loseHeartbeat("dash-lost");
    // Live: it arrives over incidentChanged, without a reload.
    await incidentRow(page, "dash-lost").waitFor({ timeout: 10_000 });
    expect(await incidentRow(page, "dash-lost").getAttribute("data-kind")).toBe("HEARTBEAT_LOST");

    await incidentRow(page, "dash-lost").getByTestId("incident-note").fill("disk full, on it");
    await incidentRow(page, "dash-lost").getByTestId("incident-acknowledge").click();
    await expect
      .poll(() => incidentRow(page, "dash-lost").getByTestId("incident-ack").textContent())
      .toContain("disk full, on it");
    const [stored] = await db.query<{ acknowledged_by: string; note: string }>(
      "SELECT acknowledged_by, note FROM fleetvisor_incidents WHERE process_name = 'dash-lost'",
    );
    expect(stored).toEqual({ acknowledged_by: "kim", note: "disk full, on it" });

    await incidentRow(page, "dash-lost").getByTestId("incident-silence").click();
    await incidentRow(page, "dash-lost").getByTestId("incident-silenced").waitFor({ timeout: 10_000 });
    await page.getByTestId("silence-item").first().waitFor();
    expect(await page.getByTestId("silence-item").first().textContent()).toContain("dash-lost");

    // The heartbeat comes back: the incident leaves the list.
    await app.admin.data(`mutation { heartbeat(name: "dash-lost", pid: 77) { ok } }`);
    await until("the row to go", async () => (await incidentRow(page, "dash-lost").count()) === 0, 10_000);

    // Expiring the silence from the page.
    await page.getByTestId("silence-expire").first().click();
    await until("the silence to go", async () => (await page.getByTestId("silence-item").count()) === 0, 10_000);
    await page.close();
  }, 40_000);

  it("subscribes again after the incident subscription failed, and follows changes from then on", async () => {
    const page = await browser.newPage({ locale: "en-US" });
    let refused = 0;
    let subscribed = 0;
    // Between the page and the server: the page's first incidentChanged subscription is
    // answered with an error, as a server could; everything else passes.
    await page.routeWebSocket(/\/graphql$/, (socket) => {
      const server = socket.connectToServer();
      socket.onMessage((message) => {
        const parsed = JSON.parse(String(message)) as { id?: string; type: string; payload?: { query?: string } };
        if (parsed.type === "subscribe" && parsed.payload?.query?.includes("incidentChanged")) {
          if (refused === 0) {
            refused++;
            socket.send(
              JSON.stringify({ id: parsed.id, type: "error", payload: [{ message: "refused by the test" }] }),
            );
            return;
          }
          subscribed++;
        }
        server.send(message);
      });
    });
    await page.goto(`${app.url}/#token=${(await app.client("VIEWER", "retrying")).token}`);
    await page.getByTestId("incident-panel").waitFor();
    await until("the refused subscription, then a new one", async () => refused === 1 && subscribed === 1, 10_000);

    await loseHeartbeat("dash-retry");
    await incidentRow(page, "dash-retry").waitFor({ timeout: 10_000 });
    // A change after that only reaches the page live.
    const [incident] = await app.admin
      .data<{ incidents: { id: string; processName: string }[] }>(`query { incidents(state: OPEN) { id processName } }`)
      .then((data) => data.incidents.filter((i) => i.processName === "dash-retry"));
    await app.admin.data(`mutation($id: ID!) { acknowledgeIncident(id: $id, note: "after the retry") { id } }`, {
      id: incident!.id,
    });
    await expect
      .poll(() => incidentRow(page, "dash-retry").getByTestId("incident-ack").textContent(), { timeout: 10_000 })
      .toContain("after the retry");
    await page.close();
  });

  it("shows viewers the incidents, without actions", async () => {
    await loseHeartbeat("dash-viewed");
    const page = await signIn((await app.client("VIEWER", "watcher")).token);
    await incidentRow(page, "dash-viewed").waitFor({ timeout: 10_000 });
    expect(await incidentRow(page, "dash-viewed").getByTestId("incident-acknowledge").count()).toBe(0);
    expect(await page.getByTestId("incident-silence").count()).toBe(0);
    await page.close();
  });
});
