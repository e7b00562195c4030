import { randomBytes } from "node:crypto";
import mysql2 from "mysql2/promise";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { dropLeftoverBenchDatabases } from "../bench/support.js";
import { TEST_MYSQL_URL } from "./support/database.js";

const suffix = randomBytes(3).toString("hex");
const names = {
  leftover: `fv_bench_cleanup_${suffix}_leftover`,
  locked: `fv_bench_cleanup_${suffix}_locked`,
  connected: `fv_bench_cleanup_${suffix}_connected`,
  test: `fv_test_cleanup_${suffix}`,
  lookalike: `fv_benchmark_${suffix}`,
};
const connections: mysql2.Connection[] = [];

async function connect(database?: string): Promise<mysql2.Connection> {
  const server = new URL(TEST_MYSQL_URL);
  const connection = await mysql2.createConnection({
    host: server.hostname,
    port: Number(server.port || 3306),
    user: decodeURIComponent(server.username) || "root",
    password: decodeURIComponent(server.password),
    database,
  });
  connections.push(connection);
  return connection;
}

async function exists(admin: mysql2.Connection, name: string): Promise<boolean> {
  const [rows] = await admin.query<mysql2.RowDataPacket[]>(
    "SELECT 1 FROM INFORMATION_SCHEMA.SCHEMATA WHERE SCHEMA_NAME = ?",
    [name],
  );
  return rows.length > 0;
}

let admin: mysql2.Connection;

beforeAll(async () => {
  admin = await connect();
  for (const name of Object.values(names)) await admin.query(`CREATE DATABASE ${mysql2.escapeId(name)}`);
  // A run of this checkout holds its lock; a run of an older one is connected to its database.
  const runner = await connect();
  await runner.query("SELECT GET_LOCK(?, 0)", [`fleetvisor-bench:${names.locked}`]);
  await connect(names.connected);
});

afterAll(async () => {
  for (const name of Object.values(names)) await admin?.query(`DROP DATABASE IF EXISTS ${mysql2.escapeId(name)}`);
  for (const connection of connections.reverse()) await connection.end().catch(() => undefined);
});

describe("a bench run's start", () => {
  it("drops the bench databases interrupted runs left, and nothing a run still uses or that is not a bench's", async () => {
    const dropped = await dropLeftoverBenchDatabases(admin);
    expect(dropped.filter((name) => name.includes(suffix))).toEqual([names.leftover]);
    expect(await exists(admin, names.leftover)).toBe(false);
    for (const kept of [names.locked, names.connected, names.test, names.lookalike]) {
      expect(await exists(admin, kept), kept).toBe(true);
    }
  });
});
