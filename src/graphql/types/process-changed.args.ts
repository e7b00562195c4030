import { ArgsType, Field, ID } from "type-graphql";
import { ProcessEventKind } from "./enums.js";

@ArgsType()
export class ProcessChangedArgs {
  @Field(() => [String], { nullable: true, description: "Only these processes." })
  names?: string[] | null;

  @Field(() => [ProcessEventKind], { nullable: true, description: "Only these kinds (default: all but HEARTBEAT)." })
  kinds?: ProcessEventKind[] | null;

  @Field(() => ID, { nullable: true, description: "Resume after this event id: first every recorded event after it." })
  after?: string | null;
}
