import { execFile, spawn, type ChildProcess } from "node:child_process";
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";
import { promisify } from "node:util";
import { tempDir } from "./temp-dir.js";

const run = promisify(execFile);

export interface ProgramSpec {
  readonly command: string;
  /** @default true */
  readonly autostart?: boolean;
  /** @default 0 */
  readonly startsecs?: number;
  /** @default 0 */
  readonly startretries?: number;
  /** @default false */
  readonly autorestart?: boolean | "unexpected";
  /** @default 2 */
  readonly stopwaitsecs?: number;
  readonly environment?: Readonly<Record<string, string>>;
  /** Extra lines for the [program:x] section. */
  readonly extra?: readonly string[];
}

export interface EventListenerSpec {
  readonly command: string;
  /** e.g. PROCESS_STATE */
  readonly events: string;
  /** The listener's environment; it may depend on the port supervisord listens on. */
  readonly environment?: (port: number) => Readonly<Record<string, string>>;
}

export interface SupervisordOptions {
  /** The port to listen on. @default a free one */
  readonly port?: number;
  readonly programs: Readonly<Record<string, ProgramSpec>>;
  readonly eventListeners?: Readonly<Record<string, EventListenerSpec>>;
  /** Basic auth for the inet_http_server; none when omitted. */
  readonly auth?: { readonly username: string; readonly password: string };
  /** Leave out [rpcinterface:supervisor] (a misconfigured supervisord). @default true */
  readonly rpcinterface?: boolean;
}

/**
 * A real supervisord on a free loopback port, with a temp config and its own logs. Its
 * directory (the config holds its password) is removed when it stops, and every one still
 * running when a test file ends is stopped then (test/setup.ts).
 */
export class Supervisord {
  private constructor(
    readonly port: number,
    readonly dir: string,
    readonly configPath: string,
    private readonly child: ChildProcess,
    private readonly options: SupervisordOptions,
  ) {}

  readonly host = "127.0.0.1";

  get pid(): number {
    return this.child.pid!;
  }

  static async start(options: SupervisordOptions): Promise<Supervisord> {
    const dir = tempDir("supervisord");
    const port = options.port ?? (await freePort());
    const configPath = join(dir, "supervisord.conf");
    writeFileSync(configPath, renderConfig(dir, port, options));
    const child = spawn("supervisord", ["-n", "-c", configPath], { stdio: "ignore" });
    const supervisord = new Supervisord(port, dir, configPath, child, options);
    live.add(supervisord);
    try {
      await supervisord.waitUntilAnswering(30_000);
    } catch (error) {
      // Its log says why; the directory itself does not outlive the test file.
      const log = readLogTail(join(dir, "supervisord.log"));
      await supervisord.stop();
      throw new Error(`${(error as Error).message}${log ? `; its log ends:\n${log}` : ""}`);
    }
    return supervisord;
  }

  /** `supervisorctl -c <conf> ...args`, with this instance's credentials. */
  async ctl(...args: string[]): Promise<string> {
    const result = await run("supervisorctl", ["-c", this.configPath, ...args]).catch(
      (error: { stdout?: string; code?: number }) => {
        // supervisorctl exits non-zero for "ERROR (not running)" and friends; callers read the text.
        return { stdout: error.stdout ?? "", stderr: "" };
      },
    );
    return result.stdout;
  }

  /**
   * When supervisord last spawned `name` and when that start entered RUNNING (after
   * startsecs), in ms, from its own log: to the millisecond, where getProcessInfo's start
   * time counts whole seconds.
   */
  lastStart(name: string): { spawnedAt: number; runningAt: number } {
    const at = (line: string) => Date.parse(line.slice(0, 23).replace(" ", "T").replace(",", "."));
    const lines = readFileSync(join(this.dir, "supervisord.log"), "utf8").split("\n");
    const spawned = lines.findLastIndex((line) => line.includes(`spawned: '${name}' with pid`));
    const running = lines.findLastIndex((line) => line.includes(`success: ${name} entered RUNNING state`));
    if (spawned < 0 || running < spawned) throw new Error(`supervisord's log shows no finished start of ${name}`);
    return { spawnedAt: at(lines[spawned]!), runningAt: at(lines[running]!) };
  }

