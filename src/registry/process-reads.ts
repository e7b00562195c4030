import { Brackets, type DataSource, type SelectQueryBuilder } from "typeorm";
import { assertMayTouch, type Principal } from "../auth/principal.js";
import { ProcessEntity } from "../db/process.entity.js";
import { ProcessStatus } from "../domain/process-status.js";
import { Role } from "../domain/role.js";
import { check, hostProblem, namePrefixProblem, processNameProblem } from "../domain/validation.js";
import { BadUserInputError, type InvalidField } from "../errors.js";
import { findProcess, likePrefix, normalise, rowsOf } from "./process-rows.js";

/** Which processes a query wants; every field narrows, none means all. */
export interface ProcessFilter {
  readonly names?: readonly string[] | null | undefined;
  readonly namePrefix?: string | null | undefined;
  readonly statuses?: readonly ProcessStatus[] | null | undefined;
  readonly supervisorHost?: string | null | undefined;
}

const MAX_FILTER_NAMES = 1000;
/** The most rows one page holds. */
export const MAX_PAGE_SIZE = 500;

/** A page cursor: the last name of the page, opaque to callers. */
export function cursorOf(name: string): string {
  return Buffer.from(name, "utf8").toString("base64url");
}

function nameOfCursor(cursor: string): string | null {
  if (!/^[A-Za-z0-9_-]{1,200}$/.test(cursor)) return null;
  const name = Buffer.from(cursor, "base64url").toString("utf8");
  return processNameProblem(name) === undefined ? name : null;
}

/** Reads of the registry, each limited to what the caller may see. */
export class ProcessReads {
  constructor(private readonly dataSource: DataSource) {}

  async list(filter: ProcessFilter, principal: Principal): Promise<ProcessEntity[]> {
    const query = this.filtered(filter, principal);
    return query ? rowsOf(query.orderBy("p.process_name", "ASC")) : [];
  }

  /**
   * One page of what `filter` selects, in name order, after the process named by `after`
   * (keyset paging: a row inserted meanwhile is on the page its name puts it, and no row
   * is skipped or repeated). `first` is 1 to {@link MAX_PAGE_SIZE}.
   */
  async page(
    filter: ProcessFilter,
    principal: Principal,
    first: number,
    after: string | null,
  ): Promise<{ rows: ProcessEntity[]; hasNextPage: boolean; totalCount: number }> {
    const problems: InvalidField[] = [];
    if (!Number.isInteger(first) || first < 1 || first > MAX_PAGE_SIZE) {
      problems.push({ field: "first", message: `must be between 1 and ${MAX_PAGE_SIZE} (got ${first})` });
    }
    const afterName = after === null ? null : nameOfCursor(after);
    if (after !== null && afterName === null) {
      problems.push({ field: "after", message: "must be the endCursor of a previous page" });
    }
    if (problems.length > 0) throw BadUserInputError.of(problems);
    const counted = this.filtered(filter, principal);
    const paged = this.filtered(filter, principal);
    if (!counted || !paged) return { rows: [], hasNextPage: false, totalCount: 0 };
    if (afterName !== null) paged.andWhere("p.process_name > :afterName", { afterName });
    const [rows, totalCount] = await Promise.all([
      rowsOf(paged.orderBy("p.process_name", "ASC").limit(first + 1)),
      counted.getCount(),
    ]);
    return { rows: rows.slice(0, first), hasNextPage: rows.length > first, totalCount };
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

  /** The process called `name`, or `null`. A bound token may only ask for its own processes. */
  async get(name: string, principal: Principal): Promise<ProcessEntity | null> {
    const problems: InvalidField[] = [];
    check(problems, "name", name, processNameProblem);
    if (problems.length > 0) throw BadUserInputError.of(problems);
    assertMayTouch(principal, name);
    return findProcess(this.dataSource.manager, name);
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

  /** Registry rows that name this supervisord and program. */
  async findBySupervisorProgram(host: string, port: number, program: string): Promise<ProcessEntity[]> {
    const rows = await this.dataSource.getRepository(ProcessEntity).find({
      where: { supervisorHost: host, supervisorPort: port, program },
      order: { name: "ASC" },
    });
    return rows.map(normalise);
  }

  /** Whether any registry row names this supervisord. */
  async namesSupervisor(host: string, port: number): Promise<boolean> {
    return this.dataSource
      .getRepository(ProcessEntity)
      .exists({ where: { supervisorHost: host, supervisorPort: port } });
  }

  /**
   * Every registry row that names a supervisord (the poller's view of the fleet), or with
   * `principal`, those of them it may see.
   */
  async withSupervisor(principal?: Principal): Promise<ProcessEntity[]> {
    const query = this.dataSource
      .getRepository(ProcessEntity)
      .createQueryBuilder("p")
      .where("p.supervisor_host IS NOT NULL AND p.supervisor_port IS NOT NULL");
    if (principal) restrictToPrincipal(query, principal);
    return rowsOf(query);
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
}

function filterProblems(filter: ProcessFilter): InvalidField[] {
  const problems: InvalidField[] = [];
  if (filter.names && filter.names.length > MAX_FILTER_NAMES) {
    problems.push({ field: "filter.names", message: `may list at most ${MAX_FILTER_NAMES} names` });
  }
  filter.names?.forEach((name, i) => check(problems, `filter.names[${i}]`, name, processNameProblem));
  check(problems, "filter.namePrefix", filter.namePrefix, namePrefixProblem);
  check(problems, "filter.supervisorHost", filter.supervisorHost, hostProblem);
  return problems;
}

/** A token bound to a pattern sees only the processes it matches. */
function restrictToPrincipal(query: SelectQueryBuilder<ProcessEntity>, principal: Principal): void {
  const pattern = principal.processPattern;
  if (pattern === null) {
    if (principal.role === Role.AGENT) query.andWhere("1 = 0"); // an agent sees only through its binding
    return;
  }
  if (pattern.endsWith("*")) {
    query.andWhere("p.process_name LIKE :boundPrefix ESCAPE '!'", { boundPrefix: likePrefix(pattern.slice(0, -1)) });
  } else {
    query.andWhere("p.process_name = :boundName", { boundName: pattern });
  }
}
