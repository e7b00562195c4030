import { ArgsType, Field, Int } from "type-graphql";

/** `(name, pid)` in this order: type-graphql would list separate `@Arg`s in reverse. */
@ArgsType()
export class ProcessPidArgs {
  @Field(() => String, { description: "The process name in the registry." })
  name!: string;

  @Field(() => Int, { description: "The managed server's own pid." })
  pid!: number;
}