  /** The pid supervisord reports for a program, or 0. */
  async programPid(name: string): Promise<number> {
    return (await this.processInfo(name))?.pid ?? 0;
  }

  /** The state supervisord reports for a program (RUNNING, STOPPED, …), or "" for an unknown one. */
  async programState(name: string): Promise<string> {
    return (await this.processInfo(name))?.state ?? "";
  }

  /**
   * supervisord's own `getProcessInfo`, asked over its XML-RPC port: what supervisorctl
   * status would print, without starting a Python process for every look (tests poll).
   */
  private async processInfo(name: string): Promise<{ state: string; pid: number } | undefined> {
    const xml = await this.call("supervisor.getProcessInfo", name);
    if (xml.includes("<fault>")) return undefined;
    const member = (key: string) =>
      new RegExp(`<name>${key}</name>\\s*<value>\\s*<(?:string|int|i4)>([^<]*)</`).exec(xml)?.[1];
    const state = member("statename");
    if (state === undefined) throw new Error(`supervisord on ${this.port} answered getProcessInfo with ${xml}`);
    return { state, pid: Number(member("pid") ?? 0) };
  }

  private async call(method: string, ...params: string[]): Promise<string> {
    const values = params.map((p) => `<param><value><string>${escapeXml(p)}</string></value></param>`).join("");
    const response = await fetch(`http://127.0.0.1:${this.port}/RPC2`, {
      method: "POST",
      headers: this.headers(),
      body: `<?xml version='1.0'?><methodCall><methodName>${method}</methodName><params>${values}</params></methodCall>`,
      signal: AbortSignal.timeout(10_000),
    });
    if (!response.ok) throw new Error(`supervisord on ${this.port} answered ${method} with HTTP ${response.status}`);
    return response.text();
  }

  private headers(): Record<string, string> {
    const auth = this.options.auth;
    const headers: Record<string, string> = { "content-type": "text/xml" };
    if (auth) headers.authorization = `Basic ${Buffer.from(`${auth.username}:${auth.password}`).toString("base64")}`;
    return headers;
  }

  async waitForState(name: string, state: string, withinMs = 15_000): Promise<void> {
    const deadline = Date.now() + withinMs;
    while ((await this.programState(name)) !== state) {
      if (Date.now() > deadline) throw new Error(`${name} did not reach ${state}: ${await this.ctl("status", name)}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /** SIGSTOP: the port still accepts connections, but nothing answers. */
  pause(): void {
    this.child.kill("SIGSTOP");
  }

  resume(): void {
    this.child.kill("SIGCONT");
  }

  async stop(): Promise<void> {
    if (!live.has(this)) return;
    live.delete(this);
    this.resume();
    if (this.child.exitCode === null && this.child.signalCode === null) {
      const exited = new Promise((resolve) => this.child.once("exit", resolve));
      this.child.kill("SIGTERM");
      const timer = setTimeout(() => this.child.kill("SIGKILL"), 10_000);
      await exited;
      clearTimeout(timer);
    }
    rmSync(this.dir, { recursive: true, force: true });
  }

  private async waitUntilAnswering(withinMs: number): Promise<void> {
    const deadline = Date.now() + withinMs;
    const headers = this.headers();
    for (;;) {
      if (this.child.exitCode !== null) throw new Error(`supervisord exited with ${this.child.exitCode}`);
      try {
        const response = await fetch(`http://127.0.0.1:${this.port}/RPC2`, {
          method: "POST",
          headers,
          body: "<?xml version='1.0'?><methodCall><methodName>system.listMethods</methodName><params/></methodCall>",
        });
        if (response.ok) return;
      } catch {
        // not listening yet
      }
      if (Date.now() > deadline) throw new Error(`supervisord on ${this.port} did not answer within ${withinMs}ms`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

const live = new Set<Supervisord>();
process.once("exit", () => {
  for (const supervisord of live) supervisord["child"].kill("SIGKILL");
});

/** Stops every supervisord this test file started and has not stopped (and removes its directory). */
export async function stopAllSupervisords(): Promise<void> {
  await Promise.all([...live].map((supervisord) => supervisord.stop()));
}

function escapeXml(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

function readLogTail(path: string, lines = 20): string {
  try {
    return readFileSync(path, "utf8").trimEnd().split("\n").slice(-lines).join("\n");
  } catch {
    return "";
  }
}

/** Ports this worker handed out: two callers never get the same one. */
const handedOut = new Set<number>();

/** The lowest port the kernel picks as the local port of an outgoing connection. */
function ephemeralLow(): number {
  try {
    const low = Number(readFileSync("/proc/sys/net/ipv4/ip_local_port_range", "utf8").trim().split(/\s+/)[0]);
    return Number.isInteger(low) ? low : 32_768;
  } catch {
    return 32_768;
  }
}

/** Binds `port` (0: any the kernel picks) on 127.0.0.1 and releases it: the port, or null if taken. */
function tryListen(port: number): Promise<number | null> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once("error", () => resolve(null));
    server.listen(port, "127.0.0.1", () => {
      const bound = (server.address() as { port: number }).port;
      server.close(() => resolve(bound));
    });
  });
}

