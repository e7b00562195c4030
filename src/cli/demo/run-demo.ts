import { randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startApp } from "../../app.js";
import { loadConfig, type Config } from "../../config/config.js";
import { packageRoot } from "../../package-root.js";
import { createLogger } from "../../logger.js";
import { SupervisorClient } from "../../supervisor/supervisor-client.js";
import { localBaseUrl, publicBaseUrl, readyBanner } from "./banner.js";
import { openDemoLog } from "./demo-log.js";
import { AdminApi, fleetHealth, planFleet, registerFleet, writeCredentialsFile, type DemoInstance } from "./fleet.js";
import {
  ensureSupervisord,
  findPython,
  planSupervisord,
  venvDirectory,
  type Python,
  type SupervisordBinaries,
} from "./prerequisites.js";
import type { StopRequest } from "./stop-request.js";
import { PROGRAM } from "./supervisord-config.js";
import { SupervisordInstance } from "./supervisord-instance.js";

/** How long the three servers have to register and be HEALTHY. */
const READY_WITHIN_MS = 60_000;

/**
 * Fleetvisor settings the demo chooses unless the environment sets them: loopback only (a
 * demo's admin token is printed on the terminal), and heartbeats often enough that a hung
 * server shows within seconds.
 */
const DEMO_DEFAULTS: Readonly<Record<string, string>> = {
  HOST: "127.0.0.1",
  HEARTBEAT_INTERVAL_SECONDS: "5",
  HEARTBEAT_STALE_SECONDS: "15",
};

/** Variables the demo sets itself, whatever the environment says: it brings its own database and supervisords. */
const REPLACED = [
  "DATABASE_URL",
  "REDIS_URL",
  "SUPERVISOR_USERNAME",
  "SUPERVISOR_PASSWORD",
  "SUPERVISOR_CREDENTIALS_FILE",
];

/** What supervisord and its programs inherit: never the admin token or anything else of Fleetvisor's. */
const INHERITED = /^(PATH|HOME|USER|LOGNAME|LANG|LANGUAGE|LC_[A-Z]+|TZ|TMPDIR)$/;

/** A step failed in a way the message explains. */
export class DemoError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "DemoError";
  }
}

/** What is to be undone, most recent first. */
export type Cleanup = { readonly what: string; readonly run: () => unknown }[];

/** The demo's Fleetvisor configuration: the environment, the demo's defaults, and what it brings itself. */
function demoSettings(env: Readonly<Record<string, string | undefined>>, adminToken: string) {
  return (databasePath: string, credentialsFile?: string): Config =>
    loadConfig(
      { ...DEMO_DEFAULTS, ...env },
      {
        DATABASE_URL: `sqlite:${databasePath}`,
        REDIS_URL: undefined,
        SUPERVISOR_USERNAME: undefined,
        SUPERVISOR_PASSWORD: undefined,
        SUPERVISOR_CREDENTIALS_FILE: credentialsFile,
        MIGRATE_ON_START: "true",
        FLEETVISOR_BOOTSTRAP_ADMIN_TOKEN: adminToken,
      },
    );
}

/**
 * Starts the demo and resolves with what to print once it is ready (or throws). Everything
 * it starts is added to the front of `cleanup` as soon as it exists, so that the caller
 * stops it, most recent first, whatever happens next.
 */
