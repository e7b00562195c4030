import { Kind, type FieldNode, type GraphQLResolveInfo, type SelectionSetNode } from "graphql";
import { Arg, Args, Authorized, Ctx, FieldResolver, Info, Int, Query, Resolver, Root } from "type-graphql";
import { Role } from "../../domain/role.js";
import type { ProcessEntity } from "../../db/process.entity.js";
import type { ProcessHealth as ProcessHealthValue } from "../../health/health.js";
import type { LogRead } from "../../supervisor/process-log.js";
import type { SupervisorProcessInfo } from "../../supervisor/supervisor-state.js";
import { MAX_LOG_BYTES } from "../../supervisor/supervisor.service.js";
import { type LiveState } from "../../supervisor/host-answers.js";
import type { RequestContext } from "../context.js";
import { checkMaxAge, healthOf, liveStateOf, resolveLiveStates, startAsking } from "../live.js";
import { cursorOf, MAX_PAGE_SIZE } from "../../registry/process-reads.js";
import { ProcessPage } from "../types/process-page.type.js";
import { ProcessArgs, ProcessesArgs, ProcessPageArgs } from "../types/process-query.args.js";
import { LogStream, ProcessHealth } from "../types/enums.js";
import { Process } from "../types/process.type.js";
import { LogChunk, SupervisorProcess } from "../types/supervisor.types.js";

function toSupervisorProcess(info: SupervisorProcessInfo, observedAt: Date): SupervisorProcess {
  return {
    program: info.program,
    state: info.state,
    stateName: info.stateName,
    pid: info.pid || null,
    startedAt: info.startedAt,
    stoppedAt: info.stoppedAt,
    uptimeSeconds:
      info.state === "RUNNING" && info.startedAt
        ? Math.max(0, Math.round((info.now.getTime() - info.startedAt.getTime()) / 1000))
        : null,
    exitStatus: info.exitStatus,
    spawnError: info.spawnError || null,
    description: info.description,
    observedAt,
  };
}

function toLogChunk(read: LogRead, fromEnd: boolean): LogChunk {
  return {
    text: read.text,
    startOffset: read.start,
    offset: read.end,
    remainingBytes: read.size - read.end,
    overflow: read.rotated || (fromEnd && read.start > 0),
    rotated: read.rotated,
  };
}

/** Fields of Process that need supervisord. */
const LIVE_FIELDS = new Set(["supervisor", "health", "healthReasons"]);
const HEALTH_FIELDS = new Set(["health", "healthReasons"]);

/** The part of a query that selects `field` under the resolved object (as a resolve info). */
function selectionOf(info: GraphQLResolveInfo, field: string): GraphQLResolveInfo | null {
  const nodes = info.fieldNodes.flatMap((node) =>
    (node.selectionSet?.selections ?? []).filter(
      (selection): selection is FieldNode => selection.kind === Kind.FIELD && selection.name.value === field,
    ),
  );
  return nodes.length > 0 ? { ...info, fieldNodes: nodes } : null;
}

const EVENT_CURSOR: ReadonlySet<string> = new Set(["eventCursor"]);

/** Whether the query selects any of `fields` on the resolved objects (through fragments too). */
function selects(info: GraphQLResolveInfo, fields: ReadonlySet<string>): boolean {
  const visit = (set: SelectionSetNode | undefined): boolean =>
    set?.selections.some((selection) => {
      switch (selection.kind) {
        case Kind.FIELD:
          return fields.has(selection.name.value);
        case Kind.INLINE_FRAGMENT:
          return visit(selection.selectionSet);
        case Kind.FRAGMENT_SPREAD:
          return visit(info.fragments[selection.name.value]?.selectionSet);
      }
    }) ?? false;
  return info.fieldNodes.some((node) => visit(node.selectionSet));
}

@Resolver(() => Process)
export class ProcessResolver {
  @Authorized(Role.VIEWER, Role.AGENT)
  @Query(() => [Process], {
    description: "Processes in the registry, ordered by name. A token bound to a pattern sees only its own.",
  })
  async processes(
    @Ctx() context: RequestContext,
    @Info() info: GraphQLResolveInfo,
    @Args(() => ProcessesArgs) { filter, maxAgeSeconds }: ProcessesArgs,
  ): Promise<ProcessEntity[]> {
    checkMaxAge(maxAgeSeconds);
    const live = selects(info, LIVE_FIELDS);
    // Asked live, supervisord is asked while the rows are still on their way.
    const asking = live && maxAgeSeconds === 0 ? startAsking(filter ?? {}, context) : undefined;
    const rows = await context.services.processes.list(filter ?? {}, context.principal);
    if (live) {
      await asking;
      await resolveLiveStates(rows, filter ?? {}, context, { health: selects(info, HEALTH_FIELDS), maxAgeSeconds });
    }
    return rows;
  }

