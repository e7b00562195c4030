import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { existsSync, symlinkSync } from "node:fs";
import { connect } from "node:net";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { processAlive } from "../src/cli/demo/supervisord-instance.js";
import { bundled } from "./support/bundle.js";
import { connectWs, GraphQLHttpClient, type WsConnection } from "./support/graphql-client.js";
import { tempDir } from "./support/temp-dir.js";
import { until } from "./support/wait.js";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const ADMIN_TOKEN = "demo-test-admin-token-0123456789";
/** tsx compiles the service on the fly on a shared 2-core machine: readiness gets room. */
const READY_WITHIN_MS = 120_000;

/** The test runner's environment, without what would change how node or the demo runs. */
function baseEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const name of Object.keys(env)) {
    if (name.startsWith("VITEST") || name === "NODE_OPTIONS") delete env[name];
  }
  return env;
}

/** One `npm run demo`, in a process group of its own, as a terminal would run it. */
class DemoRun {
  stdout = "";
  stderr = "";
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  private constructor(readonly child: ChildProcess) {
    child.stdout!.on("data", (chunk: Buffer) => (this.stdout += chunk.toString()));
    child.stderr!.on("data", (chunk: Buffer) => (this.stderr += chunk.toString()));
    this.exited = new Promise((resolve) => child.once("exit", (code, signal) => resolve({ code, signal })));
  }

  static start(command: string, args: string[], env: NodeJS.ProcessEnv): DemoRun {
    const run = new DemoRun(
      spawn(command, args, { cwd: ROOT, env, detached: true, stdio: ["ignore", "pipe", "pipe"] }),
    );
    runs.add(run);
    return run;
  }

  static npm(): DemoRun {
    return DemoRun.start("npm", ["run", "demo"], {
      ...baseEnv(),
      PORT: "0",
      FLEETVISOR_BOOTSTRAP_ADMIN_TOKEN: ADMIN_TOKEN,
    });
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** The base URL, once the demo says it is ready. */
  async ready(): Promise<string> {
    const port = await until(
      "the demo to say it is ready",
      async () => {
        if (!this.running) throw new Error(`the demo exited early:\n${this.stdout}\n${this.stderr}`);
        return /is ready/.test(this.stdout) && /GraphQL {4}http:\/\/localhost:(\d+)\/graphql/.exec(this.stdout)?.[1];
      },
      READY_WITHIN_MS,
    );
    return `http://127.0.0.1:${port}`;
  }

  /** The supervisords it says it started: pid and XML-RPC port. */
  supervisords(): { pid: number; port: number }[] {
    return [...this.stdout.matchAll(/supervisord pid (\d+) on 127\.0\.0\.1:(\d+)/g)].map((m) => ({
      pid: Number(m[1]),
      port: Number(m[2]),
    }));
  }

  stateDir(): string {
    return /files in (\S+) \(removed on exit\)/.exec(this.stdout)![1]!;
  }

  async exit(withinMs = 60_000): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    const timeout = new Promise<never>((_, reject) =>
      setTimeout(() => reject(new Error(`the demo did not exit within ${withinMs} ms:\n${this.stdout}`)), withinMs),
    );
    return Promise.race([this.exited, timeout]);
  }
}

const runs = new Set<DemoRun>();
const sockets: WsConnection[] = [];

afterAll(async () => {
  await Promise.all(sockets.map((s) => s.dispose()));
  // A failed test may leave a demo running: stop it as Ctrl-C would, then for good.
  for (const run of runs) {
    if (!run.running) continue;
    process.kill(-run.child.pid!, "SIGINT");
    await run.exit(60_000).catch(() => process.kill(-run.child.pid!, "SIGKILL"));
  }
});

interface Row {
  name: string;
  port: number;
  health: string;
  supervisor: { state: string; pid: number | null } | null;
}

function refused(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: "127.0.0.1", port });
    socket.once("connect", () => {
      socket.destroy();
      resolve(false);
    });
    socket.once("error", () => resolve(true));
  });
}

/** Everything the running demo started, as the API and its own output show it. */
async function whatItStarted(run: DemoRun, url: string): Promise<{ pids: number[]; ports: number[] }> {
  const admin = new GraphQLHttpClient(url, ADMIN_TOKEN);
  const rows = await until("three HEALTHY processes with live supervisord fields", async () => {
    const { processes } = await admin.data<{ processes: Row[] }>(
      `{ processes { name port health supervisor { state pid } } }`,
    );
    return (
      processes.length === 3 &&
      processes.every((p) => p.health === "HEALTHY" && p.supervisor?.state === "RUNNING" && p.supervisor.pid) &&
      processes
    );
  });
  expect(rows.map((r) => r.name).sort()).toEqual(["domaeka-test-01", "domaeka-test-02", "domaeka-test-03"]);
  const { supervisors } = await admin.data<{
    supervisors: { port: number; reachable: boolean; programs: { program: string; pid: number | null }[] }[];
  }>(`{ supervisors { port reachable programs { program pid } } }`);
  const supervisords = run.supervisords();
  expect(supervisors.map((s) => s.port).sort()).toEqual(supervisords.map((s) => s.port).sort());
  // Each supervisord runs the example server and the event listener.
  for (const supervisor of supervisors) {
    expect(supervisor.programs.map((p) => p.program).sort()).toEqual(["fleetvisor-listener", "python-server"]);
    expect(supervisor.programs.every((p) => p.pid && processAlive(p.pid))).toBe(true);
  }
  const pids = [...supervisords.map((s) => s.pid), ...supervisors.flatMap((s) => s.programs.map((p) => p.pid!))];
  expect(pids).toHaveLength(9);
  return { pids, ports: [Number(new URL(url).port), ...supervisors.map((s) => s.port), ...rows.map((r) => r.port)] };
}

