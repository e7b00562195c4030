import { QueryFailedError } from "typeorm";

/** Our own code for a wait for a pooled connection that outlived the acquire timeout. */
export const POOL_ACQUIRE_TIMEOUT = "POOL_ACQUIRE_TIMEOUT";

/** mysql2 / socket codes that mean "the database is not there", not "the query is wrong". */
const UNAVAILABLE_CODES = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ETIMEDOUT",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "ENOTFOUND",
  "EPIPE",
  "EAI_AGAIN",
  "PROTOCOL_CONNECTION_LOST",
  "PROTOCOL_SEQUENCE_TIMEOUT",
  "ER_CON_COUNT_ERROR",
  "ER_SERVER_SHUTDOWN",
  "ER_LOCK_WAIT_TIMEOUT",
  "POOL_CLOSED",
  POOL_ACQUIRE_TIMEOUT,
  // The embedded database's file is locked by another process longer than the busy timeout.
  "SQLITE_BUSY",
  "SQLITE_LOCKED",
]);

function driverError(error: unknown): { code?: unknown; errno?: unknown; message?: unknown } | undefined {
  if (error instanceof QueryFailedError) return error.driverError as { code?: unknown };
  if (error && typeof error === "object") return error as { code?: unknown };
  return undefined;
}

/** The driver's error code (`ER_DUP_ENTRY`, `ECONNREFUSED`, …), if there is one. */
export function databaseErrorCode(error: unknown): string | undefined {
  const code = driverError(error)?.code;
  return typeof code === "string" ? code : undefined;
}

/** True when the error says the database could not be reached or did not answer in time. */
export function isDatabaseUnavailable(error: unknown): boolean {
  const inner = driverError(error);
  const code = databaseErrorCode(error);
  if (code && UNAVAILABLE_CODES.has(code)) return true;
  // mysql2's pool reports a full wait queue with a plain Error.
  return typeof inner?.message === "string" && inner.message.startsWith("Queue limit reached");
}

/** A short, secret-free reason for logs and for `DATABASE_UNAVAILABLE` messages. */
export function describeDatabaseError(error: unknown): string {
  const code = databaseErrorCode(error);
  switch (code) {
    case "PROTOCOL_SEQUENCE_TIMEOUT":
      return "query timed out";
    case "ECONNREFUSED":
      return "connection refused";
    case POOL_ACQUIRE_TIMEOUT:
      return "no database connection free in time";
    case undefined:
      return error instanceof Error ? error.message.split("\n")[0]! : "unknown error";
    default:
      return code;
  }
}

export function isDuplicateKey(error: unknown): boolean {
  const code = databaseErrorCode(error);
  return code === "ER_DUP_ENTRY" || code === "SQLITE_CONSTRAINT_UNIQUE" || code === "SQLITE_CONSTRAINT_PRIMARYKEY";
}

/**
 * InnoDB chose this transaction as a deadlock's victim and rolled it back whole: running
 * it again is safe, and the usual answer (SQLite runs one writer at a time, and has none).
 */
export function isDeadlock(error: unknown): boolean {
  return databaseErrorCode(error) === "ER_LOCK_DEADLOCK";
}
