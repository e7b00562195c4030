import type { Clock } from "../clock.js";
import type { Database } from "../db/database.js";
import { LruMap } from "../lru-map.js";
import { dateOf } from "./process-rows.js";
import type { HostSnapshot } from "../supervisor/host-answers.js";
import {
  FAULT_NAMES,
  SupervisorFault,
  SupervisorUnavailable,
  type SupervisorAddress,
  type UnavailableReason,
} from "../supervisor/supervisor.errors.js";
import type { SupervisorProcessInfo } from "../supervisor/supervisor-state.js";

/** What a supervisord answered as a whole, when, or why it could not answer. */
export type HostObservation = HostSnapshot | SupervisorUnavailable | SupervisorFault;

interface HostRow {
  host: string;
  port: number | string;
  observed_at: Date | string | null;
  programs?: string | null;
  /** The stored answer's length as the database counts it (null: an error is stored). */
  programs_length: number | string | null;
  error: string | null;
  error_code: string | null;
  listener_at?: Date | string | null;
}

/** A program's info as stored (dates as ISO text). */
type StoredInfo = Omit<SupervisorProcessInfo, "startedAt" | "stoppedAt" | "now"> & {
  startedAt: string | null;
  stoppedAt: string | null;
  now: string;
};

const TABLE = "fleetvisor_supervisor_hosts";
/** Hosts written in one statement by recordSoon's writer. */
const SOON_BATCH = 50;
/** Hosts whose parsed answer is kept for the observed reads that come after. */
const PARSED_HOSTS = 1_000;

/**
 * What each supervisord last answered as a whole (`fleetvisor_supervisor_hosts`): written
 * by the poller, by every live answer a request got, and (its time only) by the event
 * listener's reports; read by queries that accept an answer up to some age, so that a
 * dashboard does not send every viewer's every query to production supervisords.
 */
export class HostObservations {
  /** Per host, the newest observation still to be written (see {@link recordSoon}). */
  private readonly pending = new Map<string, { address: SupervisorAddress; observation: HostObservation; at: Date }>();
  /** Whether recordSoon's writer is at work. */
  private writing = false;
  private readonly storedListeners: (() => void)[] = [];
  /** Hosts whose last observation this replica stored is an error (bounded by the hosts it polls). */
  private readonly failing = new Set<string>();
  /**
   * Each host's answer as last parsed, with when it was observed and its stored length: an
   * observed read asks the database for those two first, and fetches (and parses) only the
   * answers that changed since; the same hosts read one after another cost a few bytes each.
   */
  private readonly parsed = new LruMap<string, { readonly length: number; readonly snapshot: HostSnapshot }>(
    PARSED_HOSTS,
  );

  constructor(
    private readonly database: Database,
    private readonly clock: Clock,
  ) {}

  /** Stores what `address` answered (or why not), observed at `at`. */
  async record(address: SupervisorAddress, observation: HostObservation, at: Date = this.clock.now()): Promise<void> {
    const fields = fieldsOf(observation, at);
    await this.upsert(address, fields);
    this.remember(address, observation, fields);
    // A supervisord that stops answering, or answers again, changes what observed reads say.
    const key = keyOf(address);
    const failed = observation instanceof Error;
    if (failed || this.failing.has(key)) {
      if (failed) this.failing.add(key);
      else this.failing.delete(key);
      this.tellStored();
    }
  }

  /**
   * `listener` is told each time answers that requests got are stored, and when a polled
   * supervisord fails to answer or answers again. (A change of state the poller sees is
   * recorded as an event; what else a poll refreshes, such as uptimes, is not news.)
   */
  onStored(listener: () => void): void {
    this.storedListeners.push(listener);
  }

  private tellStored(): void {
    for (const listener of this.storedListeners) listener();
  }

