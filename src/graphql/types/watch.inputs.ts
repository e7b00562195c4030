import { DateTimeISOResolver } from "graphql-scalars";
import { Field, InputType, Int } from "type-graphql";
import { SupervisorState } from "./enums.js";

@InputType({ description: "One PROCESS_STATE event from a supervisord event listener." })
export class SupervisorEventInput {
  @Field(() => String, { description: "The supervisord, as the registry names it (supervisorHost)." })
  supervisorHost!: string;

  @Field(() => Int, { description: "As the registry names it (supervisorPort)." })
  supervisorPort!: number;

  @Field(() => String, { description: "group:name, or name when the group is named after the program." })
  program!: string;

  @Field(() => SupervisorState, { description: "The state the program entered." })
  state!: SupervisorState;

  @Field(() => Int, { nullable: true, description: "Its pid (0 or null when not running)." })
  pid?: number | null;

  @Field(() => Boolean, { nullable: true, description: "For EXITED: whether the exit status was expected." })
  expected?: boolean | null;

  @Field(() => DateTimeISOResolver, {
    nullable: true,
    description: "When it happened, on supervisord's clock. Default: now.",
  })
  at?: Date | null;
}
