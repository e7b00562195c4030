import {
  Args,
  Authorized,
  Ctx,
  FieldResolver,
  Query,
  Resolver,
  Root,
  Subscription,
  type SubscribeResolverData,
} from "type-graphql";
import type { ProcessEntity } from "../../db/process.entity.js";
import { Role } from "../../domain/role.js";
import type { ProcessEventRecord } from "../../events/process-event.js";
import type { RequestContext } from "../context.js";
import { EventsArgs } from "../types/events.args.js";
import { ProcessChangedArgs } from "../types/process-changed.args.js";
import { ProcessEvent } from "../types/process-event.type.js";
import { Process } from "../types/process.type.js";

type SubscribeData = SubscribeResolverData<unknown, ProcessChangedArgs, RequestContext>;

function subscribeToProcessChanges({ args, context }: SubscribeData): Promise<AsyncIterable<ProcessEventRecord>> {
  return context.services.subscriptions.subscribe(
    { names: args.names ?? undefined, kinds: args.kinds ?? undefined, after: args.after ?? undefined },
    context.principal,
  );
}

@Resolver(() => ProcessEvent)
export class ProcessEventResolver {
  @Authorized(Role.VIEWER, Role.AGENT)
  @Subscription(() => ProcessEvent, {
    description:
      "Every change of the registry as it happens. With `after` (the id of the last event seen), first every " +
      "recorded event after it, then live ones: no gap, no duplicate; CURSOR_EXPIRED when events after it may " +
      "have been pruned (EVENT_RETENTION_DAYS). HEARTBEAT only when asked for in `kinds`; token events never.",
    subscribe: (data) => subscribeToProcessChanges(data as SubscribeData),
  })
  processChanged(
    @Root() event: ProcessEventRecord,
    @Args(() => ProcessChangedArgs) _args: ProcessChangedArgs,
  ): ProcessEventRecord {
    return event;
  }

  @Authorized(Role.OPERATOR)
  @Query(() => [ProcessEvent], {
    description:
      "The audit trail: recorded events (who started, stopped, restarted, created, changed, deleted what, and " +
      "when, with which token; tokens created and revoked), newest first, or oldest first after `after`. A token " +
      "bound to a pattern sees its processes' events only; token events are for admins. Events older than " +
      "EVENT_RETENTION_DAYS are pruned.",
  })
  events(
    @Ctx() { services, principal }: RequestContext,
    @Args(() => EventsArgs) args: EventsArgs,
  ): Promise<ProcessEventRecord[]> {
    return services.audit.events(args, principal);
  }

  @FieldResolver(() => Process, {
    nullable: true,
    description:
      "The process after the event (a live event), or as it is now (a replayed or queried one); null once " +
      "deleted, and for token events.",
  })
  process(
    @Root() event: ProcessEventRecord,
    @Ctx() { loaders }: RequestContext,
  ): Promise<ProcessEntity | null> | ProcessEntity | null {
    if (event.process !== undefined) {
      // A live event: every subscriber reads its supervisord fields from one shared answer.
      if (event.process) loaders.changedAt.set(event.process, event.at);
      return event.process;
    }
    if (event.processName === "") return null;
    return loaders.processByName.load(event.processName);
  }
}
