/**
 * bench/dashboard-paint — not a test. The dashboard in headless Chromium, from observed
 * state, on one server over simulated supervisords:
 *
 * - first paint (navigation to the first rows on screen, the page's own
 *   `fleetvisor:first-rows` mark) with 10,000 processes on 500 supervisords, beside the same
 *   dashboard with 100 processes on the same server earlier in the run. Target: under 1 s,
 *   and no more than 1.5× the small fleet's (it must not grow with the fleet);
 * - typing in the name filter over the 10,000 rows: each keystroke from its input event
 *   to the frame after the table changed, median and slowest, beside a frame (16.7 ms).
 *
 *   npm run bench:dashboard-paint [-- --hosts 500 --programs 20 --loads 5]
 */
import { parseArgs } from "node:util";
import type { Browser, Page } from "playwright-core";
import { filterKeystrokes, launchChromium } from "../test/support/browser.js";
import { startFleetSim, type SimHost } from "./fleet-sim.js";
import { connectDatabase, insertRegistryRows, median, report, waitFor } from "./figures.js";
import { ADMIN_TOKEN, graphqlCaller, startServer } from "./support.js";

const { values } = parseArgs({
  options: {
    hosts: { type: "string", default: "500" },
    programs: { type: "string", default: "20" },
    loads: { type: "string", default: "5" },
  },
});
const HOSTS = Number(values.hosts);
const PROGRAMS = Number(values.programs);
const LOADS = Number(values.loads);
/** The small fleet: the first hosts, 100 processes with 20 programs each. */
const SMALL_HOSTS = Math.max(1, Math.round(100 / PROGRAMS));
/** Long enough that no poll runs while the pages load: they read what was stored. */
const POLL_INTERVAL_SECONDS = 120;
const AUTH = { username: "bench", password: "bench-password" };
const FRAME_MS = 1000 / 60;

const fleet = await startFleetSim({ hosts: HOSTS, programsPerHost: PROGRAMS, auth: AUTH });
let browser: Browser | undefined;
const server = await startServer("paint", {
  SUPERVISOR_USERNAME: AUTH.username,
  SUPERVISOR_PASSWORD: AUTH.password,
  SUPERVISOR_POLL_INTERVAL_SECONDS: String(POLL_INTERVAL_SECONDS),
});
try {
  const db = await connectDatabase(server.databaseUrl);
  const call = graphqlCaller(server.url, ADMIN_TOKEN, 1);
  /** Registry rows for `hosts`, then every one of their supervisords' answers stored. */
  const addFleet = async (hosts: readonly SimHost[], prefix: string, total: number): Promise<void> => {
    await insertRegistryRows(db, hosts, prefix);
    await waitFor(
      `${total} supervisords' answers stored`,
      async () => {
        await call("{ processes(maxAgeSeconds: 3600) { name supervisor { state } } }");
        const [[row]] = await db.query<import("mysql2").RowDataPacket[]>(
          "SELECT COUNT(*) AS n FROM fleetvisor_supervisor_hosts",
        );
        return Number(row?.n) >= total;
      },
      120_000,
    );
  };
  browser = await launchChromium();

  await addFleet(fleet.hosts.slice(0, SMALL_HOSTS), "small-", SMALL_HOSTS);
  const small = await paints(browser, SMALL_HOSTS * PROGRAMS);
  await addFleet(fleet.hosts.slice(SMALL_HOSTS), "fleet-", HOSTS);
  const large = await paints(browser, HOSTS * PROGRAMS);
  const keys = await keystrokes(browser, HOSTS * PROGRAMS);
  await db.end();

  const [smallMs, largeMs] = [median(small), median(large)];
  console.log(`first paint, ${SMALL_HOSTS * PROGRAMS} processes: ${small.map(Math.round).join(" ")} ms`);
  console.log(`first paint, ${HOSTS * PROGRAMS} processes: ${large.map(Math.round).join(" ")} ms`);
  console.log(`keystrokes over ${HOSTS * PROGRAMS} rows: ${keys.map(Math.round).join(" ")} ms`);
  const sorted = [...keys].sort((a, b) => a - b);
  report("dashboard-paint", [
    {
      name: `dashboard first paint, ${HOSTS * PROGRAMS} processes on ${HOSTS} supervisords (median of ${LOADS} loads)`,
      value: largeMs,
      unit: "ms",
      baseline: { name: `the same dashboard with ${SMALL_HOSTS * PROGRAMS} processes`, value: smallMs, unit: "ms" },
      target: "< 1000 ms, and ≤ 1.5× the small fleet's",
      met: largeMs < 1000 && largeMs <= 1.5 * smallMs,
      note: `loads: ${large.map(Math.round).join(", ")} ms`,
    },
    {
      name: `name filter over ${HOSTS * PROGRAMS} rows, keystroke to next frame, median`,
      value: median(keys),
      unit: "ms",
      baseline: { name: "one frame at 60 Hz", value: FRAME_MS, unit: "ms" },
      target: "within a few frames (< 50 ms)",
      met: median(keys) < 50,
      note: `slowest of ${keys.length}: ${Math.round(sorted.at(-1)!)} ms`,
    },
  ]);
} finally {
  await browser?.close();
  await server.stop();
  await fleet.stop();
}

async function openDashboard(browser: Browser): Promise<Page> {
  const page = await browser.newPage({ locale: "en-US", viewport: { width: 1400, height: 900 } });
  await page.goto(`${server.url}/#token=${ADMIN_TOKEN}`);
  return page;
}

/** `LOADS` first paints of a fresh page, in ms after navigation, once every row has been read. */
async function paints(browser: Browser, rows: number): Promise<number[]> {
  const times: number[] = [];
  for (let i = 0; i <= LOADS; i++) {
    const page = await openDashboard(browser);
    // Polled every frame (a function given to the page must not name inner functions:
    // tsx would wrap them in a helper the page does not have).
    const mark = await page.waitForFunction(
      () => performance.getEntriesByName("fleetvisor:first-rows")[0]?.startTime,
      undefined,
      { polling: "raf", timeout: 60_000 },
    );
    const ms = (await mark.jsonValue()) as number;
    await allRowsRead(page, rows);
    await page.close();
    // The first load warms the server's and the browser's caches; it is not counted.
    if (i > 0) times.push(ms);
  }
  return times;
}

async function allRowsRead(page: Page, rows: number): Promise<void> {
  await page.waitForFunction(
    (n) => {
      const count = document.getElementById("process-count");
      return count?.textContent === `${n} of ${n}` && count.dataset.loading === "false";
    },
    rows,
    { timeout: 60_000 },
  );
}

/** Types the name of one of the last processes into the filter, timing each keystroke. */
async function keystrokes(browser: Browser, rows: number): Promise<number[]> {
  const page = await openDashboard(browser);
  await allRowsRead(page, rows);
  const needle = `fleet-${String(HOSTS - SMALL_HOSTS - 1).padStart(3, "0")}-p1`;
  const times = await filterKeystrokes(page, needle);
  await page.close();
  return times;
}
