import {
  Brackets,
  type DataSource,
  type EntityManager,
  type SelectQueryBuilder,
  type UpdateQueryBuilder,
} from "typeorm";
import type { Principal } from "../auth/principal.js";
import { mayTouchProcess } from "../auth/principal.js";
import { Role } from "../domain/role.js";
import { isDuplicateKey } from "../db/db-errors.js";
import { DEFAULT_PROGRAM, ProcessEntity } from "../db/process.entity.js";
import { SupervisorObservationEntity } from "../db/supervisor-observation.entity.js";
import { BadUserInputError, ConflictError, ForbiddenError, NotFoundError, type InvalidField } from "../errors.js";
import { ProcessEventKind } from "../domain/event-kind.js";
import { followSupervisor, type Observation } from "./follow.js";
import type { EventDraft, EventLogService } from "../events/event-log.service.js";
import type { ProcessEventRecord } from "../events/process-event.js";
import { HEARTBEAT_STATUSES, HeartbeatWriter } from "./heartbeat-writer.js";
import { ProcessStatus } from "../domain/process-status.js";
import { check, hostProblem, pidProblem, portProblem, processNameProblem, programNameProblem } from "./validation.js";

/** Which processes a query wants; every field narrows, none means all. */
export interface ProcessFilter {
  readonly names?: readonly string[] | null | undefined;
  readonly namePrefix?: string | null | undefined;
  readonly statuses?: readonly ProcessStatus[] | null | undefined;
  readonly supervisorHost?: string | null | undefined;
}

export interface CreateProcessInput {
  readonly name: string;
  readonly port: number;
  readonly supervisorHost?: string | null | undefined;
  readonly supervisorPort?: number | null | undefined;
  readonly program?: string | null | undefined;
}

/** Omitted (or null) fields stay as they are. */
export interface UpdateProcessInput {
  readonly port?: number | null | undefined;
  readonly supervisorHost?: string | null | undefined;
  readonly supervisorPort?: number | null | undefined;
  readonly program?: string | null | undefined;
}

export interface Registration {
  readonly process: ProcessEntity;
  readonly port: number;
  readonly heartbeatIntervalSeconds: number;
}

export interface HeartbeatAck {
  /** `false`: the registry does not consider this pid registered; call `registerProcess` again. */
  readonly ok: boolean;
  readonly serverTime: Date;
  readonly nextHeartbeatInSeconds: number;
  readonly message: string | null;
}

const MAX_FILTER_NAMES = 1000;

export interface RegistrySettings {
  readonly heartbeatIntervalSeconds: number;
}

/**
 * The registry: what managed servers report (register / heartbeat / deregister) and what
 * admins maintain (create / update / delete), with every transition recorded once.
 *
 * Transitions are conditional UPDATEs inside a transaction with their event: only the
 * caller whose UPDATE matched the row records the event, however many replicas race.
 */
export class RegistryService {
  private readonly heartbeats: HeartbeatWriter;

  constructor(
    private readonly dataSource: DataSource,
    private readonly events: EventLogService,
    private readonly settings: RegistrySettings,
    private readonly now: () => Date = () => new Date(),
  ) {
    this.heartbeats = new HeartbeatWriter(dataSource, now);
  }

  // ---------------------------------------------------------------- reads

  async list(filter: ProcessFilter, principal: Principal): Promise<ProcessEntity[]> {
    const query = this.filtered(filter, principal);
    return query ? rowsOf(query.orderBy("p.process_name", "ASC")) : [];
  }

  /**
   * The distinct supervisords of the processes `filter` selects: a small answer that comes
   * back before the rows themselves, so that a list can start asking supervisord early.
   */
  async supervisorsOf(filter: ProcessFilter, principal: Principal): Promise<{ host: string; port: number }[]> {
    const query = this.filtered(filter, principal);
    if (!query) return [];
    const rows = (await query
      .select("p.supervisor_host", "host")
      .addSelect("p.supervisor_port", "port")
      .andWhere("p.supervisor_host IS NOT NULL AND p.supervisor_port IS NOT NULL")
      .distinct(true)
      .getRawMany()) as { host: string; port: number | string }[];
    return rows.map((r) => ({ host: r.host, port: Number(r.port) }));
  }

