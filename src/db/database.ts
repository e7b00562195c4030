import type { DataSource, EntityManager } from "typeorm";
import { KeyedMutex } from "../keyed-mutex.js";

/** Which SQL engine holds the registry. */
export type Dialect = "mysql" | "sqlite";

/**
 * The registry database as services write to it.
 *
 * On MySQL, every transaction and every write gets a pooled connection of its own, and
 * both calls pass straight through. The embedded SQLite database is one connection for the
 * whole process: a second transaction started while one is open would nest in it, and a
 * write made meanwhile would commit or roll back with it. There, transactions and writes
 * outside them take turns, so that a transition stays atomic and recorded exactly once,
 * and an acknowledged heartbeat is never rolled back with someone else's transaction.
 */
export class Database {
  private readonly turns = new KeyedMutex();

  constructor(
    readonly dataSource: DataSource,
    readonly dialect: Dialect,
  ) {}

  transaction<T>(work: (manager: EntityManager) => Promise<T>): Promise<T> {
    return this.write(() => this.dataSource.transaction(work));
  }

  /** A write outside a transaction (one statement, or several that need no atomicity). */
  write<T>(work: () => Promise<T>): Promise<T> {
    return this.dialect === "sqlite" ? this.turns.run("", work) : work();
  }
}

/** The registry database opened for a service: requests' connections, and the watchers'. */
export interface OpenDatabases {
  /** What requests use. */
  readonly requests: Database;
  /**
   * What background work uses (watchdog, poller, event feed): its own small pool on MySQL,
   * so that a burst of it never takes the connections requests need; the same single
   * connection on SQLite.
   */
  readonly watchers: Database;
  close(): Promise<void>;
}
