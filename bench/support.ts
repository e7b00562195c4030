import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { Agent, request } from "node:http";
import mysql2 from "mysql2/promise";
import { stopAllSupervisords } from "../test/support/supervisord.js";

/** The machine's MariaDB, as in the tests. */
export const MYSQL_URL = process.env.BENCH_MYSQL_URL ?? "mysql://root@127.0.0.1:3306";
export const ADMIN_TOKEN = `bench-admin-${randomBytes(12).toString("hex")}`;

/** Every bench database is named `fv_bench_<label>_<random>`; nothing else uses the prefix. */
const DATABASE_PREFIX = "fv_bench_";

/**
 * A run holds this MySQL named lock, on a connection of its own, for as long as it uses the
 * database. The server frees it when that connection goes, however the run ended (Ctrl-C,
 * kill -9, a crash), which is how a later run tells a leftover from a database in use.
 */
const lockName = (database: string): string => `fleetvisor-bench:${database}`;

function connectToServer(): Promise<mysql2.Connection> {
  const server = new URL(MYSQL_URL);
  return mysql2.createConnection({
    host: server.hostname,
    port: Number(server.port || 3306),
    user: decodeURIComponent(server.username) || "root",
    password: decodeURIComponent(server.password),
  });
}

/**
 * Drops the bench databases that interrupted runs left behind: `fv_bench_*` databases whose
 * run lock nobody holds and that no connection is using. The second test keeps a run of an
 * older checkout safe, which holds no lock but whose server stays connected to its
 * database. Test databases (`fv_test_*`) and everything else are never touched.
 */
export async function dropLeftoverBenchDatabases(connection: mysql2.Connection): Promise<string[]> {
  const pattern = `${DATABASE_PREFIX.replace(/_/g, "\\_")}%`;
  const [databases] = await connection.query<mysql2.RowDataPacket[]>(
    "SELECT SCHEMA_NAME AS name FROM INFORMATION_SCHEMA.SCHEMATA WHERE SCHEMA_NAME LIKE ?",
    [pattern],
  );
  const [connected] = await connection.query<mysql2.RowDataPacket[]>(
    "SELECT DISTINCT DB AS name FROM INFORMATION_SCHEMA.PROCESSLIST WHERE DB LIKE ?",
    [pattern],
  );
  const inUse = new Set(connected.map((row) => row.name as string));
  const dropped: string[] = [];
  for (const { name } of databases as { name: string }[]) {
    if (inUse.has(name)) continue;
    const [[lock]] = await connection.query<mysql2.RowDataPacket[]>("SELECT IS_FREE_LOCK(?) AS free", [lockName(name)]);
    if (Number(lock?.free) !== 1) continue;
    await connection.query(`DROP DATABASE IF EXISTS ${mysql2.escapeId(name)}`);
    dropped.push(name);
  }
  return dropped;
}

let leftoversDropped: Promise<void> | undefined;

/** Once per run, before its first database: say what was dropped, so that nothing vanishes unseen. */
function dropLeftoversOnce(): Promise<void> {
  leftoversDropped ??= (async () => {
    const connection = await connectToServer();
    try {
      for (const name of await dropLeftoverBenchDatabases(connection)) {
        process.stderr.write(`bench: dropped ${name}, left behind by an interrupted run\n`);
      }
    } finally {
      await connection.end();
    }
  })();
  return leftoversDropped;
}

/** What a Ctrl-C or SIGTERM must still stop and drop before the run exits. */
const onInterrupt = new Set<() => Promise<void>>();
let interruptHandled = false;

function stopEverythingOnInterrupt(): void {
  if (interruptHandled) return;
  interruptHandled = true;
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    process.once(signal, () => {
      process.stderr.write(`bench: ${signal}: stopping servers and supervisords, dropping databases\n`);
      void Promise.allSettled([...[...onInterrupt].map((stop) => stop()), stopAllSupervisords()]).then(() =>
        process.exit(signal === "SIGINT" ? 130 : 143),
      );
    });
  }
}

export interface BenchServer {
  readonly url: string;
  readonly databaseUrl: string;
  /** The server process's pid. */
  readonly pid: number;
  /** Its resident memory now, in bytes (from /proc). */
  rssBytes(): number;
  /** Sends it `signal` (SIGKILL: a replica that dies without a word) and waits for its exit. */
  kill(signal: NodeJS.Signals): Promise<void>;
  stop(): Promise<void>;
}

export interface StartOptions {
  /**
   * Another replica: the database of a server already started (which creates and drops
   * it); this one neither creates nor drops it.
   */
  readonly replicaOf?: BenchServer;
  /** V8 options instead of those `npm start` gives (e.g. [] for V8's defaults). */
  readonly v8Options?: readonly string[];
}

/**
 * Starts Fleetvisor as `npm start` runs it (the compiled service, NODE_ENV=production), in
 * its own process so that the load generator does not share its event loop. Builds first
 * when there is no build.
 */