/**
 * A port nothing listens on now, below the kernel's ephemeral range. A server under test
 * binds its port later and again after each restart, and in between a port of that range
 * can be taken as the local port of any outgoing connection on the machine (a database
 * pool's, for minutes): the restarted server then fails to bind, again and again. Where
 * the range leaves too few ports below it, any port the kernel picks.
 */
export async function freePort(): Promise<number> {
  const [from, low] = [10_000, ephemeralLow()];
  for (let attempt = 0; low - from > 1_000 && attempt < 100; attempt++) {
    const port = from + Math.floor(Math.random() * (low - from));
    if (handedOut.has(port) || (await tryListen(port)) === null) continue;
    handedOut.add(port);
    return port;
  }
  const port = await tryListen(0);
  if (port === null) throw new Error("could not bind any port on 127.0.0.1");
  return port;
}

function renderEnvironment(environment: Readonly<Record<string, string>>): string {
  return Object.entries(environment)
    .map(([k, v]) => `${k}="${v.replace(/"/g, '\\"').replace(/%/g, "%%")}"`)
    .join(",");
}

function renderConfig(dir: string, port: number, options: SupervisordOptions): string {
  const auth = options.auth;
  const lines = [
    "[supervisord]",
    `logfile=${join(dir, "supervisord.log")}`,
    `pidfile=${join(dir, "supervisord.pid")}`,
    `childlogdir=${dir}`,
    "loglevel=info",
    "",
    "[inet_http_server]",
    `port=127.0.0.1:${port}`,
    ...(auth ? [`username=${auth.username}`, `password=${auth.password}`] : []),
    "",
    "[supervisorctl]",
    `serverurl=http://127.0.0.1:${port}`,
    ...(auth ? [`username=${auth.username}`, `password=${auth.password}`] : []),
    "",
  ];
  if (options.rpcinterface !== false) {
    lines.push(
      "[rpcinterface:supervisor]",
      "supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface",
      "",
    );
  }
  for (const [name, spec] of Object.entries(options.programs)) {
    const environment = spec.environment ? renderEnvironment(spec.environment) : undefined;
    lines.push(
      `[program:${name}]`,
      `command=${spec.command}`,
      `autostart=${spec.autostart ?? true}`,
      `autorestart=${spec.autorestart ?? false}`,
      `startsecs=${spec.startsecs ?? 0}`,
      `startretries=${spec.startretries ?? 0}`,
      `stopwaitsecs=${spec.stopwaitsecs ?? 2}`,
      "stopasgroup=true",
      "killasgroup=true",
      `stdout_logfile=${join(dir, `${name}.out.log`)}`,
      `stderr_logfile=${join(dir, `${name}.err.log`)}`,
      ...(environment ? [`environment=${environment}`] : []),
      ...(spec.extra ?? []),
      "",
    );
  }
  for (const [name, spec] of Object.entries(options.eventListeners ?? {})) {
    lines.push(
      `[eventlistener:${name}]`,
      `command=${spec.command}`,
      `events=${spec.events}`,
      "buffer_size=100",
      "autorestart=true",
      `stdout_logfile=${join(dir, `${name}.out.log`)}`,
      `stderr_logfile=${join(dir, `${name}.err.log`)}`,
      ...(spec.environment ? [`environment=${renderEnvironment(spec.environment(port))}`] : []),
      "",
    );
  }
  return lines.join("\n");
}