  /** The rows `filter` selects, as a query; `null` when it can select nothing. */
  private filtered(filter: ProcessFilter, principal: Principal): SelectQueryBuilder<ProcessEntity> | null {
    const problems = filterProblems(filter);
    if (problems.length > 0) throw BadUserInputError.of(problems);
    if (filter.names?.length === 0 || filter.statuses?.length === 0) return null;

    const query = this.dataSource.getRepository(ProcessEntity).createQueryBuilder("p");
    if (filter.names) query.andWhere("p.process_name IN (:...names)", { names: [...new Set(filter.names)] });
    if (filter.namePrefix) {
      query.andWhere("p.process_name LIKE :prefix ESCAPE '!'", { prefix: likePrefix(filter.namePrefix) });
    }
    if (filter.statuses) {
      const statuses = new Set(filter.statuses);
      query.andWhere(
        new Brackets((where) => {
          where.where("p.status IN (:...statuses)", { statuses: [...statuses] });
          // The guide's DDL allows NULL; it reads as stopped.
          if (statuses.has(ProcessStatus.STOPPED)) where.orWhere("p.status IS NULL");
        }),
      );
    }
    if (filter.supervisorHost) query.andWhere("p.supervisor_host = :host", { host: filter.supervisorHost });
    restrictToPrincipal(query, principal);
    return query;
  }

  /** The process called `name`, or `null`. An agent may only ask for its own processes. */
  async get(name: string, principal: Principal): Promise<ProcessEntity | null> {
    assertValid([{ field: "name", value: name, problem: processNameProblem }]);
    assertMayTouch(principal, name);
    return this.find(this.dataSource.manager, name);
  }

  /** Loads many processes by name in one query (for per-request batching). */
  async getMany(names: readonly string[]): Promise<ProcessEntity[]> {
    if (names.length === 0) return [];
    return rowsOf(
      this.dataSource
        .getRepository(ProcessEntity)
        .createQueryBuilder("p")
        .where("p.process_name IN (:...names)", { names: [...names] }),
    );
  }

  /** Every distinct supervisord the registry names, with how many processes name it. */
  async supervisors(): Promise<{ host: string; port: number; processCount: number }[]> {
    const rows = (await this.dataSource
      .getRepository(ProcessEntity)
      .createQueryBuilder("p")
      .select("p.supervisor_host", "host")
      .addSelect("p.supervisor_port", "port")
      .addSelect("COUNT(*)", "processCount")
      .where("p.supervisor_host IS NOT NULL AND p.supervisor_port IS NOT NULL")
      .groupBy("p.supervisor_host")
      .addGroupBy("p.supervisor_port")
      .orderBy("p.supervisor_host", "ASC")
      .addOrderBy("p.supervisor_port", "ASC")
      .getRawMany()) as { host: string; port: number | string; processCount: number | string }[];
    return rows.map((r) => ({ host: r.host, port: Number(r.port), processCount: Number(r.processCount) }));
  }

  // ---------------------------------------------------------------- managed servers