  /**
   * Stores several answers in one transaction, an upsert per host in key order: one commit
   * for many hosts, which a busy database keeps up with when hundreds of supervisords
   * answer together, and no gap locks from UPDATEs of missing rows for writers to
   * deadlock on.
   */
  async recordMany(
    answers: readonly { address: SupervisorAddress; observation: HostObservation; at: Date }[],
  ): Promise<void> {
    if (answers.length === 0) return;
    const sorted = [...answers]
      .sort((a, b) => keyOf(a.address).localeCompare(keyOf(b.address)))
      .map((answer) => ({ ...answer, fields: fieldsOf(answer.observation, answer.at) }));
    await this.database.transaction(async (manager) => {
      for (const { address, fields } of sorted) {
        await manager
          .createQueryBuilder()
          .insert()
          .into(TABLE)
          .values({ host: address.host, port: address.port, ...fields })
          .orUpdate(["observed_at", "programs", "error", "error_code"], ["host", "port"])
          .execute();
      }
    });
    for (const { address, observation, fields } of sorted) this.remember(address, observation, fields);
  }

  /**
   * What this replica just stored is what an observed read would parse: kept as parsed, so
   * that the next read of the host fetches only its time and length. Only for ASCII text,
   * whose length every database counts alike (MySQL counts bytes, SQLite characters).
   */
  private remember(address: SupervisorAddress, observation: HostObservation, fields: StoredFields): void {
    if (observation instanceof Error || fields.programs === null || !ASCII.test(fields.programs)) return;
    this.parsed.set(keyOf(address), {
      length: fields.programs.length,
      snapshot: { ...observation, address, latencyMs: 0, observedAt: fields.observed_at },
    });
  }

  /**
   * Stores an answer a request got, off the request's path: of the answers that came
   * meanwhile only the newest per host, written by one writer in batches of
   * {@link SOON_BATCH} hosts, so that a list over 500 supervisords neither takes the pool
   * from requests nor loses its answers to the pool's acquire timeout. A write that fails
   * is dropped (what was observed is a cache; a read that finds nothing fresh asks live).
   */
  recordSoon(address: SupervisorAddress, observation: HostObservation): void {
    this.pending.set(keyOf(address), { address, observation, at: this.clock.now() });
    if (!this.writing) void this.drain();
  }

  private async drain(): Promise<void> {
    this.writing = true;
    try {
      while (this.pending.size > 0) {
        const batch = [...this.pending].slice(0, SOON_BATCH);
        for (const [key] of batch) this.pending.delete(key);
        const stored = await this.recordMany(batch.map(([, answer]) => answer)).then(
          () => true,
          () => false,
        );
        if (stored) this.tellStored();
      }
    } finally {
      this.writing = false;
    }
  }

  /** The event listener of `address` reported at `at`. */
  async noteListener(address: SupervisorAddress, at: Date = this.clock.now()): Promise<void> {
    await this.upsert(address, { listener_at: at });
  }

  /**
   * The stored observations of `addresses` made at or after `since`; addresses without one
   * (never observed, or older) are left out.
   */
  async since(addresses: readonly SupervisorAddress[], since: Date): Promise<Map<string, HostObservation>> {
    const found = new Map<string, HostObservation>();
    if (addresses.length === 0) return found;
    const changed: SupervisorAddress[] = [];
    for (const row of await this.rows(addresses, "h.observed_at >= :since", { since })) {
      const observedAt = dateOf(row.observed_at);
      if (!observedAt) continue;
      const address = { host: row.host, port: Number(row.port) };
      const key = keyOf(address);
      if (row.programs_length === null) {
        found.set(key, fromRow(address, row, observedAt));
        continue;
      }
      // Observed at the same millisecond with an answer of the same length: the same write.
      const known = this.parsed.get(key);
      if (
        known &&
        known.length === Number(row.programs_length) &&
        known.snapshot.observedAt.getTime() === observedAt.getTime()
      ) {
        found.set(key, known.snapshot);
      } else {
        changed.push(address);
      }
    }
    if (changed.length === 0) return found;
    // Observed again between the two reads: the newer answer is as good (and as recent).
    for (const row of await this.rows(changed, "h.observed_at >= :since", { since }, { answers: true })) {
      const observedAt = dateOf(row.observed_at);
      if (!observedAt) continue;
      const address = { host: row.host, port: Number(row.port) };
      const key = keyOf(address);
      const observation = fromRow(address, row, observedAt);
      if (!(observation instanceof Error)) {
        this.parsed.set(key, { length: Number(row.programs_length), snapshot: observation });
      }
      found.set(key, observation);
    }
    return found;
  }

