import { ArgsType, Field, ID, Int } from "type-graphql";
import { DEFAULT_PAGE, MAX_EVENTS_PAGE } from "../../events/audit-trail.js";
import { ProcessEventKind } from "./enums.js";

/** `Query.events`' arguments, in this order (type-graphql would list separate `@Arg`s in reverse). */
@ArgsType()
export class EventsArgs {
  @Field(() => ID, {
    nullable: true,
    description: "Events after this id, oldest first: pass the last id of a page to get the next (newer) one.",
  })
  after?: string | null;

  @Field(() => ID, {
    nullable: true,
    description: "Events before this id: pass the last id of a newest-first page to get the next (older) one.",
  })
  before?: string | null;

  @Field(() => String, { nullable: true, description: "Only this process's events." })
  processName?: string | null;

  @Field(() => [ProcessEventKind], { nullable: true, description: "Only these kinds (HEARTBEAT is not recorded)." })
  kinds?: ProcessEventKind[] | null;

  @Field(() => String, { nullable: true, description: "Only what tokens of this name did (fleetvisor: the service)." })
  actor?: string | null;

  @Field(() => Int, { nullable: true, defaultValue: DEFAULT_PAGE, description: `At most ${MAX_EVENTS_PAGE}.` })
  first?: number | null;

  @Field(() => ID, { nullable: true, description: "Only what the token with this id did (see apiTokens)." })
  actorTokenId?: string | null;
}
