import type { DataSource } from "typeorm";
import type { DatabaseConfig } from "../config/config.js";
import type { Logger } from "../logger.js";
import { ensureDatabaseExists, initializeWithRetry } from "./connect.js";
import { createDataSource } from "./data-source.js";

/** The MySQL named lock that lets only one replica migrate at a time. */
export const MIGRATION_LOCK = "fleetvisor:migrations";
/** How long a replica waits for another one's migrations before giving up. */
const LOCK_WAIT_SECONDS = 300;

/**
 * Applies pending migrations. Replicas that start together serialise on a MySQL named lock:
 * the first applies the migrations, the others wait, then find nothing pending. The
 * embedded SQLite database needs no lock: SQLite lets one writer at a time into the file,
 * and each migration runs in its own transaction.
 * Returns the names of the migrations this call applied.
 */
export async function runMigrations(database: DatabaseConfig, logger: Logger): Promise<string[]> {
  await ensureDatabaseExists(database, logger);
  const dataSource = await initializeWithRetry(createDataSource(database, { forMigrations: true }), database, logger);
  if (database.dialect === "sqlite") {
    try {
      return await applyPending(dataSource, logger);
    } finally {
      await dataSource.destroy();
    }
  }
  // GET_LOCK belongs to a connection: hold one for the whole run.
  const lockRunner = dataSource.createQueryRunner();
  try {
    const getLock = async (waitSeconds: number): Promise<boolean> => {
      const [row] = (await lockRunner.query("SELECT GET_LOCK(?, ?) AS acquired", [MIGRATION_LOCK, waitSeconds])) as {
        acquired: number | string | null;
      }[];
      return Number(row?.acquired) === 1;
    };
    // Say so before waiting: another replica's migrations (or a connection that still holds
    // the lock) can keep this one waiting for minutes.
    let acquired = await getLock(0);
    if (!acquired) {
      logger.warn(
        { lock: MIGRATION_LOCK, waitSeconds: LOCK_WAIT_SECONDS },
        `waiting for another Fleetvisor to finish migrating (it holds the lock "${MIGRATION_LOCK}"); giving up in ${LOCK_WAIT_SECONDS} s`,
      );
      acquired = await getLock(LOCK_WAIT_SECONDS);
    }
    if (!acquired) {
      throw new Error(`another Fleetvisor held the migration lock "${MIGRATION_LOCK}" for over ${LOCK_WAIT_SECONDS}s`);
    }
    try {
      return await applyPending(dataSource, logger);
    } finally {
      await lockRunner.query("SELECT RELEASE_LOCK(?)", [MIGRATION_LOCK]);
    }
  } finally {
    await lockRunner.release();
    await dataSource.destroy();
  }
}

async function applyPending(dataSource: DataSource, logger: Logger): Promise<string[]> {
  const applied = await dataSource.runMigrations({ transaction: "each" });
  for (const migration of applied) logger.info({ migration: migration.name }, "applied migration");
  return applied.map((m) => m.name);
}

/** Names of migrations not yet applied (for tools that must not migrate themselves). */
export async function pendingMigrations(dataSource: DataSource): Promise<string[]> {
  const executed = new Set(
    ((await dataSource.query("SELECT name FROM fleetvisor_migrations").catch(() => [])) as { name: string }[]).map(
      (r) => r.name,
    ),
  );
  return dataSource.migrations.map((m) => m.name ?? m.constructor.name).filter((name) => !executed.has(name));
}
