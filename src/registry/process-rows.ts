import type { EntityManager, SelectQueryBuilder } from "typeorm";
import { ProcessEntity } from "../db/process.entity.js";
import { Drift, type DesiredState } from "../domain/desired-state.js";
import { ProcessStatus } from "../domain/process-status.js";
import { NotFoundError } from "../errors.js";

/**
 * Reading registry rows as plain columns. Every transition and control call reads a row,
 * some twice, and a list of a thousand processes is read while supervisord's answers
 * arrive on the same thread: TypeORM's entity hydration costs about as much again as the
 * query itself, so the hot reads skip it.
 */

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
  "desired_state",
  "drift",
] as const;
const SELECT_PROCESS = `SELECT ${PROCESS_COLUMNS.join(", ")} FROM kb_server_processes`;

export interface RawProcessRow {
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
  desired_state: DesiredState | null;
  drift: Drift | null;
}

/** Makes a query (aliased `p`) select a row's columns, as {@link fromRaw} reads them. */
export function selectProcessColumns<Q extends SelectQueryBuilder<ProcessEntity>>(query: Q): Q {
  query.select(`p.${PROCESS_COLUMNS[0]}`, PROCESS_COLUMNS[0]);
  for (const column of PROCESS_COLUMNS.slice(1)) query.addSelect(`p.${column}`, column);
  return query;
}

/** The rows a query (aliased `p`) selects. */
export async function rowsOf(query: SelectQueryBuilder<ProcessEntity>): Promise<ProcessEntity[]> {
  return ((await selectProcessColumns(query).getRawMany()) as RawProcessRow[]).map(fromRaw);
}

/** One row by name, or `null`. */
export async function findProcess(manager: EntityManager, name: string): Promise<ProcessEntity | null> {
  const rows = (await manager.query(`${SELECT_PROCESS} WHERE process_name = ?`, [name])) as RawProcessRow[];
  return rows[0] ? fromRaw(rows[0]) : null;
}

/** One row by name; NOT_FOUND when there is none. */
export async function mustFindProcess(manager: EntityManager, name: string): Promise<ProcessEntity> {
  const row = await findProcess(manager, name);
  if (!row) throw processNotFound(name);
  return row;
}

export function processNotFound(name: string): NotFoundError {
  return new NotFoundError(`no process named "${name}" in the registry`, { processName: name });
}

/** mysql2 hands DATETIMEs over as Dates (UTC, see data-source.ts); SQLite as text. */
export function dateOf(value: Date | string | null): Date | null {
  if (value === null || value instanceof Date) return value;
  return new Date(/[zZ]|[+-]\d\d:?\d\d$/.test(value) ? value : `${value.replace(" ", "T")}Z`);
}

export function fromRaw(row: RawProcessRow): ProcessEntity {
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
      lastHeartbeat: dateOf(row.last_heartbeat),
      createdAt: dateOf(row.created_at),
      updatedAt: dateOf(row.updated_at),
      desiredState: row.desired_state,
      drift: row.drift,
    }),
  );
}

/** The guide's DDL allows a NULL status; it reads as stopped. A NULL drift reads as NONE. */
export function normalise(row: ProcessEntity): ProcessEntity {
  if (row.status === null) row.status = ProcessStatus.STOPPED;
  row.desiredState ??= null;
  row.drift ??= Drift.NONE;
  return row;
}

/** `prefix%` for LIKE, with the prefix's own `%`, `_` and `!` taken literally (ESCAPE '!'). */
export function likePrefix(prefix: string): string {
  return `${prefix.replace(/[!%_]/g, (c) => `!${c}`)}%`;
}

export function describeProcess(row: ProcessEntity): string {
  const where = row.supervisorHost ? ` on ${row.supervisorHost}:${row.supervisorPort} program ${row.program}` : "";
  return `port ${row.port}${where}`;
}