  /** Of `addresses`, those whose event listener reported at or after `since`. */
  async listenersSince(addresses: readonly SupervisorAddress[], since: Date): Promise<Set<string>> {
    if (addresses.length === 0) return new Set();
    const rows = await this.rows(addresses, "h.listener_at >= :since", { since });
    return new Set(rows.map((row) => keyOf({ host: row.host, port: Number(row.port) })));
  }

  /** The rows of `addresses` that meet `condition`; the stored answers themselves only with `answers`. */
  private async rows(
    addresses: readonly SupervisorAddress[],
    condition: string,
    parameters: Record<string, unknown>,
    { answers = false } = {},
  ): Promise<HostRow[]> {
    const hosts = [...new Set(addresses.map((a) => a.host))];
    // Both lists: supervisords in containers share a host and differ by port, and a read
    // of a page's few must not fetch (and parse) the answers of all the others.
    const ports = [...new Set(addresses.map((a) => a.port))];
    const wanted = new Set(addresses.map(keyOf));
    const rows = (await this.database.dataSource
      .createQueryBuilder()
      .select(["h.host AS host", "h.port AS port", "h.observed_at AS observed_at"])
      .addSelect("LENGTH(h.programs)", "programs_length")
      .addSelect(answers ? ["h.programs AS programs", "h.error AS error"] : ["h.error AS error"])
      .addSelect("h.error_code", "error_code")
      .from(TABLE, "h")
      .where("h.host IN (:...hosts)", { hosts })
      .andWhere("h.port IN (:...ports)", { ports })
      .andWhere(condition, parameters)
      .getRawMany()) as HostRow[];
    // Hosts are matched case-insensitively, as the registry's rows are grouped.
    return rows.filter((row) => wanted.has(keyOf({ host: row.host, port: Number(row.port) })));
  }

  private async upsert(address: SupervisorAddress, fields: Record<string, unknown>): Promise<void> {
    const { dataSource } = this.database;
    await this.database.write(async () => {
      const updated = await dataSource
        .createQueryBuilder()
        .update(TABLE)
        .set(fields)
        .where("host = :host AND port = :port", address)
        .execute();
      if (updated.affected) return;
      await dataSource
        .createQueryBuilder()
        .insert()
        .into(TABLE)
        .values({ host: address.host, port: address.port, ...fields })
        .orIgnore() // another replica inserted it first; its observation is as good
        .execute();
    });
  }
}

/** A host's row as written (a type, not an interface: the writers take it as a record). */
type StoredFields = {
  readonly observed_at: Date;
  readonly programs: string | null;
  readonly error: string | null;
  readonly error_code: string | null;
};

const ASCII = /^[\x00-\x7f]*$/;

function fieldsOf(observation: HostObservation, at: Date): StoredFields {
  return observation instanceof Error
    ? { observed_at: at, programs: null, error: observation.message.slice(0, 1000), error_code: codeOf(observation) }
    : { observed_at: at, programs: JSON.stringify([...observation.byProgram.values()]), error: null, error_code: null };
}

function keyOf(address: SupervisorAddress): string {
  return `${address.host.toLowerCase()}:${address.port}`;
}

function codeOf(error: SupervisorUnavailable | SupervisorFault): string {
  return error instanceof SupervisorFault ? `fault:${error.faultCode}` : `unavailable:${error.reason}`;
}

function fromRow(address: SupervisorAddress, row: HostRow, observedAt: Date): HostObservation {
  if (row.programs !== null && row.programs !== undefined) {
    const infos = (JSON.parse(row.programs) as StoredInfo[]).map((info): SupervisorProcessInfo => ({
      ...info,
      startedAt: info.startedAt === null ? null : new Date(info.startedAt),
      stoppedAt: info.stoppedAt === null ? null : new Date(info.stoppedAt),
      now: new Date(info.now),
    }));
    return { address, byProgram: new Map(infos.map((info) => [info.program, info])), latencyMs: 0, observedAt };
  }
  const [kind, detail = ""] = (row.error_code ?? "unavailable:unreachable").split(":");
  const message = row.error ?? "supervisord did not answer";
  if (kind === "fault") {
    const faultCode = Number(detail);
    return new SupervisorFault(address, FAULT_NAMES[faultCode] ?? "UNKNOWN", faultCode, "", message);
  }
  return new SupervisorUnavailable(address, detail as UnavailableReason, message);
}
