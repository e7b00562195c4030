import { setTimeout as sleep } from "node:timers/promises";
import mysql2 from "mysql2/promise";
import type { DataSource } from "typeorm";
import { describeDatabase, type DatabaseConfig } from "../config/config.js";
import type { Logger } from "../logger.js";
import { databaseErrorCode, describeDatabaseError, isDatabaseUnavailable } from "./db-errors.js";

/** Start-up failed for a reason that retrying will not fix, or the retry window ran out. */
export class DatabaseStartupError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "DatabaseStartupError";
  }
}

/**
 * `DataSource.initialize()` rejects at once when the database is down. At start-up the
 * database is often still booting (compose, Kubernetes), so retry with backoff for a
 * bounded time; credentials or a missing database fail at once with a clear message.
 */
export async function initializeWithRetry(
  dataSource: DataSource,
  database: DatabaseConfig,
  logger: Logger,
): Promise<DataSource> {
  const deadline = Date.now() + database.startupRetryMs;
  let delayMs = 250;
  for (let attempt = 1; ; attempt++) {
    try {
      return await dataSource.initialize();
    } catch (error) {
      const where = describeDatabase(database);
      const code = databaseErrorCode(error);
      if (code === "ER_ACCESS_DENIED_ERROR" || code === "ER_DBACCESS_DENIED_ERROR") {
        throw new DatabaseStartupError(`${where} rejected the credentials in DATABASE_URL (${code})`);
      }
      if (code === "ER_BAD_DB_ERROR") {
        throw new DatabaseStartupError(`${where}: the database does not exist; run "npm run migrate" to create it`);
      }
      if (!isDatabaseUnavailable(error) || Date.now() + delayMs > deadline) {
        throw new DatabaseStartupError(`${where} is not reachable: ${describeDatabaseError(error)}`);
      }
      logger.warn({ attempt, retryInMs: delayMs, reason: describeDatabaseError(error) }, `waiting for ${where}`);
      await sleep(delayMs);
      delayMs = Math.min(delayMs * 2, 5_000);
    }
  }
}

/**
 * Creates the configured database when it does not exist yet (first start against a fresh
 * server). A user without the privilege gets the server's refusal, named.
 */
export async function ensureDatabaseExists(database: DatabaseConfig, logger: Logger): Promise<void> {
  const deadline = Date.now() + database.startupRetryMs;
  let delayMs = 250;
  for (;;) {
    let connection: mysql2.Connection | undefined;
    try {
      connection = await mysql2.createConnection({
        host: database.host,
        port: database.port,
        user: database.user,
        password: database.password,
        connectTimeout: database.connectTimeoutMs,
      });
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
      return;
    } catch (error) {
      const where = describeDatabase(database);
      if (!isDatabaseUnavailable(error) || Date.now() + delayMs > deadline) {
        const code = databaseErrorCode(error);
        throw new DatabaseStartupError(
          code === "ER_ACCESS_DENIED_ERROR"
            ? `${where} rejected the credentials in DATABASE_URL (${code})`
            : `cannot prepare ${where}: ${describeDatabaseError(error)}`,
        );
      }
      logger.warn({ retryInMs: delayMs, reason: describeDatabaseError(error) }, `waiting for ${where}`);
      await sleep(delayMs);
      delayMs = Math.min(delayMs * 2, 5_000);
    } finally {
      await connection?.end().catch(() => undefined);
    }
  }
}
