import { ArgsType, Field, InputType, Int } from "type-graphql";
import { DesiredState, ProcessStatus } from "./enums.js";

@InputType({ description: "Every field narrows the result; none means every process." })
export class ProcessFilter {
  @Field(() => [String], { nullable: true })
  names?: string[] | null;

  @Field(() => String, { nullable: true, description: "Names starting with this, e.g. domaeka-live-." })
  namePrefix?: string | null;

  @Field(() => [ProcessStatus], { nullable: true, description: "Any of these statuses." })
  statuses?: ProcessStatus[] | null;

  @Field(() => String, { nullable: true })
  supervisorHost?: string | null;
}

@InputType()
export class CreateProcessInput {
  @Field(() => String, { description: "1–100 letters, digits, '.', '_', '-', starting with a letter or digit." })
  name!: string;

  @Field(() => Int, { description: "1–65535." })
  port!: number;

  @Field(() => String, { nullable: true, description: "A hostname or IP; required together with supervisorPort." })
  supervisorHost?: string | null;

  @Field(() => Int, { nullable: true })
  supervisorPort?: number | null;

  @Field(() => String, { nullable: true, description: "supervisord program name. Default: python-server." })
  program?: string | null;

  @Field(() => DesiredState, { nullable: true, description: "What it is meant to be doing. Default: nothing said." })
  desiredState?: DesiredState | null;
}

@InputType({ description: "Omitted fields stay as they are (null too, except for desiredState)." })
export class UpdateProcessInput {
  @Field(() => Int, { nullable: true })
  port?: number | null;

  @Field(() => String, { nullable: true })
  supervisorHost?: string | null;

  @Field(() => Int, { nullable: true })
  supervisorPort?: number | null;

  @Field(() => String, { nullable: true })
  program?: string | null;

  @Field(() => DesiredState, {
    nullable: true,
    description: "What it is meant to be doing; null says nothing is (drift is then NONE).",
  })
  desiredState?: DesiredState | null;
}

/** `(name, input)` in this order: type-graphql would list separate `@Arg`s in reverse. */
@ArgsType()
export class UpdateProcessArgs {
  @Field(() => String)
  name!: string;

  @Field(() => UpdateProcessInput)
  input!: UpdateProcessInput;
}
