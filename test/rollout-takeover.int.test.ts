import { spawn, type ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ManualClock } from "../src/clock.js";
import { loadConfig } from "../src/config/config.js";
import { openDatabases } from "../src/db/connect.js";
import { DatabaseHealth } from "../src/db/database-health.js";
import type { OpenDatabases } from "../src/db/database.js";
import { createLogger } from "../src/logger.js";
import { RolloutLeases } from "../src/rollout/rollout-leases.js";
import { ADMIN_TOKEN } from "./support/app.js";
import { bundled } from "./support/bundle.js";
import { createTestDatabase, onMysql, type TestDatabase } from "./support/database.js";
import { connectWs, GraphQLHttpClient, type WsConnection } from "./support/graphql-client.js";
import { freePort, Supervisord } from "./support/supervisord.js";
import { until } from "./support/wait.js";

/** src/main.ts compiled, as `npm start` runs it (set in beforeAll). */
let main: string;
const EXAMPLE = fileURLToPath(new URL("../client-examples/python/example_server.py", import.meta.url));
const AUTH = { username: "fleet", password: "takeover-pass-82e1" };
const LEASE_SECONDS = 3;
const NAMES = ["take-01", "take-02", "take-03", "take-04"];

interface Replica {
  readonly child: ChildProcess;
  readonly url: string;
  stdout(): string;
}

interface LogLine {
  msg: string;
  time: string;
  [field: string]: unknown;
}

let db: TestDatabase;
let supervisord: Supervisord;
const replicas: Replica[] = [];
const sockets: WsConnection[] = [];
const pools: OpenDatabases[] = [];

function logLines(replica: Replica): LogLine[] {
  return replica
    .stdout()
    .split("\n")
    .filter((line) => line.startsWith("{"))
    .map((line) => JSON.parse(line) as LogLine);
}

