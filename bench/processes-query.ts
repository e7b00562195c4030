/**
 * bench/processes-query — not a test. The `processes` query with live supervisord fields
 * for 1,000 processes across 50 supervisord instances, against two baselines in the same
 * run, through the same XML-RPC client:
 *
 * - the guide's way: one `getProcessInfo` per process, one after another;
 * - the floor: one `getAllProcessInfo` per supervisord, all at once.
 *
 * On loopback, and through a proxy that adds 1 ms to every round trip. Targets: within
 * 1.25× of the floor; at least 3× faster than the guide's way on loopback, 6× with the
 * added millisecond. Then the overhead of `startProcess` over a raw XML-RPC startProcess.
 *
 * The server runs as in production, its poller on. The poller's first sighting of each
 * program is a one-off burst of writes (an observation and an event per program); the
 * rounds start once it is over, so that they measure the steady state. `--rounds` prints
 * every round's times; `--pause-ms` sets the pause before each timed call (see time()).
 *
 *   npm run bench:processes-query [-- --hosts 50 --programs 20 --runs 7 --rounds]
 */
import { parseArgs } from "node:util";
import mysql2 from "mysql2/promise";
import { SupervisorClient } from "../src/supervisor/supervisor-client.js";
import { Supervisord } from "../test/support/supervisord.js";
import { startDelayProxy } from "./delay-proxy.js";
import { ADMIN_TOKEN, graphqlCaller, startServer } from "./support.js";

const { values } = parseArgs({
  options: {
    hosts: { type: "string", default: "50" },
    programs: { type: "string", default: "20" },
    runs: { type: "string", default: "31" },
    "guide-runs": { type: "string", default: "7" },
    "start-runs": { type: "string", default: "21" },
    "pause-ms": { type: "string", default: "150" },
    rounds: { type: "boolean", default: false },
  },
});
const HOSTS = Number(values.hosts);
const PROGRAMS = Number(values.programs);
const RUNS = Number(values.runs);
const GUIDE_RUNS = Number(values["guide-runs"]);
const PAUSE_MS = Number(values["pause-ms"]);
const AUTH = { username: "bench", password: "bench-password" };
const QUERY = `query($prefix: String!) { processes(filter: { namePrefix: $prefix }) {
  name status pid lastHeartbeat supervisor { state pid uptimeSeconds exitStatus } health } }`;

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/**
 * Times one call, after a pause: fifty supervisords that have just answered (the call
 * before) answer the next one markedly slower than rested ones do, whoever asks, and a
 * dashboard's query usually meets a rested fleet. Every contender gets the same pause.
 */
async function time(work: () => Promise<unknown>): Promise<number> {
  await new Promise((r) => setTimeout(r, PAUSE_MS));
  const started = performance.now();
  await work();
  return performance.now() - started;
}

/**
 * Runs the contenders in turn, round after round, so that the drift of a shared machine
 * hits all of them alike; returns each one's times, round by round.
 */
async function interleaved<K extends string>(
  runs: number,
  contenders: Record<K, () => Promise<unknown>>,
): Promise<Record<K, number[]>> {
  const entries = Object.entries(contenders) as [K, () => Promise<unknown>][];
  // Warm-up: the JIT of both processes and the connection pools.
  for (let i = 0; i < 5; i++) for (const [, work] of entries) await work();
  const times = Object.fromEntries(entries.map(([k]) => [k, [] as number[]])) as unknown as Record<K, number[]>;
  for (let i = 0; i < runs; i++) {
    // Rotate who goes first: whatever the one before leaves behind (warm sockets, busy
    // supervisords) falls on each in turn.
    for (let j = 0; j < entries.length; j++) {
      const [k, work] = entries[(i + j) % entries.length]!;
      times[k].push(await time(work));
    }
  }
  return times;
}

/** The median of the ratios of paired runs (same round): robust to drift between rounds. */
const pairedRatio = (a: number[], b: number[]): number => median(a.map((x, i) => x / b[i]!));

