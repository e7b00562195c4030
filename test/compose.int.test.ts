import { execFile, spawn, type ChildProcess } from "node:child_process";
import { copyFileSync, mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { dirname, join, posix } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ADMIN_TOKEN, startTestApp, type TestApp } from "./support/app.js";
import { createTestDatabase, onMysql, type TestDatabase } from "./support/database.js";
import {
  environmentOf,
  interpolate,
  modelImage,
  readCompose,
  REPOSITORY,
  type ComposeService,
} from "./support/deployment-files.js";
import { GraphQLHttpClient } from "./support/graphql-client.js";
import { freePort } from "./support/supervisord.js";
import { tempDir } from "./support/temp-dir.js";
import { until } from "./support/wait.js";

/**
 * What `docker compose up` does, without Docker: the seed runs against a real Fleetvisor
 * configured as the compose file configures the replicas, and each managed container's
 * supervisord runs the image's own config, from the files the Dockerfile copies, in the
 * environment the compose file gives it, until the API shows three healthy processes.
 * Only what needs the container network changes: loopback addresses and free ports.
 */

const run = promisify(execFile);
const compose = readCompose("docker-compose.yml");
const SEED = join(REPOSITORY, "deploy/seed_fleet.py");
const SUPERVISOR_PASSWORD = "compose-supervisord-pass-31c9";
/** The user's .env, as .env.example asks for it. */
const DOT_ENV = {
  MYSQL_PASSWORD: "unused-here",
  FLEETVISOR_BOOTSTRAP_ADMIN_TOKEN: ADMIN_TOKEN,
  SUPERVISOR_USERNAME: "admin",
  SUPERVISOR_PASSWORD,
};

interface FleetEntry {
  name: string;
  port: number;
  supervisorHost: string;
  supervisorPort: number;
  program: string;
}
const guideFleet = JSON.parse(readFileSync(join(REPOSITORY, "deploy/fleet.json"), "utf8")) as {
  processes: FleetEntry[];
};
const managed = Object.entries(compose.services).filter(([name]) => /^domaeka-test-\d\d$/.test(name));

let db: TestDatabase;
let app: TestApp;
let work: string;
let tokenDir: string;
/** deploy/fleet.json with loopback addresses and free ports. */
let localFleet: FleetEntry[];
const supervisords: ChildProcess[] = [];

/** `python3 deploy/seed_fleet.py`, as the seed service runs it. */
async function seed(
  fleetFile: string,
  adminToken = ADMIN_TOKEN,
): Promise<{ code: number; stdout: string; stderr: string }> {
  return run("python3", [SEED, fleetFile, "--token-dir", tokenDir, "--wait", "20"], {
    env: { ...process.env, FLEETVISOR_URL: app.url, FLEETVISOR_BOOTSTRAP_ADMIN_TOKEN: adminToken },
  }).then(
    ({ stdout, stderr }) => ({ code: 0, stdout, stderr }),
    (error: { code: number; stdout: string; stderr: string }) => error,
  );
}

function writeFleet(processes: FleetEntry[]): string {
  const path = join(work, `fleet-${Date.now()}.json`);
  writeFileSync(path, JSON.stringify({ processes }));
  return path;
}

const tokenOf = (name: string): string => readFileSync(join(tokenDir, name, "agent-token"), "utf8").trim();

interface Row {
  name: string;
  port: number;
  supervisorHost: string;
  supervisorPort: number;
  program: string;
  status: string;
  health?: string;
  supervisor?: { state: string; pid: number } | null;
}

/** The registry's rows; with `live`, what supervisord and health say too (null while a supervisord is away). */
async function rows(live = false): Promise<Row[]> {
  const fields = `name port supervisorHost supervisorPort program status${live ? " health supervisor { state pid }" : ""}`;
  const result = await app.admin.request<{ processes: Row[] }>(`{ processes { ${fields} } }`);
  if (!result.body.data) throw new Error(`no processes: ${JSON.stringify(result.body.errors)}`);
  return result.body.data.processes;
}

/**
 * The image's files, laid out under a folder of their own as the Dockerfile copies them,
 * and its supervisord started as its CMD starts it, in the container's environment.
 */
