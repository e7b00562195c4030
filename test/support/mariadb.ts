import { execFile, spawn, type ChildProcess } from "node:child_process";
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
    readonly port: number,
    private readonly dir: string,
  ) {}

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
    await server.restart();
    return server;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** Starts the server (again) on its port and data; resolves once it answers queries. */
  async restart(): Promise<void> {
    this.child = spawn(
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
      ],
      { stdio: "ignore" },
    );
    await until(`mariadbd on port ${this.port}`, () => this.answers(), 30_000);
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
