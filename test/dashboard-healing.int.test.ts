import { writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Browser, Page } from "playwright-core";
import { launchChromium } from "./support/browser.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestApp, type TestApp } from "./support/app.js";
import { createTestDatabase, type TestDatabase } from "./support/database.js";
import { freePort, Supervisord } from "./support/supervisord.js";
import { tempDir } from "./support/temp-dir.js";

const AUTH = { username: "fleet", password: "dash-healing-pass-41d7" };
/** Never heartbeats: under the policy below it is restarted once, then quarantined. */
const MUTE = "mute-01";
const TICKER = "ticker-01";
/** Loses its supervisord while its log is followed. */
const ORPHAN = "ticker-02";

let db: TestDatabase;
let app: TestApp;
let supervisord: Supervisord;
let browser: Browser;
let operatorToken: string;
let viewerToken: string;

const row = (page: Page, name: string) => page.locator(`[data-testid="process-row"][data-name="${name}"]`);

async function signIn(token: string): Promise<Page> {
  const page = await browser.newPage({ locale: "en-US" });
  await page.goto(`${app.url}/#token=${token}`);
  await row(page, MUTE).waitFor();
  return page;
}

beforeAll(async () => {
  db = await createTestDatabase("dashboard_healing");
  app = await startTestApp(db.url, {
    SUPERVISOR_USERNAME: AUTH.username,
    SUPERVISOR_PASSWORD: AUTH.password,
    HEALING_CHECK_INTERVAL_MS: "250",
  });
  operatorToken = (await app.client("OPERATOR", "ops")).token;
  viewerToken = (await app.client("VIEWER", "watcher")).token;
  const script = join(tempDir("dashboard-healing"), "ticker.sh");
  writeFileSync(script, '#!/bin/sh\ni=0\nwhile :; do echo "line $i"; i=$((i+1)); sleep 0.05; done\n', { mode: 0o755 });
  const supervisorPort = await freePort();
  for (const name of [MUTE, TICKER, ORPHAN]) {
    await app.admin.data(`mutation($input: CreateProcessInput!) { createProcess(input: $input) { id } }`, {
      input: { name, port: await freePort(), supervisorHost: "127.0.0.1", supervisorPort, program: name },
    });
  }
  supervisord = await Supervisord.start({
    port: supervisorPort,
    auth: AUTH,
    programs: { [MUTE]: { command: "sleep 1000" }, [TICKER]: { command: script }, [ORPHAN]: { command: script } },
  });
  browser = await launchChromium();
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await supervisord?.stop();
  await app?.stop();
  await db?.drop();
});