  /** A managed server starting up: `running`, with its pid and a fresh heartbeat. */
  async register(name: string, pid: number, principal: Principal): Promise<Registration> {
    assertValid([
      { field: "name", value: name, problem: processNameProblem },
      { field: "pid", value: pid, problem: pidProblem },
    ]);
    assertMayTouch(principal, name);
    const now = this.now();
    const process = await this.transition(
      async (manager, record) => {
        const changed = await manager
          .createQueryBuilder()
          .update(ProcessEntity)
          .set({ pid, status: ProcessStatus.RUNNING, lastHeartbeat: now, updatedAt: now })
          .where("process_name = :name", { name })
          .andWhere(
            new Brackets((w) =>
              w
                .where("status IS NULL")
                .orWhere("status <> :running", { running: ProcessStatus.RUNNING })
                .orWhere("pid IS NULL")
                .orWhere("pid <> :pid", { pid }),
            ),
          )
          .execute();
        if (changed.affected === 0) {
          // Either unknown, or this very pid registering again (a retried call): stamp it.
          const stamped = await manager
            .createQueryBuilder()
            .update(ProcessEntity)
            .set({ lastHeartbeat: now, updatedAt: () => "updated_at" })
            .where("process_name = :name", { name })
            .execute();
          if (stamped.affected === 0) throw notFound(name);
          return this.mustFind(manager, name);
        }
        const row = await this.mustFind(manager, name);
        await record({ kind: ProcessEventKind.REGISTERED, message: `registered with pid ${pid}` }, row);
        return row;
      },
      name,
      principal,
    );
    return { process, port: process.port, heartbeatIntervalSeconds: this.settings.heartbeatIntervalSeconds };
  }

  /**
   * The hot path: one conditional UPDATE (shared with the heartbeats that arrive at the
   * same moment) stamps the heartbeat of the registered pid. Only when it matches nothing
   * do further statements look at why.
   */
  async heartbeat(name: string, pid: number, principal: Principal): Promise<HeartbeatAck> {
    assertValid([
      { field: "name", value: name, problem: processNameProblem },
      { field: "pid", value: pid, problem: pidProblem },
    ]);
    assertMayTouch(principal, name);
    const ack = (ok: boolean, message: string | null = null, serverTime = this.now()): HeartbeatAck => ({
      ok,
      serverTime,
      nextHeartbeatInSeconds: this.settings.heartbeatIntervalSeconds,
      message,
    });

    const stamped = await this.heartbeats.stamp(name, pid);
    if (stamped.matched) {
      this.events.publishHeartbeat(name, principal.name, stamped.at, null);
      return ack(true, null, stamped.at);
    }

    // A process in `error` that still beats is alive again.
    const now = this.now();
    const restored = await this.transition(
      async (manager, record) => {
        const changed = await manager
          .createQueryBuilder()
          .update(ProcessEntity)
          .set({ status: ProcessStatus.RUNNING, lastHeartbeat: now, updatedAt: now })
          .where("process_name = :name AND pid = :pid AND status = :error", { name, pid, error: ProcessStatus.ERROR })
          .execute();
        if (changed.affected === 0) return null;
        const row = await this.mustFind(manager, name);
        await record({ kind: ProcessEventKind.HEARTBEAT_RESTORED, message: `heartbeat from pid ${pid}` }, row);
        return row;
      },
      name,
      principal,
    );
    if (restored) {
      this.events.publishHeartbeat(name, principal.name, now, restored.status);
      return ack(true);
    }

    const row = await this.find(this.dataSource.manager, name);
    if (!row) throw notFound(name);
    if (row.status !== null && !HEARTBEAT_STATUSES.includes(row.status) && row.status !== ProcessStatus.ERROR) {
      return ack(false, `${name} is ${row.status} in the registry; call registerProcess`);
    }
    return ack(false, `pid ${pid} is not the registered pid of ${name} (${row.pid ?? "none"}); call registerProcess`);
  }

  /** A managed server shutting down cleanly: `stopped`, pid cleared. */
  async deregister(name: string, principal: Principal): Promise<ProcessEntity> {
    assertValid([{ field: "name", value: name, problem: processNameProblem }]);
    assertMayTouch(principal, name);
    const now = this.now();
    return this.transition(
      async (manager, record) => {
        const changed = await manager
          .createQueryBuilder()
          .update(ProcessEntity)
          .set({ pid: null, status: ProcessStatus.STOPPED, updatedAt: now })
          .where("process_name = :name", { name })
          .andWhere(
            new Brackets((w) =>
              w
                .where("status IS NULL")
                .orWhere("status <> :stopped", { stopped: ProcessStatus.STOPPED })
                .orWhere("pid IS NOT NULL"),
            ),
          )
          .execute();
        const row = await this.find(manager, name);
        if (!row) throw notFound(name);
        if (changed.affected !== 0) await record({ kind: ProcessEventKind.DEREGISTERED, message: null }, row);
        return row;
      },
      name,
      principal,
    );
  }

