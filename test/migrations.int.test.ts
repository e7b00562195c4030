import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { afterEach, describe, expect, it } from "vitest";
import { startApp } from "../src/app.js";
import { loadConfig } from "../src/config/config.js";
import { runMigrations } from "../src/db/migrate.js";
import { createLogger } from "../src/logger.js";
import { migrations } from "../migrations/index.js";
import { createTestDatabase, type TestDatabase } from "./support/database.js";

const run = promisify(execFile);
const ALL_MIGRATIONS = migrations.map((m) => m.name);
const silent = createLogger("silent");
const databases: TestDatabase[] = [];

async function freshDatabase(label: string): Promise<TestDatabase> {
  const db = await createTestDatabase(label);
  databases.push(db);
  return db;
}

afterEach(async () => {
  await Promise.all(databases.splice(0).map((db) => db.drop()));
});

/** The guide's DDL, exactly as deployments created it by hand. */
const GUIDE_DDL = `CREATE TABLE IF NOT EXISTS kb_server_processes (
    id INT AUTO_INCREMENT PRIMARY KEY,
    process_name VARCHAR(100) UNIQUE NOT NULL,
    port INT NOT NULL,
    pid INT DEFAULT NULL,
    status ENUM('stopped', 'starting', 'running', 'stopping', 'error') DEFAULT 'stopped',
    supervisor_host VARCHAR(100),
    supervisor_port INT,
    last_heartbeat DATETIME,
    created_at DATETIME DEFAULT CURRENT_TIMESTAMP,
    updated_at DATETIME DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP
)`;

interface ColumnInfo {
  COLUMN_NAME: string;
  COLUMN_TYPE: string;
  IS_NULLABLE: string;
  COLUMN_DEFAULT: string | null;
}

async function columns(db: TestDatabase): Promise<ColumnInfo[]> {
  return db.query<ColumnInfo>(
    `SELECT COLUMN_NAME, COLUMN_TYPE, IS_NULLABLE, COLUMN_DEFAULT FROM INFORMATION_SCHEMA.COLUMNS
     WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'kb_server_processes' ORDER BY ORDINAL_POSITION`,
  );
}

function config(db: TestDatabase) {
  return loadConfig({ DATABASE_URL: db.url, LOG_LEVEL: "silent", PORT: "0", HOST: "127.0.0.1" }).database;
}

describe("migrations", () => {
  it("create kb_server_processes with every column of the guide's DDL, same names and types", async () => {
    const guide = await freshDatabase("mig_guide");
    await runMigrations(config(guide), silent); // creates the database
    await guide.query("DROP TABLE kb_server_processes");
    await guide.query(GUIDE_DDL);
    const expected = await columns(guide);

    const ours = await freshDatabase("mig_ours");
    await runMigrations(config(ours), silent);
    const created = await columns(ours);
    expect(created.slice(0, expected.length)).toEqual(expected);
    expect(created.slice(expected.length)).toEqual([
      {
        COLUMN_NAME: "supervisor_program",
        COLUMN_TYPE: "varchar(100)",
        IS_NULLABLE: "NO",
        COLUMN_DEFAULT: "'python-server'",
      },
    ]);
    const [unique] = await ours.query<{ n: number }>(
      `SELECT COUNT(*) AS n FROM INFORMATION_SCHEMA.STATISTICS WHERE TABLE_SCHEMA = DATABASE()
       AND TABLE_NAME = 'kb_server_processes' AND COLUMN_NAME = 'process_name' AND NON_UNIQUE = 0`,
    );
    expect(Number(unique!.n)).toBe(1);
  });

  it("keep an existing registry's rows and its readers' queries working", async () => {
    const db = await freshDatabase("mig_existing");
    await runMigrations(config(db), silent);
    await db.query("DROP TABLE kb_server_processes");
    await db.query("DELETE FROM fleetvisor_migrations");
    await db.query("DROP TABLE fleetvisor_process_events");
    await db.query("DROP TABLE fleetvisor_api_tokens");
    await db.query("DROP TABLE fleetvisor_supervisor_observations");
    await db.query(GUIDE_DDL);
    await db.query(
      `INSERT INTO kb_server_processes (process_name, port, pid, status, supervisor_host, supervisor_port, last_heartbeat)
       VALUES ('domaeka-test-01', 8001, 1234, 'running', 'domaeka-server-test-01', 9101, '2026-01-02 03:04:05'),
              ('domaeka-live-01', 8011, NULL, 'stopped', 'domaeka-server-live-01', 9111, NULL)`,
    );
    const before = await db.query("SELECT * FROM kb_server_processes ORDER BY id");

    expect(await runMigrations(config(db), silent)).toEqual(ALL_MIGRATIONS);
    const after = await db.query<Record<string, unknown>>("SELECT * FROM kb_server_processes ORDER BY id");
    expect(after.map(({ supervisor_program: _p, ...rest }) => rest)).toEqual(before);
    expect(after.map((r) => r.supervisor_program)).toEqual(["python-server", "python-server"]);
    // The guide's own statements still run.
    await db.query(
      "UPDATE kb_server_processes SET pid = ?, status = 'running', last_heartbeat = NOW() WHERE process_name = ?",
      [99, "domaeka-live-01"],
    );
    await db.query("SELECT port, supervisor_host, supervisor_port FROM kb_server_processes WHERE process_name = ?", [
      "domaeka-live-01",
    ]);
  });

  it("replicas starting together apply each migration exactly once", async () => {
    const db = await freshDatabase("mig_race");
    const results = await Promise.all([1, 2, 3, 4].map(() => runMigrations(config(db), silent)));
    expect(results.flat()).toEqual(ALL_MIGRATIONS);
    const applied = await db.query<{ name: string }>("SELECT name FROM fleetvisor_migrations ORDER BY id");
    expect(applied.map((r) => r.name)).toEqual(ALL_MIGRATIONS);
  });

  it("MIGRATE_ON_START=false refuses to start on a database that needs migrations", async () => {
    const db = await freshDatabase("mig_off");
    await runMigrations(config(db), silent);
    await db.query("DELETE FROM fleetvisor_migrations");
    const failure = await startApp(
      loadConfig({
        DATABASE_URL: db.url,
        MIGRATE_ON_START: "false",
        PORT: "0",
        HOST: "127.0.0.1",
        LOG_LEVEL: "silent",
      }),
      { logger: silent },
    ).catch((e: Error) => e);
    expect((failure as Error).message).toContain('run "npm run migrate"');
  });

  it("npm run migrate applies them and then reports the database up to date", async () => {
    const db = await freshDatabase("mig_cli");
    const migrate = () =>
      run(process.execPath, ["--import", "tsx", "src/cli/migrate.ts"], {
        env: { ...process.env, DATABASE_URL: db.url, LOG_LEVEL: "silent" },
      });
    expect((await migrate()).stdout).toContain(`applied ${ALL_MIGRATIONS.length} migration(s)`);
    expect((await migrate()).stdout).toContain("is up to date");
  });
});
