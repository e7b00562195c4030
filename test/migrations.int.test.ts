import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { afterEach, describe, expect, it } from "vitest";
import { startApp } from "../src/app.js";
import { loadConfig } from "../src/config/config.js";
import { runMigrations } from "../src/db/migrate.js";
import { createLogger } from "../src/logger.js";
import { migrations } from "../migrations/index.js";
import { createTestDatabase, onMysql, type TestDatabase, type TestDatabaseOptions } from "./support/database.js";
import { bundled } from "./support/bundle.js";
import { GUIDE_DDL } from "./support/guide-ddl.js";

const run = promisify(execFile);
const ALL_MIGRATIONS = migrations.map((m) => m.name);
const silent = createLogger("silent");
const databases: TestDatabase[] = [];

async function freshDatabase(label: string, options?: TestDatabaseOptions): Promise<TestDatabase> {
  const db = await createTestDatabase(label, options);
  databases.push(db);
  return db;
}

afterEach(async () => {
  await Promise.all(databases.splice(0).map((db) => db.drop()));
});

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
  // The guide's DDL, and the registries Fleetvisor adopts, are MySQL's.
  it.skipIf(!onMysql)(
    "create kb_server_processes with every column of the guide's DDL, same names and types",
    async () => {
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
        // Fleetvisor's own columns, at the end and nullable: the guide's statements never name them.
        { COLUMN_NAME: "desired_state", COLUMN_TYPE: "varchar(16)", IS_NULLABLE: "YES", COLUMN_DEFAULT: "NULL" },
        { COLUMN_NAME: "drift", COLUMN_TYPE: "varchar(20)", IS_NULLABLE: "YES", COLUMN_DEFAULT: "NULL" },
        { COLUMN_NAME: "control_until", COLUMN_TYPE: "datetime(3)", IS_NULLABLE: "YES", COLUMN_DEFAULT: "NULL" },
      ]);
      const [unique] = await ours.query<{ n: number }>(
        `SELECT COUNT(*) AS n FROM INFORMATION_SCHEMA.STATISTICS WHERE TABLE_SCHEMA = DATABASE()
       AND TABLE_NAME = 'kb_server_processes' AND COLUMN_NAME = 'process_name' AND NON_UNIQUE = 0`,
      );
      expect(Number(unique!.n)).toBe(1);
    },
  );

  it.skipIf(!onMysql)("keep an existing registry's rows and its readers' queries working", async () => {
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
    expect(
      after.map(({ supervisor_program: _p, desired_state: _d, drift: _r, control_until: _c, ...rest }) => rest),
    ).toEqual(before);
    expect(after.map((r) => r.supervisor_program)).toEqual(["python-server", "python-server"]);
    expect(after.map((r) => [r.desired_state, r.drift, r.control_until])).toEqual([
      [null, null, null],
      [null, null, null],
    ]);
    // The guide's own statements still run.
    await db.query(
      "UPDATE kb_server_processes SET pid = ?, status = 'running', last_heartbeat = NOW() WHERE process_name = ?",
      [99, "domaeka-live-01"],
    );
    await db.query("SELECT port, supervisor_host, supervisor_port FROM kb_server_processes WHERE process_name = ?", [
      "domaeka-live-01",
    ]);
  });

  it("convert Fleetvisor's own tables an earlier version made latin1 to utf8mb4, keeping their rows", async () => {
    const db = await freshDatabase("mig_latin1", { characterSet: "latin1" });
    await db.query(GUIDE_DDL);
    await db.query("INSERT INTO kb_server_processes (process_name, port) VALUES ('café-01', 8001)");
    // What an earlier version left on a latin1 database: its own tables in latin1, with rows.
    await runMigrations(config(db), silent);
    await db.query("DELETE FROM fleetvisor_migrations WHERE name = ?", ["OwnTablesUtf8mb41764190000000"]);
    const own = (
      await db.query<{ name: string }>(
        `SELECT TABLE_NAME AS name FROM INFORMATION_SCHEMA.TABLES
         WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME LIKE 'fleetvisor\\_%' ORDER BY TABLE_NAME`,
      )
    ).map((t) => t.name);
    for (const table of own) await db.query(`ALTER TABLE \`${table}\` CONVERT TO CHARACTER SET latin1`);
    await db
      .query(
        `INSERT INTO fleetvisor_process_events (process_name, kind, actor, message, status, at)
       VALUES ('café-01', 'UPDATED', 'ops', 'port: 8000 → 8001', 'stopped', NOW(3))`,
      )
      .then(
        () => expect.fail("latin1 took a character it cannot hold"),
        (error: Error) => expect(error.message).toMatch(/Incorrect string value/),
      );
    await db.query(
      `INSERT INTO fleetvisor_process_events (process_name, kind, actor, message, status, at)
       VALUES ('café-01', 'UPDATED', 'ops', 'crème brûlée: 8000 » 8001', 'stopped', NOW(3))`,
    );

    expect(await runMigrations(config(db), silent)).toEqual(["OwnTablesUtf8mb41764190000000"]);
    const collations = await db.query<{ name: string; collation: string }>(
      `SELECT TABLE_NAME AS name, TABLE_COLLATION AS collation FROM INFORMATION_SCHEMA.TABLES
       WHERE TABLE_SCHEMA = DATABASE() ORDER BY TABLE_NAME`,
    );
    expect(collations).toEqual([
      ...own.map((name) => ({ name, collation: "utf8mb4_unicode_ci" })),
      { name: "kb_server_processes", collation: "latin1_swedish_ci" },
    ]);
    // The rows are the same characters, now in utf8mb4; the registry's are untouched.
    expect(await db.query("SELECT process_name, message FROM fleetvisor_process_events")).toEqual([
      { process_name: "café-01", message: "crème brûlée: 8000 » 8001" },
    ]);
    expect(await db.query("SELECT process_name FROM kb_server_processes")).toEqual([{ process_name: "café-01" }]);
    await db.query(
      `INSERT INTO fleetvisor_process_events (process_name, kind, actor, message, status, at)
       VALUES ('café-01', 'UPDATED', 'ops', 'port: 8000 → 8001', 'stopped', NOW(3))`,
    );
    // Nothing left to convert: a second run finds nothing pending.
    expect(await runMigrations(config(db), silent)).toEqual([]);
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
    const migrate = async () =>
      run(process.execPath, [await bundled("migrate")], {
        env: { ...process.env, DATABASE_URL: db.url, LOG_LEVEL: "silent" },
      });
    expect((await migrate()).stdout).toContain(`applied ${ALL_MIGRATIONS.length} migration(s)`);
    expect((await migrate()).stdout).toContain("is up to date");
  });
});
