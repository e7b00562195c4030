/**
 * bench/fleet-scale — not a test. 10,000 processes on 500 simulated supervisords
 * (bench/fleet-sim.ts), polled by 3 replicas sharing one database:
 *
 * - supervisord calls per poll interval, all replicas together: target within 5% of 500
 *   (each supervisord polled once per interval, not once per replica);
 * - one replica killed with SIGKILL: every supervisord polled again within two intervals;
 * - `processPage(first: 100, maxAgeSeconds: 30)` from 20 concurrent clients: p99 < 30 ms,
 *   and its rate beside `{ __typename }`'s on the same server.
 *
 *   npm run bench:fleet-scale [-- --hosts 500 --programs 20 --intervals 6 --seconds 10]
 */
import { parseArgs } from "node:util";
import { startFleetSim } from "./fleet-sim.js";
import { connectDatabase, insertRegistryRows, report, sleep, waitFor } from "./figures.js";
import { ADMIN_TOKEN, describe, graphqlCaller, measure, startServer, type BenchServer } from "./support.js";

const { values } = parseArgs({
  options: {
    hosts: { type: "string", default: "500" },
    programs: { type: "string", default: "20" },
    intervals: { type: "string", default: "6" },
    seconds: { type: "string", default: "10" },
    "delay-ms": { type: "string", default: "2" },
  },
});
const HOSTS = Number(values.hosts);
const PROGRAMS = Number(values.programs);
const INTERVALS = Number(values.intervals);
const POLL_INTERVAL_SECONDS = 5;
const AUTH = { username: "bench", password: "bench-password" };
const PAGE_QUERY = `query($first: Int!, $maxAge: Int!) { processPage(first: $first, maxAgeSeconds: $maxAge) {
  nodes { name status pid lastHeartbeat supervisor { state pid uptimeSeconds } health } endCursor totalCount } }`;

const fleet = await startFleetSim({
  hosts: HOSTS,
  programsPerHost: PROGRAMS,
  delayMs: Number(values["delay-ms"]),
  auth: AUTH,
});
const replicas: BenchServer[] = [];
try {
  const env = {
    SUPERVISOR_USERNAME: AUTH.username,
    SUPERVISOR_PASSWORD: AUTH.password,
    SUPERVISOR_POLL_INTERVAL_SECONDS: String(POLL_INTERVAL_SECONDS),
    // The rows have no agents: the watchdog would declare all 10,000 lost after the stale
    // period, and the pages would be measured during that storm of events.
    HEARTBEAT_CHECK_INTERVAL_SECONDS: "0",
  };
  replicas.push(await startServer("scale", env));
  const db = await connectDatabase(replicas[0]!.databaseUrl);
  const rows = await insertRegistryRows(db, fleet.hosts);
  for (let i = 1; i < 3; i++) replicas.push(await startServer("scale", env, { replicaOf: replicas[0] }));
  console.log(`${rows} processes on ${HOSTS} simulated supervisords, 3 replicas; waiting for the first sighting…`);
  const firstSightingStarted = performance.now();
  await waitFor(
    "the poller's first sighting of every program",
    async () => {
      const [[row]] = await db.query<import("mysql2").RowDataPacket[]>(
        "SELECT COUNT(*) AS n FROM fleetvisor_supervisor_observations",
      );
      return Number(row?.n) >= rows;
    },
    600_000,
    1_000,
  );
  const firstSightingSeconds = (performance.now() - firstSightingStarted) / 1000;
  // Two intervals for the rounds to settle after the burst of first sightings.
  await sleep(2 * POLL_INTERVAL_SECONDS * 1000);

  // Calls per interval, all replicas together (counted where the supervisords answer).
  const before = fleet.calls();
  await sleep(INTERVALS * POLL_INTERVAL_SECONDS * 1000);
  const callsPerInterval = (fleet.calls() - before) / INTERVALS;

  // One replica killed without a word: its share must be polled again by the others.
  const killedAt = performance.now();
  await replicas[2]!.kill("SIGKILL");
  const firstCallAfter = new Map<number, number>();
  await waitFor(
    "every supervisord polled after the kill",
    async () => {
      for (const host of fleet.hosts) {
        const at = fleet.lastCallAt(host.port);
        if (!firstCallAfter.has(host.port) && at !== undefined && at > killedAt) firstCallAfter.set(host.port, at);
      }
      return firstCallAfter.size === fleet.hosts.length;
    },
    60_000,
    50,
  );
  const repolledWithinSeconds = (Math.max(...firstCallAfter.values()) - killedAt) / 1000;

  // processPage from 20 concurrent clients, against { __typename } on the same replica.
  const call = graphqlCaller(replicas[0]!.url, ADMIN_TOKEN, 20);
  const page = () => call(PAGE_QUERY, { first: 100, maxAge: 30 });
  const typename = () => call("{ __typename }");
  await measure(20, 2, page);
  await measure(20, 2, typename);
  const seconds = Number(values.seconds);
  const baseline = await measure(20, seconds, typename);
  const pages = await measure(20, seconds, page);
  console.log(describe("{ __typename }", baseline));
  console.log(describe("processPage(first: 100)", pages));
  await db.end();

  report("fleet-scale", [
    {
      name: `supervisord calls per poll interval (${POLL_INTERVAL_SECONDS} s), 3 replicas together, ${HOSTS} supervisords`,
      value: callsPerInterval,
      unit: "calls",
      baseline: { name: "one poll of each supervisord", value: HOSTS, unit: "calls" },
      target: `within 5% of ${HOSTS} (not ${3 * HOSTS})`,
      met: Math.abs(callsPerInterval - HOSTS) <= 0.05 * HOSTS,
      note: `over ${INTERVALS} intervals; first sighting of ${rows} programs took ${firstSightingSeconds.toFixed(0)} s`,
    },
    {
      name: "one replica killed (SIGKILL): every supervisord polled again within",
      value: repolledWithinSeconds,
      unit: "s",
      baseline: { name: "poll interval", value: POLL_INTERVAL_SECONDS, unit: "s" },
      target: `≤ ${2 * POLL_INTERVAL_SECONDS} s (two intervals)`,
      met: repolledWithinSeconds <= 2 * POLL_INTERVAL_SECONDS,
      note: "replicas count as gone 3 s after their last heartbeat",
    },
    {
      name: `processPage(first: 100, maxAgeSeconds: 30) over ${rows} rows, 20 clients, p99`,
      value: pages.p99Ms,
      unit: "ms",
      baseline: { name: "{ __typename } p99", value: baseline.p99Ms, unit: "ms" },
      target: "< 30 ms",
      met: pages.p99Ms < 30,
      note: `p50 ${pages.p50Ms.toFixed(1)} ms`,
    },
    {
      name: "processPage rate",
      value: pages.perSecond,
      unit: "/s",
      baseline: { name: "{ __typename }", value: baseline.perSecond, unit: "/s" },
      target: "reported beside the baseline",
      met: true,
      note: `${((pages.perSecond / baseline.perSecond) * 100).toFixed(0)}% of the baseline's rate`,
    },
  ]);
} finally {
  await Promise.all(replicas.slice(1).map((r) => r.stop()));
  await replicas[0]?.stop();
  await fleet.stop();
}