function startContainer(name: string, service: ComposeService, entry: FleetEntry): ChildProcess {
  const image = modelImage("client-examples", "managed-server/Dockerfile");
  const root = join(work, "containers", name);
  for (const [path, copyOf] of image.final.files) {
    const target = join(root, path);
    if (copyOf === null) {
      mkdirSync(path.endsWith("/") ? target : dirname(target), { recursive: true });
      continue;
    }
    mkdirSync(dirname(target), { recursive: true });
    copyFileSync(join(REPOSITORY, copyOf), target);
  }
  const [executable, ...args] = image.final.cmd!;
  const configInImage = args[args.indexOf("-c") + 1]!;
  const config = join(root, configInImage);
  // Loopback only: on a shared machine, not on every interface as in the container.
  writeFileSync(config, readFileSync(config, "utf8").replace("port=0.0.0.0:", "port=127.0.0.1:"));
  const env = {
    ...process.env,
    ...image.final.env,
    ...environmentOf(service, DOT_ENV),
    SUPERVISOR_PORT: String(entry.supervisorPort),
    FLEETVISOR_URL: app.url,
    FLEETVISOR_TOKEN_FILE: join(tokenDir, name, posix.basename(environmentOf(service, DOT_ENV).FLEETVISOR_TOKEN_FILE!)),
    FLEETVISOR_SUPERVISOR: `${entry.supervisorHost}:${entry.supervisorPort}`,
  };
  const child = spawn(
    executable!,
    args.map((arg) => (arg === configInImage ? config : arg)),
    {
      env,
      stdio: "ignore",
    },
  );
  supervisords.push(child);
  return child;
}

beforeAll(async () => {
  // Removed when the file ends (test/setup.ts): it holds agent tokens.
  work = tempDir("compose");
  tokenDir = join(work, "tokens");
  db = await createTestDatabase("compose");
  // A replica's environment from the compose file; only where the database and Redis are
  // differs (the embedded database, when the run is on it, serves one replica: no Redis).
  const replica = environmentOf(compose.services["fleetvisor-1"]!, DOT_ENV);
  app = await startTestApp(db.url, {
    ...replica,
    DATABASE_URL: db.url,
    REDIS_URL: onMysql ? "redis://127.0.0.1:6379" : "",
    SUPERVISOR_POLL_INTERVAL_SECONDS: "1",
  });
  localFleet = await Promise.all(
    guideFleet.processes.map(async (entry) => ({
      ...entry,
      port: await freePort(),
      supervisorHost: "127.0.0.1",
      supervisorPort: await freePort(),
    })),
  );
}, 60_000);

afterAll(async () => {
  await Promise.all(
    supervisords.map(
      (child) =>
        new Promise<void>((resolve) => {
          if (child.exitCode !== null || child.signalCode !== null) return resolve();
          child.once("exit", () => resolve());
          child.kill("SIGTERM");
          setTimeout(() => child.kill("SIGKILL"), 15_000).unref();
        }),
    ),
  );
  await app?.stop();
  await db?.drop();
}, 30_000);