  @Authorized(Role.VIEWER, Role.AGENT)
  @Query(() => ProcessPage, {
    description: `Processes a page at a time, ordered by name (at most ${MAX_PAGE_SIZE} a page). Asked live, only the page's supervisords are asked.`,
  })
  async processPage(
    @Ctx() context: RequestContext,
    @Info() info: GraphQLResolveInfo,
    @Args(() => ProcessPageArgs) { filter, first, after, maxAgeSeconds }: ProcessPageArgs,
  ): Promise<ProcessPage> {
    checkMaxAge(maxAgeSeconds);
    // Read before the rows: every change after it is either in the page or after the cursor.
    const eventCursor = selects(info, EVENT_CURSOR) ? await context.services.subscriptions.cursor() : "";
    const page = await context.services.processes.page(filter ?? {}, context.principal, first, after ?? null);
    const nodes = selectionOf(info, "nodes");
    if (nodes && selects(nodes, LIVE_FIELDS)) {
      await resolveLiveStates(page.rows, null, context, { health: selects(nodes, HEALTH_FIELDS), maxAgeSeconds });
    }
    const last = page.rows.at(-1);
    return {
      nodes: page.rows,
      endCursor: last ? cursorOf(last.name) : null,
      hasNextPage: page.hasNextPage,
      totalCount: page.totalCount,
      eventCursor,
    };
  }

  @Authorized(Role.VIEWER, Role.AGENT)
  @Query(() => Process, { nullable: true, description: "One process by name; null when there is none." })
  async process(
    @Ctx() context: RequestContext,
    @Info() info: GraphQLResolveInfo,
    @Args(() => ProcessArgs) { name, maxAgeSeconds }: ProcessArgs,
  ): Promise<ProcessEntity | null> {
    checkMaxAge(maxAgeSeconds);
    const row = await context.services.processes.get(name, context.principal);
    if (row && maxAgeSeconds > 0 && selects(info, LIVE_FIELDS)) {
      await resolveLiveStates([row], null, context, { health: selects(info, HEALTH_FIELDS), maxAgeSeconds });
    }
    return row;
  }

  @FieldResolver(() => SupervisorProcess, {
    nullable: true,
    description:
      "Live, from the process's supervisord (each supervisord is asked once per request). Null when the registry " +
      "names no supervisord; null with a SUPERVISOR_UNAVAILABLE / SUPERVISOR_FAULT / NOT_FOUND error when it cannot say.",
  })
  supervisor(
    @Root() process: ProcessEntity,
    @Ctx() context: RequestContext,
  ): SupervisorProcess | null | Promise<SupervisorProcess | null> {
    const fromLive = (live: LiveState): SupervisorProcess | null => {
      if (live.error) throw live.error;
      return live.view.kind === "info" ? toSupervisorProcess(live.view.info, live.observedAt ?? new Date()) : null;
    };
    const live = liveStateOf(process, context);
    return live instanceof Promise ? live.then(fromLive) : fromLive(live);
  }

  @FieldResolver(() => ProcessHealth, { description: "The registry and supervisord compared; see healthReasons." })
  health(
    @Root() process: ProcessEntity,
    @Ctx() context: RequestContext,
  ): ProcessHealthValue | Promise<ProcessHealthValue> {
    const report = healthOf(process, context);
    return report instanceof Promise ? report.then((r) => r.health) : report.health;
  }

  @FieldResolver(() => [String], {
    description: "Why health is what it is, and what else is off (e.g. a pid that differs).",
  })
  healthReasons(
    @Root() process: ProcessEntity,
    @Ctx() context: RequestContext,
  ): readonly string[] | Promise<readonly string[]> {
    const report = healthOf(process, context);
    return report instanceof Promise ? report.then((r) => r.reasons) : report.reasons;
  }

  @FieldResolver(() => LogChunk, {
    nullable: true,
    description:
      "The program's log through supervisord: with offset 0 its end (the last `bytes`), otherwise exactly what was " +
      "written from `offset` on (an offset a previous call returned), at most `bytes` of it. A follower whose log " +
      "was still empty passes 0 again, and gets at most `bytes` of what came since, with `overflow` if more did. " +
      "Null when the registry names no supervisord.",
  })
  async log(
    @Root() process: ProcessEntity,
    @Ctx() { services }: RequestContext,
    @Arg("stream", () => LogStream, { defaultValue: LogStream.STDOUT }) stream: LogStream,
    @Arg("bytes", () => Int, { defaultValue: 4096, description: `At most ${MAX_LOG_BYTES}.` }) bytes: number,
    @Arg("offset", () => Int, { defaultValue: 0 }) offset: number,
  ): Promise<LogChunk | null> {
    const fromEnd = offset === 0;
    const read = await services.supervisors.readLog(process, stream, fromEnd ? "end" : offset, bytes);
    return read && toLogChunk(read, fromEnd);
  }
}
