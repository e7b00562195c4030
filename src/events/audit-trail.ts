import type { Principal } from "../auth/principal.js";
import { ProcessEventKind, TOKEN_KINDS } from "../domain/event-kind.js";
import { Role } from "../domain/role.js";
import { check, processNameProblem } from "../domain/validation.js";
import { BadUserInputError, type InvalidField } from "../errors.js";
import type { EventLogReads } from "./event-log-reads.js";
import type { ProcessEventRecord } from "./process-event.js";

/** How many events an `events` query returns unless it says. */
export const DEFAULT_PAGE = 100;
/** The most events one `events` query returns. */
export const MAX_EVENTS_PAGE = 500;
const EVENT_ID = /^\d{1,19}$/;
const TOKEN_ID = /^\d{1,9}$/;

/** What `Query.events` asks for; every field narrows. */
export interface AuditQuery {
  /** Events after this id, oldest first (paging forward, or catching up). */
  readonly after?: string | null | undefined;
  /** Events before this id (paging back through history). */
  readonly before?: string | null | undefined;
  readonly processName?: string | null | undefined;
  readonly kinds?: readonly ProcessEventKind[] | null | undefined;
  /** The acting token's name, as recorded. */
  readonly actor?: string | null | undefined;
  readonly actorTokenId?: string | null | undefined;
  /** How many at most. */
  readonly first?: number | null | undefined;
}

/**
 * The audit trail: who started, stopped, restarted, created, changed, deleted what, and
 * when, with what token; and who created and revoked tokens. Read from the event log by
 * id, a page at a time: newest first, or oldest first after a cursor.
 *
 * What a caller sees is narrowed the way lists are: a token bound to a pattern gets its
 * processes' events only, and token events are for admins (they describe tokens, which
 * only admins may list). Asking for more selects nothing more; it is not an error.
 */
export class AuditTrail {
  constructor(private readonly log: EventLogReads) {}

  async events(query: AuditQuery, principal: Principal): Promise<ProcessEventRecord[]> {
    const problems = auditQueryProblems(query);
    if (problems.length > 0) throw BadUserInputError.of(problems);
    return this.log.page({
      after: query.after == null ? undefined : BigInt(query.after),
      before: query.before == null ? undefined : BigInt(query.before),
      processName: query.processName ?? undefined,
      kinds: query.kinds ?? undefined,
      excludeKinds: principal.role === Role.ADMIN && principal.processPattern === null ? [] : [...TOKEN_KINDS],
      actor: query.actor ?? undefined,
      actorTokenId: query.actorTokenId == null ? undefined : Number(query.actorTokenId),
      processPattern: principal.processPattern,
      limit: query.first ?? DEFAULT_PAGE,
    });
  }
}

/** Every problem with `query`, each naming its argument. */
export function auditQueryProblems(query: AuditQuery): InvalidField[] {
  const problems: InvalidField[] = [];
  const first = query.first ?? DEFAULT_PAGE;
  if (!Number.isInteger(first) || first < 1 || first > MAX_EVENTS_PAGE) {
    problems.push({ field: "first", message: `must be between 1 and ${MAX_EVENTS_PAGE} (got ${first})` });
  }
  for (const field of ["after", "before"] as const) {
    const id = query[field];
    if (id != null && !EVENT_ID.test(id)) {
      problems.push({ field, message: `must be an event id from a previous ProcessEvent (got "${id}")` });
    }
  }
  if (query.after != null && query.before != null && EVENT_ID.test(query.after) && EVENT_ID.test(query.before)) {
    if (BigInt(query.before) <= BigInt(query.after)) {
      problems.push({ field: "before", message: `must be greater than after (got ${query.before} ≤ ${query.after})` });
    }
  }
  check(problems, "processName", query.processName ?? undefined, processNameProblem);
  query.kinds?.forEach((kind, i) => {
    if (kind === ProcessEventKind.HEARTBEAT) {
      problems.push({ field: `kinds[${i}]`, message: "HEARTBEAT is not recorded (subscribe to it instead)" });
    }
  });
  if (query.actor != null && (query.actor.length === 0 || query.actor.length > 100)) {
    problems.push({ field: "actor", message: `must be a token name of 1–100 characters (got ${query.actor.length})` });
  }
  if (query.actorTokenId != null && !TOKEN_ID.test(query.actorTokenId)) {
    problems.push({ field: "actorTokenId", message: `must be a token id (got "${query.actorTokenId}")` });
  }
  return problems;
}