  // ---------------------------------------------------------------- status

  /**
   * Moves `name` to `to` when its status is one of `from` (a conditional UPDATE), and
   * records STATUS_CHANGED with `message`. Returns whether it moved, and the row after.
   */
  async transitionStatus(
    name: string,
    from: readonly ProcessStatus[],
    to: ProcessStatus,
    message: string,
    principal: Principal,
    options: { readonly clearPid?: boolean } = {},
  ): Promise<{ changed: boolean; process: ProcessEntity }> {
    return this.transition(
      async (manager, record) => {
        const changed = await this.moveStatus(manager, name, from, to, options.clearPid ?? false);
        const row = await this.mustFind(manager, name);
        if (changed) await record({ kind: ProcessEventKind.STATUS_CHANGED, message }, row);
        return { changed, process: row };
      },
      name,
      principal,
    );
  }

  // ---------------------------------------------------------------- watching

  /**
   * The heartbeat watchdog (a Consul TTL check): every `running` process whose heartbeat
   * is older than `staleSeconds` becomes `error`, with HEARTBEAT_LOST. Each row moves in
   * its own conditional UPDATE, so that with several replicas watching, each loss is
   * recorded exactly once. Returns the processes this call moved.
   */
  async markHeartbeatsLost(staleSeconds: number, principal: Principal): Promise<ProcessEntity[]> {
    const now = this.now();
    const cutoff = new Date(now.getTime() - staleSeconds * 1000);
    const stale = <Q extends SelectQueryBuilder<ProcessEntity> | UpdateQueryBuilder<ProcessEntity>>(query: Q): Q => {
      query
        .andWhere("status = :running", { running: ProcessStatus.RUNNING })
        .andWhere(
          new Brackets((w) => w.where("last_heartbeat IS NULL").orWhere("last_heartbeat < :cutoff", { cutoff })),
        );
      return query;
    };
    const candidates = await stale(
      this.dataSource.getRepository(ProcessEntity).createQueryBuilder("p").where("1 = 1"),
    ).getMany();
    const lost: ProcessEntity[] = [];
    for (const candidate of candidates) {
      const moved = await this.transition(
        async (manager, record) => {
          const changed = await stale(
            manager
              .createQueryBuilder()
              .update(ProcessEntity)
              .set({ status: ProcessStatus.ERROR, updatedAt: now })
              .where("process_name = :name", { name: candidate.name }),
          ).execute();
          if (changed.affected === 0) return null;
          const row = await this.mustFind(manager, candidate.name);
          const age = candidate.lastHeartbeat
            ? `${Math.round((now.getTime() - candidate.lastHeartbeat.getTime()) / 1000)}s ago`
            : "never";
          await record(
            { kind: ProcessEventKind.HEARTBEAT_LOST, message: `last heartbeat ${age}; the limit is ${staleSeconds}s` },
            row,
          );
          return row;
        },
        candidate.name,
        principal,
      );
      if (moved) lost.push(moved);
    }
    return lost;
  }

  /** Registry rows that name this supervisord and program. */
  async findBySupervisorProgram(host: string, port: number, program: string): Promise<ProcessEntity[]> {
    const rows = await this.dataSource.getRepository(ProcessEntity).find({
      where: { supervisorHost: host, supervisorPort: port, program },
      order: { name: "ASC" },
    });
    return rows.map(normalise);
  }

