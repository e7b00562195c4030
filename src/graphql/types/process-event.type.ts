import { DateTimeISOResolver } from "graphql-scalars";
import { Field, ID, ObjectType } from "type-graphql";
import { ProcessEventKind, ProcessStatus } from "./enums.js";

@ObjectType({ simpleResolvers: true, description: "Something that happened to a process." })
export class ProcessEvent {
  @Field(() => ID, {
    nullable: true,
    description:
      "The event log cursor: pass the last one seen as processChanged(after:) to resume. " +
      "Null for HEARTBEAT, which is not recorded.",
  })
  id!: string | null;

  @Field(() => ProcessEventKind)
  kind!: ProcessEventKind;

  @Field(() => String, { description: "Empty for TOKEN_CREATED and TOKEN_REVOKED, which are no process's." })
  processName!: string;

  @Field(() => DateTimeISOResolver)
  at!: Date;

  @Field(() => String, { description: "The name of the token that caused it, or fleetvisor (or cli)." })
  actor!: string;

  @Field(() => ID, {
    nullable: true,
    description:
      "The id of the token that caused it (see apiTokens): names need not be unique, ids are. Null for " +
      "fleetvisor itself, the bootstrap admin token, the command line, HEARTBEAT, and events recorded before ids were.",
  })
  actorTokenId!: string | null;

  @Field(() => String, { nullable: true })
  message!: string | null;

  @Field(() => ProcessStatus, { nullable: true, description: "The registry status right after the event." })
  status!: ProcessStatus | null;
}