async function expectNothingLeft(run: DemoRun, started: { pids: number[]; ports: number[] }): Promise<void> {
  const alive = await until(
    "every process the demo started to be gone",
    async () => started.pids.every((pid) => !processAlive(pid)),
    5_000,
  ).then(
    () => [],
    () => started.pids.filter((pid) => processAlive(pid)),
  );
  expect(alive, "processes the demo started that are still there").toEqual([]);
  for (const port of started.ports) expect(await refused(port), `port ${port} still listens`).toBe(true);
  expect(existsSync(run.stateDir())).toBe(false);
  expect(run.stdout).toContain("stopped; nothing it started is left running");
}

describe("npm run demo", () => {
  it("runs three supervisords with the example server and the listener, healthy; Ctrl-C leaves nothing", async () => {
    const run = DemoRun.npm();
    const url = await run.ready();
    expect(run.stdout).toContain(`Dashboard  http://localhost:${new URL(url).port}/#token=${ADMIN_TOKEN}`);
    expect(run.stdout).toMatch(/curl -s http:\/\/localhost:\d+\/graphql -H 'authorization: Bearer /);
    const started = await whatItStarted(run, url);

    // Stopped through Fleetvisor, the example server deregisters itself on its way out.
    const ws = connectWs(url, ADMIN_TOKEN);
    sockets.push(ws);
    await ws.connected;
    const events = ws.subscribe<{ processChanged: { kind: string; processName: string; actor: string } }>(
      `subscription { processChanged(names: ["domaeka-test-02"], kinds: [DEREGISTERED], after: "0") { kind processName actor } }`,
    );
    const admin = new GraphQLHttpClient(url, ADMIN_TOKEN);
    const stopped = await admin.data<{ stopProcess: { status: string; supervisor: { state: string } } }>(
      `mutation { stopProcess(name: "domaeka-test-02") { status supervisor { state } } }`,
    );
    expect(stopped.stopProcess).toEqual({ status: "STOPPED", supervisor: { state: "STOPPED" } });
    const [deregistered] = await events.until((seen) => seen.length > 0, 10_000, "the DEREGISTERED event");
    expect(deregistered!.processChanged).toEqual({
      kind: "DEREGISTERED",
      processName: "domaeka-test-02",
      actor: "domaeka-test-02-agent",
    });
    await ws.dispose();

    // Ctrl-C in a terminal: SIGINT to the whole foreground process group.
    process.kill(-run.child.pid!, "SIGINT");
    expect(await run.exit()).toEqual({ code: 0, signal: null });
    await expectNothingLeft(run, started);
  });

  it("starts cleanly right after, and SIGTERM to npm alone stops everything too", async () => {
    const run = DemoRun.npm();
    const url = await run.ready();
    const started = await whatItStarted(run, url);
    process.kill(run.child.pid!, "SIGTERM");
    expect((await run.exit()).code).toBe(0);
    await expectNothingLeft(run, started);
  });

  it("without python3 on the PATH: one line saying what to install, exit 2", async () => {
    const emptyBin = tempDir("demo-no-python");
    const run = DemoRun.start(process.execPath, [await bundled("demo")], {
      ...baseEnv(),
      PATH: emptyBin,
    });
    expect(await run.exit()).toEqual({ code: 2, signal: null });
    expect(run.stdout).toBe("");
    expect(run.stderr.trimEnd().split("\n")).toEqual([
      expect.stringMatching(/^fleetvisor demo: npm run demo needs python3 on the PATH .*apt-get install python3/),
    ]);
  });

  it("without supervisord on the PATH: tries its own virtual environment, and says what to install when pip fails", async () => {
    const bin = tempDir("demo-no-supervisord");
    const python = execFileSync("python3", ["-c", "import sys; print(sys.executable)"]).toString().trim();
    symlinkSync(python, join(bin, "python3"));
    const cache = tempDir("demo-cache");
    const run = DemoRun.start(process.execPath, [await bundled("demo")], {
      ...baseEnv(),
      PATH: bin,
      XDG_CACHE_HOME: cache,
      // PyPI as this machine sees it: not reachable (and no local index or wheels).
      PIP_CONFIG_FILE: "/dev/null",
      PIP_INDEX_URL: "http://127.0.0.1:9/simple",
      PIP_RETRIES: "0",
      PIP_TIMEOUT: "2",
    });
    expect(await run.exit(120_000)).toEqual({ code: 2, signal: null });
    const venv = join(cache, "fleetvisor", "demo-supervisor-venv");
    expect(run.stdout).toContain(`installing the supervisor>=4.3,<5 Python package into ${venv}`);
    const lines = run.stderr.trimEnd().split("\n");
    expect(lines).toHaveLength(1);
    // Where python3 has venv (this machine), pip is what fails; elsewhere, the venv module.
    expect(lines[0]).toMatch(
      /^fleetvisor demo: could not (install the Python package "supervisor>=4\.3,<5" \(pip: .+\)|create a Python virtual environment in .+); install supervisord \(Debian\/Ubuntu: sudo apt-get install supervisor;/,
    );
    if (lines[0]!.includes("could not install")) expect(existsSync(join(venv, "bin", "python"))).toBe(true);
  });
});