  /** Every registry row that names a supervisord (the poller's view of the fleet). */
  async withSupervisor(): Promise<ProcessEntity[]> {
    return rowsOf(
      this.dataSource
        .getRepository(ProcessEntity)
        .createQueryBuilder("p")
        .where("p.supervisor_host IS NOT NULL AND p.supervisor_port IS NOT NULL"),
    );
  }

  /**
   * What supervisord was seen to say of `name`'s program. When it differs from what was
   * last seen (state or pid), the change is recorded (SUPERVISOR_STATE_CHANGED, and an
   * alert for a crash or an unreachable supervisord) and the registry follows it; all in
   * one transaction that only the first of several replicas seeing the same change wins.
   * An observation older than the last one (a late listener event) changes nothing.
   */
  async applyObservation(
    name: string,
    observation: Observation,
    principal: Principal,
  ): Promise<{ changed: boolean; process: ProcessEntity | null }> {
    return this.transition(
      async (manager, record) => {
        const process = await this.find(manager, name);
        if (!process) return { changed: false, process: null };
        const before = await manager.findOne(SupervisorObservationEntity, { where: { processName: name } });
        // UNREACHABLE is seen on Fleetvisor's clock, not supervisord's: it keeps the time of
        // the last answer, so that the next answer is not taken for an older one.
        const unreachable = observation.state === "UNREACHABLE";
        const fields = {
          state: observation.state,
          pid: observation.pid,
          ...(unreachable && before ? {} : { observedAt: observation.at }),
        };
        let changed: boolean;
        if (before) {
          const updated = await manager
            .createQueryBuilder()
            .update(SupervisorObservationEntity)
            .set(fields)
            .where("process_name = :name", { name })
            .andWhere(unreachable ? "1 = 1" : "observed_at <= :at", { at: observation.at })
            .andWhere(
              new Brackets((w) =>
                w
                  .where("state <> :state", { state: observation.state })
                  .orWhere("pid <> :pid", { pid: observation.pid }),
              ),
            )
            .execute();
          changed = updated.affected !== 0;
        } else {
          changed = await manager
            .insert(SupervisorObservationEntity, { processName: name, ...fields })
            .then(() => true)
            .catch((error: unknown) => {
              // Another replica saw it first.
              if (isDuplicateKey(error)) return false;
              throw error;
            });
        }
        if (!changed) return { changed: false, process };

        const was = before ? `${before.state}${before.pid ? ` (pid ${before.pid})` : ""}` : "first seen";
        const now = `${observation.state}${observation.pid ? ` (pid ${observation.pid})` : ""}`;
        await record(
          {
            kind: ProcessEventKind.SUPERVISOR_STATE_CHANGED,
            message: `${was} → ${now}${observation.detail ? `, ${observation.detail}` : ""} (${observation.source})`,
          },
          process,
        );
        if (observation.state === "UNREACHABLE") {
          await record(
            {
              kind: ProcessEventKind.SUPERVISOR_UNREACHABLE,
              message: observation.detail ?? "supervisord does not answer",
            },
            process,
          );
          return { changed: true, process };
        }
        // The first sighting of a program only sets the baseline for later changes.
        const follow = before ? followSupervisor(observation) : null;
        let row = process;
        if (follow) {
          const moved = await this.moveStatus(manager, name, follow.from, follow.to, follow.clearPid);
          row = await this.mustFind(manager, name);
          if (moved) await record({ kind: ProcessEventKind.STATUS_CHANGED, message: follow.message }, row);
          if (follow.crash) await record({ kind: ProcessEventKind.PROCESS_CRASHED, message: follow.message }, row);
        }
        return { changed: true, process: row };
      },
      name,
      principal,
    );
  }

  // ---------------------------------------------------------------- admins

