import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { Agent, request } from "node:http";
import mysql2 from "mysql2/promise";

/** The machine's MariaDB, as in the tests. */
export const MYSQL_URL = process.env.BENCH_MYSQL_URL ?? "mysql://root@127.0.0.1:3306";
export const ADMIN_TOKEN = `bench-admin-${randomBytes(12).toString("hex")}`;

export interface BenchServer {
  readonly url: string;
  readonly databaseUrl: string;
  stop(): Promise<void>;
}

/**
 * Starts Fleetvisor as `npm start` runs it (the compiled service, NODE_ENV=production), in
 * its own process so that the load generator does not share its event loop. Builds first
 * when there is no build.
 */
export async function startServer(label: string, env: Record<string, string> = {}): Promise<BenchServer> {
  if (!existsSync("dist/src/main.js")) execFileSync("npm", ["run", "build"], { stdio: "inherit" });
  const database = `fv_bench_${label}_${randomBytes(3).toString("hex")}`;
  const databaseUrl = `${MYSQL_URL}/${database}`;
  // BENCH_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof" profiles the server.
  const nodeArgs = process.env.BENCH_NODE_ARGS?.split(" ").filter(Boolean) ?? [];
  const child: ChildProcess = spawn(process.execPath, [...nodeArgs, ...startArguments()], {
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
  const url = await new Promise<string>((resolve, reject) => {
    let out = "";
    child.stdout!.on("data", (chunk: Buffer) => {
      out += chunk.toString();
      const line = out.split("\n").find((l) => l.includes("fleetvisor is listening"));
      if (line) resolve((JSON.parse(line) as { url: string }).url.replace(/\/graphql$/, ""));
    });
    child.once("exit", (code) => reject(new Error(`server exited with ${code}`)));
  });
  return {
    url,
    databaseUrl,
    async stop() {
      child.kill("SIGTERM");
      await new Promise((r) => child.once("exit", r));
      const server = new URL(MYSQL_URL);
      const connection = await mysql2.createConnection({
        host: server.hostname,
        port: Number(server.port || 3306),
        user: "root",
      });
      await connection.query(`DROP DATABASE IF EXISTS \`${database}\``);
      await connection.end();
    },
  };
}

/** What `npm start` gives node (its V8 options and the entry point), from package.json. */
function startArguments(): string[] {
  const pkg = JSON.parse(readFileSync("package.json", "utf8")) as { scripts: { start: string } };
  const [command, ...args] = pkg.scripts.start.split(/\s+/);
  if (command !== "node") throw new Error(`npm start runs ${command}, not node: update bench/support.ts`);
  return args;
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
