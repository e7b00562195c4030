/**
 * bench/memory — not a test. Resident memory of one replica with 10,000 processes on 500
 * polled simulated supervisords and 2,000 graphql-ws subscribers, while programs change
 * state (one a second, so events flow to every subscriber), for 5 minutes. Target: < 250 MB,
 * and flat (the first and last samples after the warm-up within 10%). Run twice: with
 * `npm start`'s V8 options and with V8's defaults. The registry rows have no agents, so the
 * heartbeat watchdog is off: otherwise it declares all 10,000 lost after the stale period,
 * and that storm of events, not one change a second, is what gets measured.
 *
 *   npm run bench:memory                    # 5 minutes per setting (the committed figures)
 *   BENCH_MEMORY_SECONDS=60 npm run bench:memory   # a trial run
 */
import { createClient, type Client } from "graphql-ws";
import WebSocket from "ws";
import { startFleetSim, type SimState } from "./fleet-sim.js";
import { connectDatabase, insertRegistryRows, report, sleep, waitFor, type Figure } from "./figures.js";
import { ADMIN_TOKEN, startArguments, startServer } from "./support.js";

const SECONDS = Number(process.env.BENCH_MEMORY_SECONDS ?? 300);
const HOSTS = 500;
const PROGRAMS = 20;
const SUBSCRIBERS = 2_000;
const AUTH = { username: "bench", password: "bench-password" };
const MB = 1024 * 1024;

const fleet = await startFleetSim({ hosts: HOSTS, programsPerHost: PROGRAMS, delayMs: 2, auth: AUTH });
const figures: Figure[] = [];
const [startOptions] = startArguments();
/** Which program changes next: it carries on across settings, so that each change is one. */
let flip = 0;
try {
  const settings: [label: string, v8Options: readonly string[]][] = [[`V8's defaults`, []]];
  if (startOptions.length > 0) settings.unshift([`npm start's V8 options (${startOptions.join(" ")})`, startOptions]);
  for (const [label, v8Options] of settings) {
    const server = await startServer(
      "memory",
      {
        SUPERVISOR_USERNAME: AUTH.username,
        SUPERVISOR_PASSWORD: AUTH.password,
        SUPERVISOR_POLL_INTERVAL_SECONDS: "5",
        HEARTBEAT_CHECK_INTERVAL_SECONDS: "0",
        WS_MAX_CONNECTIONS_PER_TOKEN: "100000",
      },
      { v8Options },
    );
    const clients: Client[] = [];
    let churn: NodeJS.Timeout | undefined;
    let delivered = 0;
    try {
      const db = await connectDatabase(server.databaseUrl);
      const rows = await insertRegistryRows(db, fleet.hosts);
      console.log(`${label}: ${rows} processes; waiting for the first sighting…`);
      await waitFor(
        "the first sighting",
        async () => {
          const [[row]] = await db.query<import("mysql2").RowDataPacket[]>(
            "SELECT COUNT(*) AS n FROM fleetvisor_supervisor_observations",
          );
          return Number(row?.n) >= rows;
        },
        600_000,
        1_000,
      );
      await db.end();
      for (let i = 0; i < SUBSCRIBERS; i++) {
        const client = createClient({
          url: `${server.url.replace(/^http/, "ws")}/graphql`,
          webSocketImpl: WebSocket,
          connectionParams: { authorization: `Bearer ${ADMIN_TOKEN}` },
          lazy: false,
          retryAttempts: 0,
          onNonLazyError: () => undefined,
        });
        clients.push(client);
        client.subscribe(
          { query: "subscription { processChanged { id kind processName message } }" },
          { next: () => void delivered++, error: () => undefined, complete: () => undefined },
        );
        if (i % 50 === 49) await sleep(250);
      }
      // Programs change state behind Fleetvisor's back, one a second: the poller records
      // each change, and every subscriber receives it.
      churn = setInterval(() => {
        const host = fleet.hosts[flip % HOSTS]!;
        const program = host.programs[(flip * 7) % PROGRAMS]!;
        const state: SimState = Math.floor(flip / HOSTS) % 2 === 0 ? "STOPPED" : "RUNNING";
        fleet.setState(host.port, program, state);
        flip++;
      }, 1_000);
      // Warm-up: subscriptions open, a few rounds polled.
      await sleep(30_000);
      const samples: number[] = [];
      const deadline = Date.now() + SECONDS * 1000;
      while (Date.now() < deadline) {
        samples.push(server.rssBytes());
        await sleep(5_000);
      }
      samples.push(server.rssBytes());
      const start = samples[0]!;
      const end = samples.at(-1)!;
      const peak = Math.max(...samples);
      const drift = (end - start) / start;
      console.log(`${label}: RSS MB ${samples.map((s) => (s / MB).toFixed(0)).join(" ")}; ${delivered} deliveries`);
      figures.push(
        {
          name: `resident memory, ${label}: peak over ${SECONDS} s`,
          value: peak / MB,
          unit: "MB",
          baseline: { name: "after warm-up", value: start / MB, unit: "MB" },
          target: "< 250 MB",
          met: peak < 250 * MB,
          note: `${rows} processes, ${HOSTS} polled supervisords, ${SUBSCRIBERS} subscribers, ${delivered} events delivered`,
        },
        {
          name: `resident memory, ${label}: end against start`,
          value: drift * 100,
          unit: "%",
          baseline: { name: "start", value: start / MB, unit: "MB" },
          target: "within ±10%",
          met: Math.abs(drift) <= 0.1,
          note: `end ${(end / MB).toFixed(0)} MB`,
        },
      );
    } finally {
      clearInterval(churn);
      await Promise.all(clients.map((c) => c.dispose()));
      await server.stop();
    }
  }
  report("memory", figures);
} finally {
  await fleet.stop();
}
