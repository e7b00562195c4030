import { randomBytes } from "node:crypto";
import mysql2 from "mysql2/promise";

/** The machine's MariaDB (see PITFALLS.md); override with TEST_MYSQL_URL. */
export const TEST_MYSQL_URL = process.env.TEST_MYSQL_URL ?? "mysql://root@127.0.0.1:3306";

export interface TestDatabase {
  readonly name: string;
  /** `DATABASE_URL` for this database. */
  readonly url: string;
  /** Runs SQL directly against the database (to check what a test did). */
  query<T = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<T[]>;
  drop(): Promise<void>;
}

export interface TestDatabaseOptions {
  /**
   * Create the database up front with this default character set (as older MySQL servers
   * do, `latin1`), instead of letting Fleetvisor create it.
   */
  readonly characterSet?: "latin1";
}

/**
 * A fresh, empty database for one test file. Fleetvisor creates it itself when it
 * migrates, unless `characterSet` asks for one made beforehand; `drop()` removes it.
 */
export async function createTestDatabase(label: string, options: TestDatabaseOptions = {}): Promise<TestDatabase> {
  const name = `fv_test_${label.replace(/[^a-z0-9]/gi, "_")}_${randomBytes(4).toString("hex")}`.slice(0, 64);
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