export async function startDemo(
  env: Readonly<Record<string, string | undefined>>,
  stop: StopRequest,
  cleanup: Cleanup,
  say: (line: string) => void,
): Promise<string> {
  const startedAt = Date.now();
  const generatedToken = env.FLEETVISOR_BOOTSTRAP_ADMIN_TOKEN ? undefined : randomBytes(24).toString("base64url");
  const adminToken = env.FLEETVISOR_BOOTSTRAP_ADMIN_TOKEN || generatedToken!;
  const settings = demoSettings(env, adminToken);
  // Every problem with the environment first, before anything is installed or started.
  const fleetvisorPort = settings("demo.db").http.port;

  const python = await findPython(env.PATH);
  const binaries = await ensureSupervisord(planSupervisord(env.PATH, venvDirectory(env)), python, say);
  stop.check();
  const source = binaries.from === "PATH" ? "the PATH" : "the demo's virtual environment";
  say(`python3 ${python.version} (${python.executable}); supervisord from ${source} (${binaries.supervisord})`);

  const stateDir = mkdtempSync(join(tmpdir(), "fleetvisor-demo-"));
  cleanup.unshift({ what: `remove ${stateDir}`, run: () => rmSync(stateDir, { recursive: true, force: true }) });
  say(`files in ${stateDir} (removed on exit)`);
  const instances = await planFleet(stateDir, new Set(fleetvisorPort > 0 ? [fleetvisorPort] : []));
  for (const instance of instances) mkdirSync(instance.dir, { mode: 0o700 });
  const credentialsFile = join(stateDir, "supervisor-credentials.json");
  writeCredentialsFile(credentialsFile, instances);

  const replaced = REPLACED.filter((name) => env[name]);
  if (replaced.length > 0) say(`ignoring ${replaced.join(", ")}: the demo brings its own database and supervisords`);
  const databasePath = join(stateDir, "fleetvisor.db");
  const config = settings(databasePath, credentialsFile);
  const log = openDemoLog(join(stateDir, "fleetvisor.log"));
  cleanup.unshift({ what: "close Fleetvisor's log", run: () => log.close() });
  const app = await startApp(config, { logger: createLogger(config.logLevel, {}, log.destination) });
  cleanup.unshift({ what: "stop Fleetvisor", run: () => app.stop() });
  const baseUrl = publicBaseUrl(config.http.host, app.port);
  const localUrl = localBaseUrl(config.http.host, app.port);
  say(`Fleetvisor listening on ${baseUrl}, on its embedded SQLite database ${databasePath}`);
  stop.check();

  const api = new AdminApi(localUrl, adminToken);
  await registerFleet(api, instances);
  say(
    `registry: ${instances.map((i) => i.name).join(", ")} (program ${PROGRAM} on each one's supervisord), ` +
      "one AGENT token each, in a file its programs read",
  );
  stop.check();

  const running = startSupervisords(instances, { python, binaries, fleetvisorUrl: localUrl, env }, cleanup);
  await stop.race(Promise.all(running.map((s) => s.answering())));
  for (const [index, supervisord] of running.entries()) say(describeInstance(instances[index]!, supervisord.pid));

  say("waiting for the example servers to register…");
  await stop.race(untilHealthy(api, running));
  return readyBanner({
    baseUrl,
    adminToken,
    tokenGenerated: generatedToken !== undefined,
    instances,
    binaries,
    stateDir,
    seconds: (Date.now() - startedAt) / 1000,
  });
}

/**
 * Spawns one supervisord per instance, running the example server and the event listener
 * from this checkout, with a client of their own to ask them for their programs.
 */
function startSupervisords(
  instances: readonly DemoInstance[],
  setup: {
    readonly python: Python;
    readonly binaries: SupervisordBinaries;
    readonly fleetvisorUrl: string;
    readonly env: Readonly<Record<string, string | undefined>>;
  },
  cleanup: Cleanup,
): SupervisordInstance[] {
  const byPort = new Map(instances.map((i) => [i.port, { username: i.username, password: i.password }]));
  const client = new SupervisorClient({
    credentials: (address) => byPort.get(address.port),
    readTimeoutMs: 1_000,
    controlTimeoutMs: 10_000,
  });
  cleanup.unshift({ what: "close the supervisord client", run: () => client.close() });
  const root = packageRoot();
  const programs = {
    python: setup.python.executable,
    exampleServer: join(root, "client-examples", "python", "example_server.py"),
    listener: join(root, "client-examples", "supervisor-listener", "fleetvisor_listener.py"),
    fleetvisorUrl: setup.fleetvisorUrl,
  };
  const env = {
    ...Object.fromEntries(Object.entries(setup.env).filter(([name]) => INHERITED.test(name))),
    PYTHONUNBUFFERED: "1",
    // No __pycache__ left in the checkout.
    PYTHONDONTWRITEBYTECODE: "1",
  };
  const running = instances.map((spec) => SupervisordInstance.spawn(spec, programs, setup.binaries, env, client));
  // In parallel: each waits for its programs to stop, the example server deregistering first.
  cleanup.unshift({ what: "stop the supervisords", run: () => Promise.all(running.map((s) => s.stop())) });
  return running;
}

function describeInstance(instance: DemoInstance, pid: number): string {
  return (
    `${instance.name}: supervisord pid ${pid} on 127.0.0.1:${instance.port} (user ${instance.username}, generated password), ` +
    `running ${PROGRAM} (the example server, port ${instance.servedPort}) and the event listener`
  );
}

/** Polls the API until every instance's process is HEALTHY; fails naming the ones that are not, and why. */
async function untilHealthy(api: AdminApi, running: readonly SupervisordInstance[]): Promise<void> {
  const deadline = Date.now() + READY_WITHIN_MS;
  let last = "no answer from Fleetvisor yet";
  for (;;) {
    try {
      const rows = await fleetHealth(api);
      const unhealthy = rows.filter((row) => row.health !== "HEALTHY");
      if (rows.length === running.length && unhealthy.length === 0) return;
      last = unhealthy
        .map((row) => {
          const supervisord = running.find((s) => s.spec.name === row.name);
          const stderr = supervisord?.logTail(`${PROGRAM}.err.log`, 5);
          return `${row.name} is ${row.health} (${row.healthReasons.join("; ")})${stderr ? `; its stderr ends:\n${stderr}` : ""}`;
        })
        .join("\n");
    } catch (error) {
      last = (error as Error).message;
    }
    if (Date.now() > deadline) {
      throw new DemoError(`the example servers were not all HEALTHY within ${READY_WITHIN_MS / 1000} s:\n${last}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}