  async create(input: CreateProcessInput, principal: Principal): Promise<ProcessEntity> {
    const name = input.name;
    const problems: InvalidField[] = [];
    check(problems, "input.name", name, processNameProblem);
    problems.push(...processInputProblems(input, "input."));
    if ((input.supervisorHost == null) !== (input.supervisorPort == null)) {
      problems.push({ field: "input.supervisorPort", message: "supervisorHost and supervisorPort go together" });
    }
    if (problems.length > 0) throw BadUserInputError.of(problems);
    const now = this.now();
    try {
      return await this.transition(
        async (manager, record) => {
          await manager.insert(ProcessEntity, {
            name,
            port: input.port,
            pid: null,
            status: ProcessStatus.STOPPED,
            supervisorHost: input.supervisorHost ?? null,
            supervisorPort: input.supervisorPort ?? null,
            program: input.program ?? DEFAULT_PROGRAM,
            lastHeartbeat: null,
            createdAt: now,
            updatedAt: now,
          });
          const row = await this.mustFind(manager, name);
          await record({ kind: ProcessEventKind.CREATED, message: describeProcess(row) }, row);
          return row;
        },
        name,
        principal,
      );
    } catch (error) {
      if (isDuplicateKey(error)) throw new ConflictError(`a process named "${name}" already exists`);
      throw error;
    }
  }

  async update(name: string, input: UpdateProcessInput, principal: Principal): Promise<ProcessEntity> {
    const problems: InvalidField[] = [];
    check(problems, "name", name, processNameProblem);
    problems.push(...processInputProblems(input, "input."));
    if (problems.length > 0) throw BadUserInputError.of(problems);
    const now = this.now();
    return this.transition(
      async (manager, record) => {
        const before = await this.find(manager, name);
        if (!before) throw notFound(name);
        const changes: Partial<ProcessEntity> = {};
        if (input.port != null && input.port !== before.port) changes.port = input.port;
        if (input.supervisorHost != null && input.supervisorHost !== before.supervisorHost) {
          changes.supervisorHost = input.supervisorHost;
        }
        if (input.supervisorPort != null && input.supervisorPort !== before.supervisorPort) {
          changes.supervisorPort = input.supervisorPort;
        }
        if (input.program != null && input.program !== before.program) changes.program = input.program;
        const host = changes.supervisorHost ?? before.supervisorHost;
        const port = changes.supervisorPort ?? before.supervisorPort;
        if ((host === null) !== (port === null)) {
          throw BadUserInputError.of([
            { field: "input.supervisorPort", message: "supervisorHost and supervisorPort go together" },
          ]);
        }
        const fields = Object.keys(changes);
        if (fields.length === 0) return before;
        await manager.update(ProcessEntity, { name }, { ...changes, updatedAt: now });
        const row = await this.mustFind(manager, name);
        await record(
          {
            kind: ProcessEventKind.UPDATED,
            message: fields
              .map(
                (f) => `${f}: ${String(before[f as keyof ProcessEntity])} → ${String(row[f as keyof ProcessEntity])}`,
              )
              .join(", "),
          },
          row,
        );
        return row;
      },
      name,
      principal,
    );
  }

  /** Removes a process from the registry and returns it as it was. */
  async delete(name: string, principal: Principal): Promise<ProcessEntity> {
    assertValid([{ field: "name", value: name, problem: processNameProblem }]);
    return this.transition(
      async (manager, record) => {
        const row = await this.find(manager, name);
        if (!row) throw notFound(name);
        const deleted = await manager.delete(ProcessEntity, { name });
        if (deleted.affected === 0) throw notFound(name);
        // What was seen of its program goes with it: a process created again under this
        // name starts from a first sighting.
        await manager.delete(SupervisorObservationEntity, { processName: name });
        await record({ kind: ProcessEventKind.DELETED, message: describeProcess(row), status: null }, null);
        return row;
      },
      name,
      principal,
    );
  }

  // ---------------------------------------------------------------- helpers