describe("the seed (deploy/seed_fleet.py)", () => {
  it("creates the guide's rows and an agent token for each, readable by its owner only", async () => {
    const result = await seed(join(REPOSITORY, "deploy/fleet.json"));
    expect(result.code, result.stderr).toBe(0);
    const seeded = await rows();
    expect(
      seeded.map(({ name, port, supervisorHost, supervisorPort, program }) => ({
        name,
        port,
        supervisorHost,
        supervisorPort,
        program,
      })),
    ).toEqual(guideFleet.processes);
    for (const { name } of guideFleet.processes) {
      expect(statSync(join(tokenDir, name, "agent-token")).mode & 0o777).toBe(0o400);
      const me = await new GraphQLHttpClient(app.url, tokenOf(name)).data<{
        me: { role: string; processPattern: string };
      }>("{ me { role processPattern } }");
      expect(me.me).toEqual({ role: "AGENT", processPattern: name });
      // Never in what it prints.
      expect(result.stdout + result.stderr).not.toContain(tokenOf(name));
    }
    expect(result.stdout + result.stderr).not.toContain(ADMIN_TOKEN);
  });

  it("run again, keeps the tokens that work, follows the fleet file, and replaces a revoked token", async () => {
    const before = Object.fromEntries(guideFleet.processes.map(({ name }) => [name, tokenOf(name)]));
    const result = await seed(writeFleet(localFleet));
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).toContain(
      "domaeka-test-01: row updated (port, supervisorHost, supervisorPort), agent token kept",
    );
    for (const { name } of guideFleet.processes) expect(tokenOf(name)).toBe(before[name]);
    expect((await rows()).map((r) => [r.supervisorHost, r.supervisorPort, r.port])).toEqual(
      localFleet.map((e) => [e.supervisorHost, e.supervisorPort, e.port]),
    );

    const tokens = await app.admin.data<{ apiTokens: { id: string; name: string }[] }>("{ apiTokens { id name } }");
    const revoked = tokens.apiTokens.find((t) => t.name === "domaeka-test-02 (seed)")!;
    await app.admin.data(`mutation { revokeApiToken(id: "${revoked.id}") { id } }`);
    const again = await seed(writeFleet(localFleet));
    expect(again.code, again.stderr).toBe(0);
    expect(again.stderr).toContain("domaeka-test-02: row unchanged, agent token created");
    expect(tokenOf("domaeka-test-02")).not.toBe(before["domaeka-test-02"]);
    const after = await app.admin.data<{ apiTokens: { name: string }[] }>("{ apiTokens { name } }");
    // One working token per process, the replaced one revoked.
    expect(after.apiTokens.map((t) => t.name).sort()).toEqual(
      guideFleet.processes.map((p) => `${p.name} (seed)`).sort(),
    );
  });

  it("says so in one line and exits 1 when the admin token is not the replicas'", async () => {
    const result = await seed(writeFleet(localFleet), "not-the-bootstrap-admin-token");
    expect(result.code).toBe(1);
    expect(result.stderr.trim().split("\n")).toEqual([
      "seed: Fleetvisor refused FLEETVISOR_BOOTSTRAP_ADMIN_TOKEN (UNAUTHENTICATED): is it the one the replicas have?",
    ]);
  });
});

describe("the managed containers, as the compose file runs them", () => {
  it("end with three healthy processes, registered and reported with their own agent tokens", async () => {
    managed.forEach(([name, service], index) => startContainer(name, service, localFleet[index]!));
    const healthy = await until(
      "three healthy processes",
      async () => {
        const all = await rows(true);
        return all.length === 3 && all.every((r) => r.health === "HEALTHY" && r.supervisor?.state === "RUNNING") && all;
      },
      45_000,
    );
    expect(healthy.map((r) => r.name)).toEqual(managed.map(([name]) => name));
    // Each server registered, and each listener reported, as its own process's token.
    for (const [name] of managed) {
      const events = await until(`${name}'s registration and its listener's report`, async () => {
        const found = await db.query<{ kind: string; message: string | null }>(
          "SELECT kind, message FROM fleetvisor_process_events WHERE process_name = ? AND actor = ?",
          [name, `${name} (seed)`],
        );
        return (
          found.some((e) => e.kind === "REGISTERED") &&
          found.some((e) => e.kind === "SUPERVISOR_STATE_CHANGED" && e.message?.endsWith("(listener)")) &&
          found
        );
      });
      expect(events.length).toBeGreaterThan(1);
    }
  });
});

describe("the replicas' healthcheck", () => {
  it("follows PORT, in the compose file and in the image", async () => {
    const check = async (command: string, port: number): Promise<number> =>
      run("sh", ["-c", command], { env: { ...process.env, PORT: String(port) }, timeout: 10_000 }).then(
        () => 0,
        (error: { code: number }) => error.code,
      );
    const composeCommand = interpolate(compose.services["fleetvisor-1"]!.healthcheck!.test![1]!, DOT_ENV);
    const imageCommand = modelImage(".", "Dockerfile").final.healthcheck!.replace(/^(--\S+\s+)*CMD\s+/, "");
    const nothingThere = await freePort();
    for (const command of [composeCommand, imageCommand]) {
      expect(await check(command, app.port), command).toBe(0);
      expect(await check(command, nothingThere), command).not.toBe(0);
    }
  });
});
