import {
  Args,
  Authorized,
  Ctx,
  FieldResolver,
  Resolver,
  Root,
  Subscription,
  type SubscribeResolverData,
} from "type-graphql";
import { mayTouchProcess } from "../../auth/principal.js";
import { Role } from "../../domain/role.js";
import type { ProcessEntity } from "../../db/process.entity.js";
import { BadUserInputError, ForbiddenError, type InvalidField } from "../../errors.js";
import type { ProcessEventRecord } from "../../events/process-event.js";
import { processNameProblem } from "../../registry/validation.js";
import type { RequestContext } from "../context.js";
import { ProcessChangedArgs } from "../types/process-changed.args.js";
import { ProcessEvent } from "../types/process-event.type.js";
import { Process } from "../types/process.type.js";

type SubscribeData = SubscribeResolverData<unknown, ProcessChangedArgs, RequestContext>;

function subscribeToProcessChanges({ args, context }: SubscribeData): AsyncIterable<ProcessEventRecord> {
  const { principal, services } = context;
  const problems: InvalidField[] = [];
  args.names?.forEach((name, i) => {
    const problem = processNameProblem(name);
    if (problem) problems.push({ field: `names[${i}]`, message: problem });
  });
  const after = args.after ?? null;
  if (after !== null && !/^\d{1,19}$/.test(after)) {
    problems.push({ field: "after", message: `must be an event id from a previous ProcessEvent (got "${after}")` });
  }
  if (problems.length > 0) throw BadUserInputError.of(problems);
  const outside = args.names?.find((name) => !mayTouchProcess(principal, name));
  if (outside !== undefined) {
    throw new ForbiddenError(
      `token "${principal.name}" is bound to "${principal.processPattern}" and may not watch "${outside}"`,
    );
  }
  return services.events.stream({
    names: args.names ?? undefined,
    kinds: args.kinds ?? undefined,
    after: after === null ? undefined : BigInt(after),
    accept: principal.role === Role.AGENT ? (event) => mayTouchProcess(principal, event.processName) : undefined,
  });
}

@Resolver(() => ProcessEvent)
export class ProcessEventResolver {
  @Authorized(Role.VIEWER, Role.AGENT)
  @Subscription(() => ProcessEvent, {
    description:
      "Every change of the registry as it happens. With `after` (the id of the last event seen), first every " +
      "recorded event after it, then live ones: no gap, no duplicate. HEARTBEAT only when asked for in `kinds`.",
    subscribe: (data) => subscribeToProcessChanges(data as SubscribeData),
  })
  processChanged(
    @Root() event: ProcessEventRecord,
    @Args(() => ProcessChangedArgs) _args: ProcessChangedArgs,
  ): ProcessEventRecord {
    return event;
  }

  @FieldResolver(() => Process, { nullable: true, description: "The process after the event; null once deleted." })
  process(
    @Root() event: ProcessEventRecord,
    @Ctx() { loaders }: RequestContext,
  ): Promise<ProcessEntity | null> | ProcessEntity | null {
    if (event.process !== undefined) return event.process;
    return loaders.processByName.load(event.processName);
  }
}
