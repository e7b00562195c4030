import { spawn, type ChildProcess } from "node:child_process";
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { SupervisorClient } from "../../supervisor/supervisor-client.js";
import type { SupervisordBinaries } from "./prerequisites.js";
import { configFile, renderSupervisordConfig, type InstanceSpec, type ProgramsSpec } from "./supervisord-config.js";

/** How long supervisord may take to answer after it is spawned. */
const ANSWER_WITHIN_MS = 20_000;
/**
 * How long a stop waits for supervisord to exit: its programs' `stopwaitsecs` (5) and the
 * SIGKILL after it, with room to spare, before it is killed itself.
 */
const EXIT_WITHIN_MS = 15_000;

/** Whether `pid` is a live process (a zombie, exited and not yet reaped, is not). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
  } catch {
    // No /proc (macOS): kill(0) is all there is. With /proc, the process has just gone.
    return !existsSync("/proc/self");
  }
}

function tail(path: string, lines = 8): string {
  try {
    return readFileSync(path, "utf8").trimEnd().split("\n").slice(-lines).join("\n");
  } catch {
    return "";
  }
}

/**
 * One supervisord the demo started: spawned in a session of its own, so that a Ctrl-C in
 * the terminal reaches the demo alone and the demo stops it after the programs have
 * deregistered, not in a race with it.
 */
export class SupervisordInstance {
  private readonly exited: Promise<void>;
  private stopping: Promise<void> | undefined;

  private constructor(
    readonly spec: InstanceSpec,
    private readonly child: ChildProcess,
    private readonly client: SupervisorClient,
  ) {
    this.exited = new Promise((resolve) => child.once("exit", () => resolve()));
  }

  /** The supervisord process. */
  get pid(): number {
    return this.child.pid ?? 0;
  }

  get address(): { readonly host: string; readonly port: number } {
    return { host: "127.0.0.1", port: this.spec.port };
  }

  /**
   * Writes the instance's config (readable by its owner only: it holds the password) and
   * spawns supervisord on it. The caller registers {@link stop} at once, then waits for
   * {@link answering}.
   */
  static spawn(
    spec: InstanceSpec,
    programs: ProgramsSpec,
    binaries: SupervisordBinaries,
    env: NodeJS.ProcessEnv,
    client: SupervisorClient,
  ): SupervisordInstance {
    mkdirSync(spec.dir, { recursive: true, mode: 0o700 });
    writeFileSync(configFile(spec), renderSupervisordConfig(spec, programs), { mode: 0o600 });
    // Its own errors before its log exists (a bad config, a port taken) go to a file.
    const stderr = openSync(join(spec.dir, "supervisord.stderr"), "w", 0o600);
    try {
      const child = spawn(binaries.supervisord, ["-n", "-c", configFile(spec)], {
        detached: true,
        stdio: ["ignore", "ignore", stderr],
        env,
      });
      child.once("error", () => undefined); // reported by answering(): it never answers
      return new SupervisordInstance(spec, child, client);
    } finally {
      closeSync(stderr);
    }
  }

  /** Resolves once supervisord answers XML-RPC; fails with its own words when it exits or stays silent. */
  async answering(): Promise<void> {
    const deadline = Date.now() + ANSWER_WITHIN_MS;
    for (;;) {
      if (this.child.exitCode !== null || this.child.signalCode !== null || this.child.pid === undefined) {
        throw new Error(`supervisord for ${this.spec.name} exited at start${this.explain()}`);
      }
      try {
        await this.client.getAllProcessInfo(this.address);
        return;
      } catch {
        // not listening yet
      }
      if (Date.now() > deadline) {
        throw new Error(
          `supervisord for ${this.spec.name} did not answer on port ${this.spec.port} within ${ANSWER_WITHIN_MS / 1000} s${this.explain()}`,
        );
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  /** The end of a log of this instance, e.g. `python-server.err.log`. */
  logTail(file: string, lines?: number): string {
    return tail(join(this.spec.dir, file), lines);
  }

  private explain(): string {
    const said = this.logTail("supervisord.stderr") || this.logTail("supervisord.log");
    return said ? `; it said:\n${said}` : "";
  }

  /**
   * Stops supervisord (it stops its programs first: the example server deregisters) and
   * waits until it has exited. If it does not exit in time it is killed, and so is every
   * program it ran that is still there. Safe to call more than once.
   */
  stop(): Promise<void> {
    this.stopping ??= this.stopOnce();
    return this.stopping;
  }

  private async stopOnce(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null || this.child.pid === undefined) return;
    const programs = await this.client
      .getAllProcessInfo(this.address)
      .then((all) => all.map((info) => info.pid).filter((pid) => pid > 0))
      .catch(() => [] as number[]);
    this.child.kill("SIGTERM");
    const inTime = await Promise.race([
      this.exited.then(() => true),
      new Promise<boolean>((resolve) => setTimeout(resolve, EXIT_WITHIN_MS, false).unref()),
    ]);
    if (!inTime) {
      kill(-this.pid);
      await this.exited;
    }
    // supervisord runs each program as a process group leader (stopasgroup, killasgroup).
    for (const pid of programs) if (processAlive(pid)) kill(-pid) || kill(pid);
  }
}

function kill(pid: number): boolean {
  try {
    process.kill(pid, "SIGKILL");
    return true;
  } catch {
    return false;
  }
}
