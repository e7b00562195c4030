import mysql2 from "mysql2";
import { DataSource } from "typeorm";
import { migrations } from "../../migrations/index.js";
import type { DatabaseConfig } from "../config/config.js";
import { ApiTokenEntity } from "./api-token.entity.js";
import { ProcessEventEntity } from "./process-event.entity.js";
import { ProcessEntity } from "./process.entity.js";
import { SupervisorObservationEntity } from "./supervisor-observation.entity.js";

export const ENTITIES = [ProcessEntity, ProcessEventEntity, ApiTokenEntity, SupervisorObservationEntity];

/** Waiting requests beyond this fail at once instead of queueing without end during an outage. */
const POOL_QUEUE_LIMIT = 200;

/**
 * mysql2 with every new pooled connection switched to UTC before its first query, so
 * that `CURRENT_TIMESTAMP` defaults and the UTC values Fleetvisor writes agree whatever
 * zone the server runs in. TypeORM has no hook for this; the pool's `connection` event is
 * the one place that sees every connection, including the very first.
 */
const utcMysql2 = {
  ...mysql2,
  createPool(options: mysql2.PoolOptions) {
    const pool = mysql2.createPool(options);
    pool.on("connection", (connection) => {
      connection.query("SET time_zone = '+00:00'");
    });
    return pool;
  },
};

export interface DataSourceOptions {
  /**
   * Migrations may run long DDL, so they run without the per-query timeout.
   * @default false
   */
  readonly forMigrations?: boolean;
}

/** A DataSource for the registry database; `initialize()` is the caller's. */
export function createDataSource(database: DatabaseConfig, options: DataSourceOptions = {}): DataSource {
  const forMigrations = options.forMigrations ?? false;
  return new DataSource({
    type: "mysql",
    driver: utcMysql2,
    host: database.host,
    port: database.port,
    username: database.user,
    password: database.password,
    database: database.database,
    timezone: "Z",
    charset: "utf8mb4_unicode_ci",
    connectTimeout: database.connectTimeoutMs,
    poolSize: forMigrations ? 2 : database.poolSize,
    // mysql2 destroys a connection whose query outlives the timeout, so a database that
    // stops answering costs a bounded wait and the pool reconnects when it is back.
    enableQueryTimeout: !forMigrations,
    maxQueryExecutionTime: forMigrations ? undefined : database.queryTimeoutMs,
    extra: { waitForConnections: true, queueLimit: POOL_QUEUE_LIMIT, enableKeepAlive: true },
    entities: ENTITIES,
    migrations,
    migrationsTableName: "fleetvisor_migrations",
    migrationsTransactionMode: "each",
    synchronize: false,
    logging: false,
  });
}
