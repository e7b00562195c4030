import mysql2 from "mysql2";
import { DataSource, type Logger as TypeOrmLogger } from "typeorm";
import { migrations } from "../../migrations/index.js";
import type { DatabaseConfig } from "../config/config.js";
import type { Logger } from "../logger.js";
import { ApiTokenEntity } from "./api-token.entity.js";
import type { DatabaseHealth } from "./database-health.js";
import { EventRetentionEntity } from "./event-retention.entity.js";
import { HealingActionEntity } from "./healing-action.entity.js";
import { HealingPolicyEntity } from "./healing-policy.entity.js";
import { IncidentEntity } from "./incident.entity.js";
import { describeDatabaseError, POOL_ACQUIRE_TIMEOUT } from "./db-errors.js";
import { ProcessEventEntity } from "./process-event.entity.js";
import { ProcessEntity } from "./process.entity.js";
import { RolloutStepEntity } from "./rollout-step.entity.js";
import { RolloutEntity } from "./rollout.entity.js";
import { SilenceEntity } from "./silence.entity.js";
import { SupervisorObservationEntity } from "./supervisor-observation.entity.js";

export const ENTITIES = [
  ProcessEntity,
  ProcessEventEntity,
  ApiTokenEntity,
  SupervisorObservationEntity,
  EventRetentionEntity,
  RolloutEntity,
  RolloutStepEntity,
  HealingPolicyEntity,
  HealingActionEntity,
  IncidentEntity,
  SilenceEntity,
];

/** Waiting requests beyond this fail at once instead of queueing without end during an outage. */
const POOL_QUEUE_LIMIT = 200;

type GetConnectionCallback = (error: NodeJS.ErrnoException | null, connection?: mysql2.PoolConnection) => void;

/**
 * mysql2, with two things TypeORM has no hook for, done where the pool is created:
 *
 * - every new pooled connection is switched to UTC before its first query, so that
 *   `CURRENT_TIMESTAMP` defaults and the UTC values Fleetvisor writes agree whatever zone
 *   the server runs in;
 * - the wait for a pooled connection is bounded (mysql2 has no acquire timeout): with
 *   every connection stuck on a frozen server, a request fails after `acquireTimeoutMs`
 *   instead of waiting for the query timeouts of the requests ahead of it. A connection
 *   that arrives after its waiter gave up goes straight back to the pool.
 */
function boundedMysql2(acquireTimeoutMs: number, health: DatabaseHealth | undefined): typeof mysql2 {
  return {
    ...mysql2,
    createPool(options: mysql2.PoolOptions) {
      const pool = mysql2.createPool(options);
      pool.on("connection", (connection) => {
        connection.query("SET time_zone = '+00:00'");
      });
      const getConnection = pool.getConnection.bind(pool) as (callback: GetConnectionCallback) => void;
      (pool as unknown as { getConnection: (callback: GetConnectionCallback) => void }).getConnection = (callback) => {
        let settled = false;
        const timer = setTimeout(() => {
          settled = true;
          const error: NodeJS.ErrnoException = new Error(`no database connection within ${acquireTimeoutMs} ms`);
          error.code = POOL_ACQUIRE_TIMEOUT;
          health?.note(error);
          callback(error);
        }, acquireTimeoutMs);
        getConnection((error, connection) => {
          if (settled) {
            connection?.release();
            return;
          }
          settled = true;
          clearTimeout(timer);
          if (error) health?.note(error);
          callback(error, connection);
        });
      };
      return pool;
    },
  } as typeof mysql2;
}

/** TypeORM's log calls, into Fleetvisor's logger; failures also tell {@link DatabaseHealth}. */
function typeOrmLogger(logger: Logger | undefined, health: DatabaseHealth | undefined): TypeOrmLogger {
  return {
    logQuery: () => undefined,
    logQueryError: (error) => health?.note(error),
    logQuerySlow: (time) => logger?.warn({ ms: time }, "a database query was slow"),
    logSchemaBuild: () => undefined,
    logMigration: () => undefined,
    log: (level, message) => {
      if (level === "warn") logger?.warn({ reason: describeDatabaseError(message) }, "database warning");
    },
  };
}

export interface DataSourceOptions {
  /**
   * Migrations may run long DDL, so they run without the per-query timeout.
   * @default false
   */
  readonly forMigrations?: boolean;
  /** Connections in this pool. @default database.poolSize */
  readonly poolSize?: number;
  /** Told of every failure to reach the database. */
  readonly health?: DatabaseHealth;
  /** Where slow queries are logged. */
  readonly logger?: Logger;
}

/** What every DataSource of Fleetvisor shares, whatever the database. */
function common(options: DataSourceOptions) {
  return {
    entities: ENTITIES,
    migrations,
    migrationsTableName: "fleetvisor_migrations",
    migrationsTransactionMode: "each" as const,
    synchronize: false,
    logging: ["error", "warn"] as ("error" | "warn")[],
    logger: typeOrmLogger(options.logger, options.health),
  };
}

/**
 * How long a statement waits for another process's write lock on the embedded file (a
 * token created with the CLI while the service runs). better-sqlite3 waits synchronously,
 * so this is short.
 */
const SQLITE_BUSY_TIMEOUT_MS = 2_000;

/** A DataSource for the registry database; `initialize()` is the caller's. */
export function createDataSource(database: DatabaseConfig, options: DataSourceOptions = {}): DataSource {
  if (database.dialect === "sqlite") {
    return new DataSource({
      type: "better-sqlite3",
      database: database.path,
      // Readers (a token CLI beside the service) never block the writer, nor it them.
      enableWAL: true,
      timeout: SQLITE_BUSY_TIMEOUT_MS,
      ...common(options),
    });
  }
  const forMigrations = options.forMigrations ?? false;
  return new DataSource({
    type: "mysql",
    driver: boundedMysql2(forMigrations ? database.connectTimeoutMs * 2 : database.acquireTimeoutMs, options.health),
    host: database.host,
    port: database.port,
    username: database.user,
    password: database.password,
    database: database.database,
    timezone: "Z",
    charset: "utf8mb4_unicode_ci",
    connectTimeout: database.connectTimeoutMs,
    poolSize: forMigrations ? 2 : (options.poolSize ?? database.poolSize),
    // mysql2 destroys a connection whose query outlives the timeout, so a database that
    // stops answering costs a bounded wait and the pool reconnects when it is back.
    enableQueryTimeout: !forMigrations,
    maxQueryExecutionTime: forMigrations ? undefined : database.queryTimeoutMs,
    // TypeORM sends text queries: mysql2's cache of prepared statements (16,000 by default,
    // half a megabyte per connection) would hold nothing.
    extra: { waitForConnections: true, queueLimit: POOL_QUEUE_LIMIT, enableKeepAlive: true, maxPreparedStatements: 16 },
    ...common(options),
  });
}