  /**
   * Runs `work` in a transaction; the events it records are published after the commit,
   * and only then.
   */
  private async transition<T>(
    work: (
      manager: EntityManager,
      record: (
        event: Pick<EventDraft, "kind" | "message"> & { status?: ProcessStatus | null },
        row: ProcessEntity | null,
      ) => Promise<void>,
    ) => Promise<T>,
    processName: string,
    principal: Principal,
  ): Promise<T> {
    const recorded: ProcessEventRecord[] = [];
    const result = await this.dataSource.transaction(async (manager) =>
      work(manager, async (event, row) => {
        recorded.push(
          await this.events.record(
            manager,
            {
              kind: event.kind,
              processName,
              actor: principal.name,
              message: event.message ?? null,
              status: event.status !== undefined ? event.status : (row?.status ?? null),
            },
            row,
          ),
        );
      }),
    );
    await this.events.publish(recorded);
    return result;
  }

  /**
   * The conditional UPDATE of every status transition: moves `name` to `to` only when its
   * status is one of `from` (NULL counting as stopped). True when it moved.
   */
  private async moveStatus(
    manager: EntityManager,
    name: string,
    from: readonly ProcessStatus[],
    to: ProcessStatus,
    clearPid: boolean,
  ): Promise<boolean> {
    // Never "to itself": with FOUND_ROWS, a row already at `to` would count as moved.
    const sources = from.filter((status) => status !== to);
    if (sources.length === 0) return false;
    const moved = await manager
      .createQueryBuilder()
      .update(ProcessEntity)
      .set({ status: to, updatedAt: this.now(), ...(clearPid ? { pid: null } : {}) })
      .where("process_name = :name", { name })
      .andWhere(
        new Brackets((w) => {
          w.where("status IN (:...from)", { from: sources });
          if (sources.includes(ProcessStatus.STOPPED)) w.orWhere("status IS NULL");
        }),
      )
      .execute();
    return moved.affected !== 0;
  }

  /**
   * One row by name. Every transition and control call reads a row this way, some twice,
   * so it is plain SQL: TypeORM's findOne costs about as much again as the query itself.
   */
  private async find(manager: EntityManager, name: string): Promise<ProcessEntity | null> {
    const rows = (await manager.query(`${SELECT_PROCESS} WHERE process_name = ?`, [name])) as RawProcessRow[];
    return rows[0] ? fromRaw(rows[0]) : null;
  }

  private async mustFind(manager: EntityManager, name: string): Promise<ProcessEntity> {
    const row = await this.find(manager, name);
    if (!row) throw notFound(name);
    return row;
  }
}

const PROCESS_COLUMNS = [
  "id",
  "process_name",
  "port",
  "pid",
  "status",
  "supervisor_host",
  "supervisor_port",
  "supervisor_program",
  "last_heartbeat",
  "created_at",
  "updated_at",
] as const;
const SELECT_PROCESS = `SELECT ${PROCESS_COLUMNS.join(", ")} FROM kb_server_processes`;

/**
 * The rows a query selects, read as plain columns: a list of a thousand processes costs a
 * fraction of what TypeORM's entity hydration does, and the `processes` query reads them
 * while supervisord's answers are arriving on the same thread.
 */
async function rowsOf(query: SelectQueryBuilder<ProcessEntity>): Promise<ProcessEntity[]> {
  query.select(`p.${PROCESS_COLUMNS[0]}`, PROCESS_COLUMNS[0]);
  for (const column of PROCESS_COLUMNS.slice(1)) query.addSelect(`p.${column}`, column);
  return ((await query.getRawMany()) as RawProcessRow[]).map(fromRaw);
}

interface RawProcessRow {
  id: number;
  process_name: string;
  port: number;
  pid: number | null;
  status: ProcessStatus | null;
  supervisor_host: string | null;
  supervisor_port: number | null;
  supervisor_program: string;
  last_heartbeat: Date | string | null;
  created_at: Date | string | null;
  updated_at: Date | string | null;
}

/** mysql2 hands DATETIMEs over as Dates (UTC, see data-source.ts); SQLite as text. */
function date(value: Date | string | null): Date | null {
  if (value === null || value instanceof Date) return value;
  return new Date(/[zZ]|[+-]\d\d:?\d\d$/.test(value) ? value : `${value.replace(" ", "T")}Z`);
}