export async function startServer(
  label: string,
  env: Record<string, string> = {},
  options: StartOptions = {},
): Promise<BenchServer> {
  if (!existsSync("dist/src/main.js")) execFileSync("npm", ["run", "build"], { stdio: "inherit" });
  stopEverythingOnInterrupt();
  await dropLeftoversOnce();
  const database = options.replicaOf
    ? new URL(options.replicaOf.databaseUrl).pathname.slice(1)
    : `${DATABASE_PREFIX}${label}_${randomBytes(3).toString("hex")}`;
  const databaseUrl = `${MYSQL_URL}/${database}`;
  let keeper: mysql2.Connection | undefined;
  if (!options.replicaOf) {
    // Taken before the server creates the database, so that it is never without its lock.
    keeper = await connectToServer();
    // An outage during the run must not crash it from an idle connection's error event.
    keeper.on("error", () => undefined);
    const [[lock]] = await keeper.query<mysql2.RowDataPacket[]>("SELECT GET_LOCK(?, 0) AS held", [lockName(database)]);
    if (Number(lock?.held) !== 1) throw new Error(`another run holds ${lockName(database)}`);
  }
  // BENCH_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof" profiles the server.
  const nodeArgs = process.env.BENCH_NODE_ARGS?.split(" ").filter(Boolean) ?? [];
  const [v8FromStart, entry] = startArguments();
  const child: ChildProcess = spawn(process.execPath, [...nodeArgs, ...(options.v8Options ?? v8FromStart), entry], {
    env: {
      ...process.env,
      DATABASE_URL: databaseUrl,
      HOST: "127.0.0.1",
      PORT: "0",
      FLEETVISOR_BOOTSTRAP_ADMIN_TOKEN: ADMIN_TOKEN,
      LOG_LEVEL: "info",
      NODE_ENV: "production",
      ...env,
    },
    stdio: ["ignore", "pipe", "inherit"],
  });
  let stopped: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopped ??= (async () => {
      onInterrupt.delete(stop);
      // On Ctrl-C the server has the signal too and may be gone already.
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise((resolve) => child.once("exit", resolve));
        child.kill("SIGTERM");
        await exited;
      }
      if (keeper) {
        await keeper.query(`DROP DATABASE IF EXISTS ${mysql2.escapeId(database)}`);
        await keeper.end();
      }
    })();
    return stopped;
  };
  onInterrupt.add(stop);
  let url: string;
  try {
    url = await new Promise<string>((resolve, reject) => {
      let out = "";
      child.stdout!.on("data", (chunk: Buffer) => {
        out += chunk.toString();
        const line = out.split("\n").find((l) => l.includes("fleetvisor is listening"));
        if (line) resolve((JSON.parse(line) as { url: string }).url.replace(/\/graphql$/, ""));
      });
      child.once("exit", (code) => reject(new Error(`server exited with ${code}`)));
    });
  } catch (error) {
    await stop();
    throw error;
  }
  const kill = async (signal: NodeJS.Signals): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once("exit", resolve));
    child.kill(signal);
    await exited;
  };
  const rssBytes = (): number => {
    const status = readFileSync(`/proc/${child.pid}/status`, "utf8");
    return Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? NaN) * 1024;
  };
  return { url, databaseUrl, pid: child.pid!, rssBytes, kill, stop };
}

/** What `npm start` gives node: its V8 options, and the entry point, from package.json. */
export function startArguments(): [v8Options: string[], entry: string] {
  const pkg = JSON.parse(readFileSync("package.json", "utf8")) as { scripts: { start: string } };
  const [command, ...args] = pkg.scripts.start.split(/\s+/);
  if (command !== "node") throw new Error(`npm start runs ${command}, not node: update bench/support.ts`);
  return [args.slice(0, -1), args.at(-1)!];
}

/** A keep-alive GraphQL client: one socket per concurrent caller, reused for every call. */
export function graphqlCaller(baseUrl: string, token: string, sockets: number) {
  const agent = new Agent({ keepAlive: true, maxSockets: sockets });
  const { hostname, port } = new URL(baseUrl);
  return (query: string, variables?: Record<string, unknown>): Promise<unknown> =>
    new Promise((resolve, reject) => {
      const body = JSON.stringify({ query, variables });
      const req = request(
        {
          agent,
          hostname,
          port,
          path: "/graphql",
          method: "POST",
          headers: {
            "content-type": "application/json",
            "content-length": Buffer.byteLength(body),
            authorization: `Bearer ${token}`,
          },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (c: Buffer) => chunks.push(c));
          res.on("end", () => {
            const parsed = JSON.parse(Buffer.concat(chunks).toString()) as { errors?: unknown[]; data?: unknown };
            if (res.statusCode !== 200 || parsed.errors)
              reject(new Error(`HTTP ${res.statusCode}: ${JSON.stringify(parsed.errors)}`));
            else resolve(parsed.data);
          });
        },
      );
      req.on("error", reject);
      req.end(body);
    });
}

export interface Measured {
  readonly calls: number;
  readonly seconds: number;
  readonly perSecond: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
}

/** Runs `call(worker)` from `workers` concurrent loops for `seconds`. */
export async function measure(
  workers: number,
  seconds: number,
  call: (worker: number) => Promise<unknown>,
): Promise<Measured> {
  const latencies: number[] = [];
  const deadline = performance.now() + seconds * 1000;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: workers }, async (_, worker) => {
      while (performance.now() < deadline) {
        const t = performance.now();
        await call(worker);
        latencies.push(performance.now() - t);
      }
    }),
  );
  const elapsed = (performance.now() - started) / 1000;
  latencies.sort((a, b) => a - b);
  const at = (q: number) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? NaN;
  return {
    calls: latencies.length,
    seconds: elapsed,
    perSecond: latencies.length / elapsed,
    p50Ms: at(0.5),
    p99Ms: at(0.99),
  };
}

export function describe(label: string, m: Measured): string {
  return `${label.padEnd(28)} ${m.perSecond.toFixed(0).padStart(7)}/s   p50 ${m.p50Ms.toFixed(2).padStart(6)} ms   p99 ${m.p99Ms.toFixed(2).padStart(6)} ms   (${m.calls} calls)`;
}
