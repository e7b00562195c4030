import { mkdir } from "node:fs/promises";
import { dirname } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import mysql2 from "mysql2/promise";
import type { DataSource } from "typeorm";
import { describeDatabase, type DatabaseConfig } from "../config/config.js";
import type { Logger } from "../logger.js";
import { createDataSource } from "./data-source.js";
import type { DatabaseHealth } from "./database-health.js";
import { Database, type OpenDatabases } from "./database.js";
import { databaseErrorCode, describeDatabaseError, isDatabaseUnavailable } from "./db-errors.js";

/** Start-up failed for a reason that retrying will not fix, or the retry window ran out. */
export class DatabaseStartupError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "DatabaseStartupError";
  }
}

/**
 * Runs `attempt` until it succeeds, retrying with backoff for `startupRetryMs` while the
 * database is unreachable (at start-up it is often still booting). Every failed attempt is
 * logged with its reason, so that a wait of up to a minute says what it waits for. Errors
 * that retrying cannot fix (credentials, a missing database) fail at once, with a clear
 * message.
 */
async function retryWhileUnavailable<T>(
  database: DatabaseConfig,
  logger: Logger,
  attempt: () => Promise<T>,
): Promise<T> {
  const where = describeDatabase(database);
  const started = Date.now();
  const deadline = started + database.startupRetryMs;
  let delayMs = 250;
  for (let attempts = 1; ; attempts++) {
    try {
      return await attempt();
    } catch (error) {
      const code = databaseErrorCode(error);
      if (code === "ER_ACCESS_DENIED_ERROR" || code === "ER_DBACCESS_DENIED_ERROR") {
        throw new DatabaseStartupError(`${where} rejected the credentials in DATABASE_URL (${code})`);
      }
      if (code === "ER_BAD_DB_ERROR") {
        throw new DatabaseStartupError(`${where}: the database does not exist; run "npm run migrate" to create it`);
      }
      if (!isDatabaseUnavailable(error)) {
        throw new DatabaseStartupError(`${where}: ${describeDatabaseError(error)}`);
      }
      const reason = describeDatabaseError(error);
      if (Date.now() + delayMs > deadline) {
        throw new DatabaseStartupError(
          `${where} is not reachable: ${reason} (gave up after ${attempts} attempts in ${seconds(Date.now() - started)}; ` +
            "DATABASE_STARTUP_RETRY_MS sets how long to wait)",
        );
      }
      logger.warn(
        { attempt: attempts, reason, retryInMs: delayMs, giveUpInMs: deadline - Date.now() },
        `waiting for ${where}: ${reason}; attempt ${attempts} failed, retrying in ${seconds(delayMs)}, ` +
          `giving up in ${seconds(deadline - Date.now())}`,
      );
      await sleep(delayMs);
      delayMs = Math.min(delayMs * 2, 5_000);
    }
  }
}

/** `250 ms`, `1.5 s`, `60 s`: for people reading the log. */
function seconds(ms: number): string {
  const rounded = Math.max(0, Math.round(ms));
  return rounded < 1000 ? `${rounded} ms` : `${Number((rounded / 1000).toFixed(1))} s`;
}

/** `DataSource.initialize()` with the start-up retry (it rejects at once when the database is down). */
export function initializeWithRetry(
  dataSource: DataSource,
  database: DatabaseConfig,
  logger: Logger,
): Promise<DataSource> {
  return retryWhileUnavailable(database, logger, () => dataSource.initialize());
}

/**
 * Creates the configured database when it does not exist yet (first start against a fresh
 * server, or the embedded file's folder). A user without the privilege gets the server's
 * refusal, named.
 */
export async function ensureDatabaseExists(database: DatabaseConfig, logger: Logger): Promise<void> {
  if (database.dialect === "sqlite") {
    await mkdir(dirname(database.path), { recursive: true });
    return;
  }
  return retryWhileUnavailable(database, logger, async () => {
    const connection = await mysql2.createConnection({
      host: database.host,
      port: database.port,
      user: database.user,
      password: database.password,
      connectTimeout: database.connectTimeoutMs,
    });
    try {
      const [rows] = await connection.query<mysql2.RowDataPacket[]>(
        "SELECT SCHEMA_NAME FROM INFORMATION_SCHEMA.SCHEMATA WHERE SCHEMA_NAME = ?",
        [database.database],
      );
      if (rows.length === 0) {
        await connection.query(
          `CREATE DATABASE IF NOT EXISTS ${mysql2.escapeId(database.database)} CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci`,
        );
        logger.info(`created database ${describeDatabase(database)}`);
      }
    } finally {
      await connection.end().catch(() => undefined);
    }
  });
}

/**
 * Opens the registry database for the service (waiting for it at start-up as
 * {@link initializeWithRetry} does): on MySQL a pool for requests and a small one for the
 * watchers; on SQLite one connection for both.
 */
export async function openDatabases(
  database: DatabaseConfig,
  options: { readonly health: DatabaseHealth; readonly logger: Logger },
): Promise<OpenDatabases> {
  const { logger } = options;
  const requests = await initializeWithRetry(createDataSource(database, options), database, logger);
  if (database.dialect === "sqlite") {
    const one = new Database(requests, "sqlite");
    return { requests: one, watchers: one, close: () => requests.destroy() };
  }
  try {
    const watchers = await initializeWithRetry(
      createDataSource(database, { ...options, poolSize: database.backgroundPoolSize }),
      database,
      logger,
    );
    return {
      requests: new Database(requests, "mysql"),
      watchers: new Database(watchers, "mysql"),
      close: async () => {
        await Promise.allSettled([requests.destroy(), watchers.destroy()]);
      },
    };
  } catch (error) {
    await requests.destroy().catch(() => undefined);
    throw error;
  }
}