function fromRaw(row: RawProcessRow): ProcessEntity {
  return normalise(
    Object.assign(new ProcessEntity(), {
      id: Number(row.id),
      name: row.process_name,
      port: Number(row.port),
      pid: row.pid === null ? null : Number(row.pid),
      status: row.status,
      supervisorHost: row.supervisor_host,
      supervisorPort: row.supervisor_port === null ? null : Number(row.supervisor_port),
      program: row.supervisor_program,
      lastHeartbeat: date(row.last_heartbeat),
      createdAt: date(row.created_at),
      updatedAt: date(row.updated_at),
    }),
  );
}

function normalise(row: ProcessEntity): ProcessEntity {
  if (row.status === null) row.status = ProcessStatus.STOPPED;
  return row;
}

function notFound(name: string): NotFoundError {
  return new NotFoundError(`no process named "${name}" in the registry`, { processName: name });
}

function assertMayTouch(principal: Principal, name: string): void {
  if (!mayTouchProcess(principal, name)) {
    throw new ForbiddenError(
      `token "${principal.name}" is bound to "${principal.processPattern}" and may not touch "${name}"`,
    );
  }
}

interface Checked {
  readonly field: string;
  readonly value: string | number;
  readonly problem: (value: never) => string | undefined;
}

function assertValid(checks: readonly Checked[]): void {
  const problems: InvalidField[] = [];
  for (const { field, value, problem } of checks) {
    const message = (problem as (value: string | number) => string | undefined)(value);
    if (message) problems.push({ field, message });
  }
  if (problems.length > 0) throw BadUserInputError.of(problems);
}

function processInputProblems(input: UpdateProcessInput, prefix: string): InvalidField[] {
  const problems: InvalidField[] = [];
  check(problems, `${prefix}port`, input.port, portProblem);
  check(problems, `${prefix}supervisorHost`, input.supervisorHost, hostProblem);
  check(problems, `${prefix}supervisorPort`, input.supervisorPort, portProblem);
  check(problems, `${prefix}program`, input.program, programNameProblem);
  return problems;
}

function filterProblems(filter: ProcessFilter): InvalidField[] {
  const problems: InvalidField[] = [];
  if (filter.names && filter.names.length > MAX_FILTER_NAMES) {
    problems.push({ field: "filter.names", message: `may list at most ${MAX_FILTER_NAMES} names` });
  }
  filter.names?.forEach((name, i) => check(problems, `filter.names[${i}]`, name, processNameProblem));
  if (filter.namePrefix !== undefined && filter.namePrefix !== null && filter.namePrefix.length > 100) {
    problems.push({ field: "filter.namePrefix", message: "must be at most 100 characters" });
  }
  check(problems, "filter.supervisorHost", filter.supervisorHost, hostProblem);
  return problems;
}

/** `prefix%` for LIKE, with the prefix's own `%`, `_` and `!` taken literally. */
function likePrefix(prefix: string): string {
  return `${prefix.replace(/[!%_]/g, (c) => `!${c}`)}%`;
}

/** Agents see only the processes their token is bound to. */
function restrictToPrincipal(query: SelectQueryBuilder<ProcessEntity>, principal: Principal): void {
  if (principal.role !== Role.AGENT) return;
  const pattern = principal.processPattern ?? "";
  if (pattern.endsWith("*")) {
    query.andWhere("p.process_name LIKE :agentPrefix ESCAPE '!'", { agentPrefix: likePrefix(pattern.slice(0, -1)) });
  } else {
    query.andWhere("p.process_name = :agentName", { agentName: pattern });
  }
}

function describeProcess(row: ProcessEntity): string {
  const where = row.supervisorHost ? ` on ${row.supervisorHost}:${row.supervisorPort} program ${row.program}` : "";
  return `port ${row.port}${where}`;
}
