import { randomBytes } from "node:crypto";
import { join } from "node:path";
import Sqlite from "better-sqlite3";
import mysql2 from "mysql2/promise";
import { tempDir } from "./temp-dir.js";

/** The machine's MariaDB (see PITFALLS.md); override with TEST_MYSQL_URL. */
export const TEST_MYSQL_URL = process.env.TEST_MYSQL_URL ?? "mysql://root@127.0.0.1:3306";

/**
 * Which database the integration tests run on: `DB=sqlite` runs them on the embedded
 * SQLite database (each test file its own file), anything else on MariaDB.
 */
export const TEST_DIALECT: "mysql" | "sqlite" = process.env.DB === "sqlite" ? "sqlite" : "mysql";

/** Tests of what only MySQL does (several replicas, a server that goes away) run only there. */
export const onMysql = TEST_DIALECT === "mysql";

export interface TestDatabase {
  readonly name: string;
  readonly dialect: "mysql" | "sqlite";
  /** `DATABASE_URL` for this database. */
  readonly url: string;
  /**
   * Runs SQL directly against the database (to check what a test did). Write portable SQL;
   * pass times as `Date` parameters.
   */
  query<T = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<T[]>;
  drop(): Promise<void>;
}

/** A DATETIME as read back: MySQL gives a Date, SQLite the UTC text Fleetvisor stored. */
export function storedTime(value: Date | string | null): Date | null {
  if (value === null || value instanceof Date) return value;
  return new Date(`${value.replace(" ", "T")}Z`);
}

export interface TestDatabaseOptions {
  /**
   * Create the database up front with this default character set (as older MySQL servers
   * do, `latin1`), instead of letting Fleetvisor create it. MySQL only.
   */
  readonly characterSet?: "latin1";
}

/**
 * A fresh, empty database for one test file, on the dialect the run is for. Fleetvisor
 * creates it itself when it migrates, unless `characterSet` asks for one made beforehand;
 * `drop()` removes it.
 */
export async function createTestDatabase(label: string, options: TestDatabaseOptions = {}): Promise<TestDatabase> {
  const name = `fv_test_${label.replace(/[^a-z0-9]/gi, "_")}_${randomBytes(4).toString("hex")}`.slice(0, 64);
  return TEST_DIALECT === "sqlite" && !options.characterSet ? sqliteDatabase(name) : mysqlDatabase(name, options);
}

async function mysqlDatabase(name: string, options: TestDatabaseOptions): Promise<TestDatabase> {
  const server = new URL(TEST_MYSQL_URL);
  const connection = await mysql2.createConnection({
    host: server.hostname,
    port: Number(server.port || 3306),
    user: decodeURIComponent(server.username) || "root",
    password: decodeURIComponent(server.password),
    timezone: "Z",
    dateStrings: false,
  });
  await connection.query(`DROP DATABASE IF EXISTS \`${name}\``);
  if (options.characterSet) {
    await connection.query(`CREATE DATABASE \`${name}\` CHARACTER SET ${options.characterSet}`);
  }
  await connection.query("SET time_zone = '+00:00'");
  return {
    name,
    dialect: "mysql",
    url: `${TEST_MYSQL_URL.replace(/\/$/, "")}/${name}`,
    async query<T>(sql: string, params: unknown[] = []): Promise<T[]> {
      await connection.query(`USE \`${name}\``);
      const [rows] = await connection.query(sql, params);
      return rows as T[];
    },
    async drop() {
      await connection.query(`DROP DATABASE IF EXISTS \`${name}\``);
      await connection.end();
    },
  };
}

/** A file in a temp folder (removed with the test file's other temp dirs). */
function sqliteDatabase(name: string): TestDatabase {
  const path = join(tempDir("sqlite"), `${name}.db`);
  let connection: Sqlite.Database | undefined;
  const open = (): Sqlite.Database => {
    // Opened on first use: Fleetvisor creates the file when it migrates.
    connection ??= new Sqlite(path, { timeout: 5_000 });
    return connection;
  };
  return {
    name,
    dialect: "sqlite",
    url: `sqlite:${path}`,
    async query<T>(sql: string, params: unknown[] = []): Promise<T[]> {
      const statement = open().prepare(sql);
      // Stored as Fleetvisor's TypeORM stores them: UTC text.
      const bound = params.map((p) => (p instanceof Date ? p.toISOString().replace("T", " ").replace("Z", "") : p));
      return (statement.reader ? statement.all(...bound) : (statement.run(...bound), [])) as T[];
    },
    async drop() {
      connection?.close();
    },
  };
}
