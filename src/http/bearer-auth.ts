import type { Principal } from "../auth/principal.js";
import { describeDatabaseError, isDatabaseUnavailable } from "../db/db-errors.js";
import { DatabaseUnavailableError } from "../errors.js";

/** The principal for a bearer token, `null` when the token is unknown or revoked. */
export type Authenticate = (token: string) => Promise<Principal | null>;

/** The token in `Bearer <token>` (or a bare token, as some WebSocket clients send it). */
export function bearerToken(value: unknown): string | undefined {
  if (typeof value !== "string") return undefined;
  const match = /^\s*(?:Bearer\s+)?(\S+)\s*$/i.exec(value);
  return match?.[1];
}

/**
 * `authenticate`, where a database that cannot answer is not a verdict on the token: it
 * becomes DATABASE_UNAVAILABLE (503 when it fails a whole HTTP request).
 */
export function withDatabaseOutage(authenticate: Authenticate): Authenticate {
  return async (token) => {
    try {
      return await authenticate(token);
    } catch (error) {
      if (isDatabaseUnavailable(error)) throw new DatabaseUnavailableError(describeDatabaseError(error), 503);
      throw error;
    }
  };
}
