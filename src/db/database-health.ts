import type { Clock } from "../clock.js";
import { isDatabaseUnavailable } from "./db-errors.js";

/**
 * What this replica has seen of the database's availability: when it last failed to
 * reach it. Fed by every failed query and every failed wait for a pooled connection, so
 * that work which depends on the database having been there (the heartbeat watchdog) can
 * tell an outage from silence.
 */
export class DatabaseHealth {
  private lastUnavailable: number | null = null;

  constructor(private readonly clock: Clock) {}

  /** Notes `error` when it says the database could not be reached or did not answer. */
  note(error: unknown): void {
    if (isDatabaseUnavailable(error)) this.lastUnavailable = this.clock.now().getTime();
  }

  /** When the database was last unreachable from here; `null` if never since start. */
  get lastUnavailableAt(): Date | null {
    return this.lastUnavailable === null ? null : new Date(this.lastUnavailable);
  }
}