/** A replica as `npm start` runs it (src/main.ts compiled), its own process, on `port`. */
async function startReplica(port: number): Promise<Replica> {
  const child = spawn(process.execPath, [main], {
    env: {
      PATH: process.env.PATH ?? "",
      HOME: process.env.HOME ?? "",
      DATABASE_URL: db.url,
      HOST: "127.0.0.1",
      PORT: String(port),
      FLEETVISOR_BOOTSTRAP_ADMIN_TOKEN: ADMIN_TOKEN,
      LOG_LEVEL: "info",
      SUPERVISOR_USERNAME: AUTH.username,
      SUPERVISOR_PASSWORD: AUTH.password,
      SUPERVISOR_POLL_INTERVAL_SECONDS: "0",
      HEARTBEAT_INTERVAL_SECONDS: "1",
      HEARTBEAT_STALE_SECONDS: "5",
      HEARTBEAT_CHECK_INTERVAL_SECONDS: "0",
      ROLLOUT_LEASE_SECONDS: String(LEASE_SECONDS),
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  let err = "";
  child.stdout!.on("data", (d: Buffer) => (out += d.toString()));
  child.stderr!.on("data", (d: Buffer) => (err += d.toString()));
  const replica: Replica = { child, url: `http://127.0.0.1:${port}`, stdout: () => out };
  replicas.push(replica);
  await until(
    `the replica on ${port} to listen`,
    async () => {
      if (child.exitCode !== null) throw new Error(`exited ${child.exitCode}: ${err}${out}`);
      return logLines(replica).some((line) => line.msg === "fleetvisor is listening");
    },
    60_000,
  );
  return replica;
}

function spawns(name: string): number {
  const log = readFileSync(join(supervisord.dir, "supervisord.log"), "utf8");
  return log.split("\n").filter((line) => line.includes(`spawned: '${name}' with pid`)).length;
}

interface Step {
  processName: string;
  outcome: string;
}
interface Rollout {
  id: string;
  state: string;
  steps: Step[];
}

beforeAll(async () => {
  if (!onMysql) return;
  main = await bundled("main");
  db = await createTestDatabase("takeover");
});

afterAll(async () => {
  await Promise.all(sockets.map((socket) => socket.dispose()));
  for (const replica of replicas) replica.child.kill("SIGKILL");
  await supervisord?.stop();
  await Promise.all(pools.map((pool) => pool.close()));
  await db?.drop();
});

describe.runIf(onMysql)("a rollout when the replica running it dies", () => {
  it("is taken over within the lease and finished by another replica; every process restarted exactly once", async () => {
    const [portA, portB] = [await freePort(), await freePort()];
    // B first: it creates the database; then A beside it.
    const b = await startReplica(portB);
    const a = await startReplica(portA);
    const adminB = new GraphQLHttpClient(b.url, ADMIN_TOKEN);
    const token = async (role: string, name: string, processPattern?: string) =>
      (
        await adminB.data<{ createApiToken: { token: string } }>(
          `mutation($input: CreateApiTokenInput!) { createApiToken(input: $input) { token } }`,
          { input: { name, role, processPattern } },
        )
      ).createApiToken.token;
    const operator = new GraphQLHttpClient(a.url, await token("OPERATOR", "ops"));
    const viewerToken = await token("VIEWER", "watcher");
    const agentToken = await token("AGENT", "take-agent", "take-*");

    const supervisorPort = await freePort();
    for (const name of NAMES) {
      await adminB.data(`mutation($input: CreateProcessInput!) { createProcess(input: $input) { id } }`, {
        input: { name, port: await freePort(), supervisorHost: "127.0.0.1", supervisorPort, program: name },
      });
    }
    // The servers report to B, which outlives A.
    supervisord = await Supervisord.start({
      port: supervisorPort,
      auth: AUTH,
      programs: Object.fromEntries(
        NAMES.map((name) => [
          name,
          {
            command: `python3 -u ${EXAMPLE} --host 127.0.0.1`,
            startsecs: 2,
            stopwaitsecs: 5,
            environment: { FLEETVISOR_URL: b.url, FLEETVISOR_TOKEN: agentToken },
          },
        ]),
      ),
    });
    await until(
      "every server registered",
      async () => {
        const rows = await db.query<{ status: string }>(
          "SELECT status FROM kb_server_processes WHERE process_name LIKE 'take-%'",
        );
        return rows.length === NAMES.length && rows.every((r) => r.status === "running");
      },
      30_000,
    );
    const pidsBefore = new Map(
      await Promise.all(NAMES.map(async (n) => [n, await supervisord.programPid(n)] as const)),
    );
    const spawnsBefore = new Map(NAMES.map((n) => [n, spawns(n)]));

    // Started on A; watched on B.
    const { startRollout } = await operator.data<{ startRollout: Rollout }>(
      `mutation($names: [String!]) { startRollout(input: { action: RESTART, names: $names, healthTimeoutSeconds: 30 }) { id state } }`,
      { names: NAMES },
    );
    const socket = connectWs(b.url, viewerToken);
    sockets.push(socket);
    const changes = socket.subscribe<{ rolloutChanged: Rollout }>(
      `subscription($id: ID!) { rolloutChanged(id: $id) { id state steps { processName outcome } } }`,
      { id: startRollout.id },
    );

    // Mid-step: the second step is under way on A. Then A dies without a word.
    await until(
      "the second step under way",
      async () => {
        const [step] = await db.query<{ outcome: string }>(
          "SELECT outcome FROM fleetvisor_rollout_steps WHERE rollout_id = ? AND position = 1",
          [Number(startRollout.id)],
        );
        return step?.outcome === "IN_PROGRESS";
      },
      30_000,
    );
    const [held] = await db.query<{ lease_owner: string }>("SELECT lease_owner FROM fleetvisor_rollouts WHERE id = ?", [
      Number(startRollout.id),
    ]);
    const owner = held!.lease_owner;
    a.child.kill("SIGKILL");
    const killedAt = Date.now();

    const done = await changes.until(
      (values) => values.at(-1)?.rolloutChanged.state !== "RUNNING" && values.length > 0,
      60_000,
      "the rollout to finish",
    );
    const last = done.at(-1)!.rolloutChanged;
    expect(last.state).toBe("SUCCEEDED");
    expect(last.steps.map((s) => s.outcome)).toEqual(Array(NAMES.length).fill("DONE"));
    // B's subscriber saw what A wrote before it died, and what B wrote after.
    expect(done.some((v) => v.rolloutChanged.steps[0]!.outcome === "IN_PROGRESS")).toBe(true);

    // B took it over within the lease, from A, and re-checked the step A left under way.
    const takeover = logLines(b).find((line) => line.msg.startsWith(`taking over rollout ${startRollout.id} `));
    expect(takeover).toMatchObject({ from: owner });
    expect(Date.parse(takeover!.time) - killedAt).toBeLessThan(LEASE_SECONDS * 1000);
    expect(logLines(b).some((line) => line.msg.includes("re-checked the step under way on take-02"))).toBe(true);

    // Every process restarted exactly once: one spawn more each, and a new pid.
    for (const name of NAMES) {
      expect(spawns(name), name).toBe(spawnsBefore.get(name)! + 1);
      expect(await supervisord.programPid(name)).not.toBe(pidsBefore.get(name));
    }
    const [row] = await db.query<{ lease_owner: string | null; state: string }>(
      "SELECT lease_owner, state FROM fleetvisor_rollouts WHERE id = ?",
      [Number(startRollout.id)],
    );
    expect(row).toEqual({ lease_owner: null, state: "SUCCEEDED" });
  }, 180_000);

  it("a lapsed lease is claimed by exactly one of the replicas racing for it", async () => {
    const config = loadConfig({ DATABASE_URL: db.url, LOG_LEVEL: "silent" }).database;
    // A day ahead: the lease lapses for these four, never for the replicas of the test above,
    // still running on this database, whose takeover sweeps would claim it first.
    const clock = new ManualClock(new Date(Date.now() + 86_400_000));
    const leases = [];
    for (let i = 0; i < 4; i++) {
      const pool = await openDatabases(config, { health: new DatabaseHealth(clock), logger: createLogger("silent") });
      pools.push(pool);
      leases.push(new RolloutLeases(pool.requests, clock));
    }
    await db.query(
      `INSERT INTO fleetvisor_rollouts (action, state, max_unavailable, wait_for_healthy, health_timeout_seconds,
        pause_seconds, created_by, created_by_role, created_at, lease_owner, lease_until)
       VALUES ('RESTART', 'RUNNING', 1, 1, 60, 0, 'ops', 'operator', ?, 'dead-replica', ?)`,
      [new Date(), new Date(Date.now() + 3_600_000)],
    );
    const id = Number((await db.query<{ id: number }>("SELECT MAX(id) AS id FROM fleetvisor_rollouts"))[0]!.id);
    for (let round = 0; round < 5; round++) {
      clock.advance(10_000);
      const claims = await Promise.all(leases.map((lease, i) => lease.claim(id, `replica-${i}`, 5_000)));
      expect(claims.filter(Boolean)).toHaveLength(1);
      const winner = `replica-${claims.indexOf(true)}`;
      // Held: nobody else may renew it, and it is no longer lapsed.
      expect(await leases[0]!.renew(id, winner === "replica-0" ? "replica-1" : "replica-0", 5_000)).toBe(false);
      expect(await leases[1]!.renew(id, winner, 5_000)).toBe(true);
      expect((await leases[2]!.lapsed()).map((r) => r.id)).not.toContain(id);
    }
  });
});
