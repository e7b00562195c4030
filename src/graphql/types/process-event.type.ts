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

  @Field(() => String)
  processName!: string;

  @Field(() => DateTimeISOResolver)
  at!: Date;

  @Field(() => String, { description: "The name of the token that caused it, or fleetvisor." })
  actor!: string;

  @Field(() => String, { nullable: true })
  message!: string | null;

  @Field(() => ProcessStatus, { nullable: true, description: "The registry status right after the event." })
  status!: ProcessStatus | null;
}
