import { execFile, spawn, type ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import mysql2 from "mysql2/promise";
import { freePort } from "./supervisord.js";
import { tempDir } from "./temp-dir.js";
import { until } from "./wait.js";

const run = promisify(execFile);

/**
 * A private MariaDB server (Debian's mariadbd) on a free loopback port with its own data
 * directory, that a test may kill, restart, freeze (SIGSTOP) and thaw: the machine's own
 * server is shared by every test file and must never go away.
 */
export class PrivateMariaDb {
  private child: ChildProcess | undefined;

  private constructor(
    private currentPort: number,
    private readonly dir: string,
  ) {}

  get port(): number {
    return this.currentPort;
  }

  /** `DATABASE_URL` for `database` on this server (Fleetvisor creates it when it migrates). */
  url(database = "fleetvisor"): string {
    return `mysql://root@127.0.0.1:${this.port}/${database}`;
  }

  static async start(): Promise<PrivateMariaDb> {
    const dir = tempDir("mariadb");
    await run("mariadb-install-db", [
      "--no-defaults",
      `--datadir=${join(dir, "data")}`,
      "--auth-root-authentication-method=normal",
      "--skip-test-db",
      "--user=root",
    ]);
    const server = new PrivateMariaDb(await freePort(), dir);
    // A free port may be taken by another test file between the probe and mariadbd's bind:
    // then it exits at once, and the first start tries another port.
    for (let attempt = 1; ; attempt++) {
      try {
        await server.restart();
        return server;
      } catch (error) {
        if (attempt >= 3 || !/address already in use|bind on tcp/i.test(String(error))) throw error;
        server.currentPort = await freePort();
      }
    }
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  /**
   * Starts the server (again) on its port and data; resolves once it answers queries, and
   * fails with the end of mariadbd's own log if it exits first.
   */
  async restart(): Promise<void> {
    const log = join(this.dir, `mariadbd-${Date.now()}.log`);
    const child = spawn(
      "mariadbd",
      [
        "--no-defaults",
        `--datadir=${join(this.dir, "data")}`,
        `--port=${this.port}`,
        "--bind-address=127.0.0.1",
        `--socket=${join(this.dir, "mysqld.sock")}`,
        `--pid-file=${join(this.dir, "mysqld.pid")}`,
        `--tmpdir=${this.dir}`,
        "--user=root",
        "--skip-log-bin",
        "--skip-name-resolve",
        "--innodb-buffer-pool-size=32M",
        `--log-error=${log}`,
      ],
      { stdio: "ignore" },
    );
    this.child = child;
    const exited = () => child.exitCode !== null || child.signalCode !== null;
    // Crash recovery after a kill, on a machine busy with other test files, can take a while.
    await until(`mariadbd on port ${this.port}`, async () => exited() || (await this.answers()), 60_000);
    if (exited()) {
      let tail = "";
      try {
        tail = readFileSync(log, "utf8").trim().split("\n").slice(-5).join("\n");
      } catch {
        tail = "(no log)";
      }
      throw new Error(`mariadbd on port ${this.port} exited (${child.exitCode ?? child.signalCode}):\n${tail}`);
    }
  }

  /** SIGKILL, as a crash: connections drop at once. */
  async kill(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once("exit", resolve));
    child.kill("SIGKILL");
    await exited;
  }

  /** SIGSTOP: connections stay open and nothing answers (a hung server). */
  freeze(): void {
    this.child?.kill("SIGSTOP");
  }

  thaw(): void {
    this.child?.kill("SIGCONT");
  }

  async stop(): Promise<void> {
    this.thaw();
    await this.kill(); // its folder goes with the test file's other temp dirs
  }

  /** Runs SQL against `database` on this server (to check what a test did). */
  async query<T = Record<string, unknown>>(sql: string, params: unknown[] = [], database = "fleetvisor"): Promise<T[]> {
    const connection = await mysql2.createConnection({ host: "127.0.0.1", port: this.port, user: "root", database });
    try {
      const [rows] = await connection.query(sql, params);
      return rows as T[];
    } finally {
      await connection.end();
    }
  }

  private async answers(): Promise<boolean> {
    const connection = await mysql2
      .createConnection({ host: "127.0.0.1", port: this.port, user: "root", connectTimeout: 1_000 })
      .catch(() => null);
    if (!connection) return false;
    try {
      await connection.query("SELECT 1");
      return true;
    } catch {
      return false;
    } finally {
      await connection.end().catch(() => undefined);
    }
  }
}
