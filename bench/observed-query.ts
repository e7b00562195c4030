/**
 * bench/observed-query — not a test. The `processes` query over 1,000 processes on 50 real
 * supervisords, served from observed state (`maxAgeSeconds` of twice the poll interval)
 * against the same query asked live, in interleaved rounds of one run. Target: ≤ 0.15×.
 * Then 100 observed queries in a row, and the supervisord calls they caused, read from
 * `/metrics` (target: 0).
 *
 *   npm run bench:observed-query [-- --hosts 50 --programs 20 --rounds 15]
 */
import { parseArgs } from "node:util";
import { Supervisord } from "../test/support/supervisord.js";
import { connectDatabase, insertRegistryRows, median, metric, report, waitFor } from "./figures.js";
import { ADMIN_TOKEN, graphqlCaller, startServer } from "./support.js";

const { values } = parseArgs({
  options: {
    hosts: { type: "string", default: "50" },
    programs: { type: "string", default: "20" },
    rounds: { type: "string", default: "15" },
  },
});
const HOSTS = Number(values.hosts);
const PROGRAMS = Number(values.programs);
const ROUNDS = Number(values.rounds);
/** Long enough that no poll falls among the 100 observed queries counted. */
const POLL_INTERVAL_SECONDS = 20;
const MAX_AGE_SECONDS = 2 * POLL_INTERVAL_SECONDS;
const AUTH = { username: "bench", password: "bench-password" };
const QUERY = `query($maxAge: Int!) { processes(maxAgeSeconds: $maxAge) {
  name status pid lastHeartbeat supervisor { state pid uptimeSeconds exitStatus } health } }`;

console.log(`starting ${HOSTS} supervisord instances with ${PROGRAMS} programs each…`);
const programs = Object.fromEntries(
  Array.from({ length: PROGRAMS }, (_, j) => [`p${String(j).padStart(2, "0")}`, { command: "sleep 100000" }]),
);
const supervisords: Supervisord[] = [];
try {
  for (let i = 0; i < HOSTS; i += 10) {
    supervisords.push(
      ...(await Promise.all(
        Array.from({ length: Math.min(10, HOSTS - i) }, () => Supervisord.start({ auth: AUTH, programs })),
      )),
    );
  }
  const server = await startServer("observed", {
    SUPERVISOR_USERNAME: AUTH.username,
    SUPERVISOR_PASSWORD: AUTH.password,
    SUPERVISOR_POLL_INTERVAL_SECONDS: String(POLL_INTERVAL_SECONDS),
    SUPERVISOR_TIMEOUT_MS: "20000",
    // The rows have no agents: the watchdog would declare them all lost mid-run.
    HEARTBEAT_CHECK_INTERVAL_SECONDS: "0",
  });
  try {
    const db = await connectDatabase(server.databaseUrl);
    const rows = await insertRegistryRows(
      db,
      supervisords.map((s) => ({ host: "127.0.0.1", port: s.port, programs: Object.keys(programs) })),
    );
    // The poller's first sighting of every program: the rounds measure the steady state after it.
    await waitFor(
      "the poller's first sighting",
      async () => {
        const [[row]] = await db.query<import("mysql2").RowDataPacket[]>(
          "SELECT COUNT(*) AS n FROM fleetvisor_supervisor_observations",
        );
        return Number(row?.n) >= rows;
      },
      300_000,
    );
    await db.end();
    const call = graphqlCaller(server.url, ADMIN_TOKEN, 2);
    const observed = () => call(QUERY, { maxAge: MAX_AGE_SECONDS });
    const live = () => call(QUERY, { maxAge: 0 });

    // 100 observed queries right after a poll: none may ask a supervisord.
    const callsBefore = await metric(server.url, "fleetvisor_supervisor_calls_total");
    for (let i = 0; i < 100; i++) await observed();
    const callsByObserved = (await metric(server.url, "fleetvisor_supervisor_calls_total")) - callsBefore;

    const times: { live: number[]; observed: number[] } = { live: [], observed: [] };
    for (let i = 0; i < 3; i++) await Promise.all([live(), observed()]); // warm-up
    for (let i = 0; i < ROUNDS; i++) {
      // Who goes first alternates, so that what one leaves behind falls on both alike.
      const order = i % 2 === 0 ? (["live", "observed"] as const) : (["observed", "live"] as const);
      for (const which of order) {
        await new Promise((r) => setTimeout(r, 150));
        const t = performance.now();
        await (which === "live" ? live() : observed());
        times[which].push(performance.now() - t);
      }
    }
    const ratios = times.observed.map((o, i) => o / times.live[i]!);
    report("observed-query", [
      {
        name: `processes over ${rows} processes on ${HOSTS} supervisords, observed (maxAgeSeconds ${MAX_AGE_SECONDS}) / live`,
        value: median(ratios),
        unit: "×",
        baseline: { name: "live query, median", value: median(times.live), unit: "ms" },
        target: "≤ 0.15×",
        met: median(ratios) <= 0.15,
        note: `observed median ${median(times.observed).toFixed(1)} ms; median of ${ROUNDS} paired rounds`,
      },
      {
        name: "supervisord calls caused by 100 observed queries (from /metrics)",
        value: callsByObserved,
        unit: "calls",
        baseline: { name: "one live query", value: HOSTS, unit: "calls" },
        target: "0",
        met: callsByObserved === 0,
      },
    ]);
  } finally {
    await server.stop();
  }
} finally {
  await Promise.all(supervisords.map((s) => s.stop()));
}