console.log(`starting ${HOSTS} supervisord instances with ${PROGRAMS} programs each…`);
const programs = Object.fromEntries(
  Array.from({ length: PROGRAMS }, (_, j) => [`p${String(j).padStart(2, "0")}`, { command: "sleep 100000" }]),
);
const supervisords: Supervisord[] = [];
for (let i = 0; i < HOSTS; i += 10) {
  supervisords.push(
    ...(await Promise.all(
      Array.from({ length: Math.min(10, HOSTS - i) }, () =>
        Supervisord.start({
          auth: AUTH,
          programs: { ...programs, overhead: { command: "sleep 100000", autostart: false } },
        }),
      ),
    )),
  );
}
const proxies = await Promise.all(supervisords.map((s) => startDelayProxy(s.port, 1)));
const server = await startServer("processes", {
  SUPERVISOR_USERNAME: AUTH.username,
  SUPERVISOR_PASSWORD: AUTH.password,
  SUPERVISOR_TIMEOUT_MS: "20000",
});
const client = new SupervisorClient({ credentials: () => AUTH, readTimeoutMs: 20_000, controlTimeoutMs: 60_000 });

try {
  // The registry: the same 1,000 processes twice, once direct, once behind the delaying proxies.
  const db = await mysql2.createConnection(server.databaseUrl);
  const rows: unknown[][] = [];
  for (const [prefix, ports] of [
    ["direct", supervisords.map((s) => s.port)],
    ["delayed", proxies.map((p) => p.port)],
  ] as const) {
    ports.forEach((port, i) => {
      for (const program of Object.keys(programs)) {
        rows.push([`${prefix}-h${String(i).padStart(2, "0")}-${program}`, 8000, "127.0.0.1", port, program, "stopped"]);
      }
    });
  }
  await db.query(
    "INSERT INTO kb_server_processes (process_name, port, supervisor_host, supervisor_port, supervisor_program, status) VALUES ?",
    [rows],
  );
  await db.query(
    "INSERT INTO kb_server_processes (process_name, port, supervisor_host, supervisor_port, supervisor_program, status) VALUES (?, 8000, '127.0.0.1', ?, 'overhead', 'stopped')",
    ["overhead", supervisords[0]!.port],
  );

  // The poller (on, every 5 s, as in production) records its first sighting of every
  // program once; measure the steady state that follows, not that one-off burst.
  const expected = rows.length + 1;
  const registered = performance.now();
  const deadline = Date.now() + 180_000;
  for (let seen = 0; seen < expected;) {
    if (Date.now() > deadline) throw new Error(`the poller saw ${seen} of ${expected} programs in 3 minutes`);
    await new Promise((r) => setTimeout(r, 500));
    const [[count]] = await db.query<mysql2.RowDataPacket[]>(
      "SELECT COUNT(*) AS n FROM fleetvisor_supervisor_observations",
    );
    seen = Number(count!.n);
  }
  console.log(
    `the poller's first sighting of ${expected} programs was over ${((performance.now() - registered) / 1000).toFixed(1)} s after they were registered`,
  );

  const call = graphqlCaller(server.url, ADMIN_TOKEN, 4);
  const results: Record<
    string,
    { vsFloor: Record<"fleetvisor" | "floor", number[]>; vsGuide: Record<"fleetvisor" | "guide", number[]> }
  > = {};
  for (const [label, prefix, ports] of [
    ["loopback", "direct-", supervisords.map((s) => s.port)],
    ["+1 ms per round trip", "delayed-", proxies.map((p) => p.port)],
  ] as const) {
    const check = (await call(QUERY, { prefix })) as { processes: { supervisor: { state: string } | null }[] };
    const live = check.processes.filter((p) => p.supervisor?.state === "RUNNING").length;
    if (live !== HOSTS * PROGRAMS) throw new Error(`expected ${HOSTS * PROGRAMS} running processes, saw ${live}`);

    const fleetvisor = () => call(QUERY, { prefix });
    // Each comparison in rounds of its own, so that neither contender of the close one
    // (against the floor) follows the guide's thousand calls more often than the other.
    results[label] = {
      vsFloor: await interleaved(RUNS, {
        fleetvisor,
        floor: () => Promise.all(ports.map((port) => client.getAllProcessInfo({ host: "127.0.0.1", port }))),
      }),
      vsGuide: await interleaved(GUIDE_RUNS, {
        fleetvisor,
        // The guide's admin page: read the registry, then ask each row's supervisord in turn.
        guide: async () => {
          const [registry] = await db.query<mysql2.RowDataPacket[]>(
            "SELECT * FROM kb_server_processes WHERE process_name LIKE ? ORDER BY process_name",
            [`${prefix}%`],
          );
          for (const row of registry) {
            await client.getProcessInfo(
              { host: row.supervisor_host as string, port: row.supervisor_port as number },
              row.supervisor_program as string,
            );
          }
        },
      }),
    };
  }

  console.log(
    `\nbench/processes-query: ${HOSTS * PROGRAMS} processes on ${HOSTS} supervisord instances; ${RUNS} interleaved rounds against the floor, ${GUIDE_RUNS} against the guide's way (medians; ratios are medians of per-round ratios)`,
  );
  for (const [label, r] of Object.entries(results)) {
    const guideTarget = label === "loopback" ? 3 : 6;
    console.log(`\n${label}`);
    if (values.rounds) {
      for (const [comparison, times] of Object.entries(r))
        for (const [k, xs] of Object.entries(times))
          console.log(`  ${comparison} ${k.padEnd(10)} ${xs.map((x) => x.toFixed(0).padStart(5)).join("")}`);
    }
    const { vsFloor, vsGuide } = r;
    console.log(
      `  floor (getAllProcessInfo per host, all at once)  ${median(vsFloor.floor).toFixed(1).padStart(8)} ms`,
    );
    console.log(
      `  Fleetvisor processes query                      ${median(vsFloor.fleetvisor).toFixed(1).padStart(8)} ms`,
    );
    console.log(
      `  guide's way (getProcessInfo per process, serial) ${median(vsGuide.guide).toFixed(1).padStart(8)} ms`,
    );
    console.log(`  Fleetvisor / floor: ${pairedRatio(vsFloor.fleetvisor, vsFloor.floor).toFixed(2)}× (target ≤ 1.25×)`);
    console.log(
      `  guide / Fleetvisor: ${pairedRatio(vsGuide.guide, vsGuide.fleetvisor).toFixed(1)}× faster (target ≥ ${guideTarget}×)`,
    );
  }

  // startProcess: the mutation against a raw XML-RPC call on the same program (startsecs=0).
  const address = { host: "127.0.0.1", port: supervisords[0]!.port };
  const raw: number[] = [];
  const viaFleetvisor: number[] = [];
  const startRuns = Number(values["start-runs"]);
  for (let i = 0; i < startRuns + 1; i++) {
    await client.stopProcess(address, "overhead").catch(() => undefined);
    const r = await time(() => client.startProcess(address, "overhead"));
    await client.stopProcess(address, "overhead");
    const f = await time(() => call(`mutation { startProcess(name: "overhead") { status } }`));
    if (i > 0) {
      raw.push(r);
      viaFleetvisor.push(f);
    }
  }
  await client.stopProcess(address, "overhead").catch(() => undefined);
  console.log(`\nstartProcess, median of ${startRuns}`);
  console.log(`  raw XML-RPC startProcess   ${median(raw).toFixed(1).padStart(7)} ms`);
  console.log(`  Fleetvisor startProcess    ${median(viaFleetvisor).toFixed(1).padStart(7)} ms`);
  console.log(`  overhead: ${(median(viaFleetvisor) - median(raw)).toFixed(1)} ms (target < 10 ms)`);
  await db.end();
} finally {
  client.close();
  await server.stop();
  await Promise.all(proxies.map((p) => p.close()));
  await Promise.all(supervisords.map((s) => s.stop()));
}