describe("healing and live logs in the dashboard, in a real browser", () => {
  it("shows a quarantine live, with a clear button for operators only, and clears it", async () => {
    const operator = await signIn(operatorToken);
    const viewer = await signIn(viewerToken);
    const badge = (page: Page) => row(page, MUTE).getByTestId("quarantined");
    expect(await badge(operator).isVisible()).toBe(false);

    await app.admin.data(
      `mutation { setHealingPolicy(input: { namePattern: "mute-*", restartWhenUnresponsiveAfterSeconds: 2,
        graceAfterStartSeconds: 0, maxRestarts: 1, perSeconds: 600 }) { namePattern } }`,
    );
    // Restarted once, then quarantined: the rows follow the QUARANTINED event live.
    await badge(operator).waitFor({ state: "visible", timeout: 20_000 });
    await badge(viewer).waitFor({ state: "visible", timeout: 5_000 });
    expect(await badge(operator).textContent()).toBe("quarantined");
    const clear = (page: Page) => row(page, MUTE).getByTestId("action-clear-quarantine");
    expect(await clear(operator).isVisible()).toBe(true);
    expect(await clear(viewer).isVisible()).toBe(false);

    // No more automatic restarts after this clear: the policy goes first.
    await app.admin.data(`mutation { deleteHealingPolicy(namePattern: "mute-*") }`);
    await clear(operator).click();
    await operator.getByTestId("confirm-yes").click();
    await badge(operator).waitFor({ state: "hidden", timeout: 5_000 });
    await badge(viewer).waitFor({ state: "hidden", timeout: 5_000 });
    const cleared = await db.query<{ actor: string }>(
      "SELECT actor FROM fleetvisor_process_events WHERE process_name = ? AND kind = 'QUARANTINE_CLEARED'",
      [MUTE],
    );
    expect(cleared).toEqual([{ actor: "ops" }]);
    await Promise.all([operator.close(), viewer.close()]);
  }, 40_000);

  it("follows a log live with the follow switch: new lines, each once, in order", async () => {
    const page = await signIn(viewerToken);
    await row(page, TICKER).getByTestId("action-logs").click();
    await expect.poll(() => page.getByTestId("log-text").textContent()).toContain("line ");
    // Reads of the log over HTTP (the polling the switch replaces).
    let polls = 0;
    page.on("request", (request) => {
      if (request.postData()?.includes("log(stream")) polls++;
    });
    await page.getByTestId("log-follow").check();
    const pollsBefore = polls;
    await expect.poll(() => page.locator("#log-status").textContent()).toBe("Following live");
    const lastNow = async () => {
      const text = (await page.getByTestId("log-text").textContent()) ?? "";
      return Number(/line (\d+)\n$/.exec(text)?.[1] ?? -1);
    };
    const start = await lastNow();
    await expect.poll(lastNow, { timeout: 10_000 }).toBeGreaterThan(start + 40);
    const lines = ((await page.getByTestId("log-text").textContent()) ?? "").split("\n").filter(Boolean);
    // The first line may be cut (the view begins with the end of the log): count from the second.
    const numbers = lines.slice(1).map((line) => Number(/^line (\d+)$/.exec(line)?.[1]));
    expect(numbers).toEqual(numbers.map((_, i) => numbers[0]! + i));
    // Followed for longer than the 2 s between polls, with no poll beside the subscription.
    expect(polls).toBe(pollsBefore);
    // Switched off, the view goes back to reading the log now and then.
    await page.getByTestId("log-follow").uncheck();
    await expect.poll(() => page.locator("#log-status").textContent()).toBe("");
    await page.close();
  }, 30_000);

  it("stops following and says why on an error another try cannot mend, instead of retrying", async () => {
    const page = await browser.newPage({ locale: "en-US" });
    // Every processLog subscription the page starts (watched from before it connects).
    const followed: string[] = [];
    page.on("websocket", (socket) =>
      socket.on("framesent", ({ payload }) => {
        if (String(payload).includes("processLog")) followed.push(String(payload));
      }),
    );
    await page.goto(`${app.url}/#token=${viewerToken}`);
    await row(page, MUTE).waitFor();
    await row(page, ORPHAN).getByTestId("action-logs").click();
    await expect.poll(() => page.getByTestId("log-text").textContent()).toContain("line ");
    await page.getByTestId("log-follow").check();
    await expect.poll(() => page.locator("#log-status").textContent()).toBe("Following live");
    // The switch says "Following live" as it subscribes; a line that only the subscription
    // can have brought (polling stops while following) shows the server follows the log.
    const before = (await page.getByTestId("log-text").textContent())!.length;
    await expect.poll(async () => (await page.getByTestId("log-text").textContent())!.length).toBeGreaterThan(before);

    // Another tool sharing the registry table takes its supervisord away.
    await db.query(
      "UPDATE kb_server_processes SET supervisor_host = NULL, supervisor_port = NULL WHERE process_name = ?",
      [ORPHAN],
    );
    await expect
      .poll(() => page.locator("#log-status").textContent(), { timeout: 10_000 })
      .toBe(
        `Following stopped: BAD_USER_INPUT: "${ORPHAN}" no longer has a supervisord in the registry: its log cannot be followed`,
      );
    expect(await page.getByTestId("log-follow").isChecked()).toBe(false);
    const subscriptions = followed.length;
    expect(subscriptions).toBeGreaterThanOrEqual(1);
    // Longer than the 2 s between retries: no new subscription.
    await new Promise((resolve) => setTimeout(resolve, 2_500));
    expect(followed).toHaveLength(subscriptions);
    await page.close();
  }, 30_000);
});
