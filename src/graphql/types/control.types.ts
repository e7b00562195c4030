import { ArgsType, Field, Int, ObjectType } from "type-graphql";
import { ControlOutcome } from "./enums.js";
import { ProcessFilter } from "./process.inputs.js";
import { Process } from "./process.type.js";

@ObjectType({ simpleResolvers: true, description: "Why a process in a bulk operation failed." })
export class ControlError {
  @Field(() => String, { description: "An extensions.code: SUPERVISOR_FAULT, SUPERVISOR_UNAVAILABLE, NOT_FOUND, …" })
  code!: string;

  @Field(() => String)
  message!: string;

  @Field(() => String, { nullable: true, description: "supervisord's fault name, for SUPERVISOR_FAULT." })
  faultName!: string | null;
}

@ObjectType({ simpleResolvers: true, description: "One process's outcome in a bulk start / stop / restart." })
export class ProcessControlResult {
  @Field(() => String)
  name!: string;

  @Field(() => ControlOutcome)
  outcome!: ControlOutcome;

  @Field(() => Process, { nullable: true, description: "The process afterwards." })
  process!: Process | null;

  @Field(() => ControlError, { nullable: true })
  error!: ControlError | null;
}

@ArgsType()
export class BulkControlArgs {
  @Field(() => ProcessFilter, {
    description: "Which processes; it must select something (an empty filter is refused).",
  })
  filter!: ProcessFilter;

  @Field(() => Int, {
    nullable: true,
    description: "At most this many at a time, and never two on one supervisord. 1 is a rolling operation. Default: 1.",
  })
  maxParallel?: number | null;

  @Field(() => Boolean, { defaultValue: false, description: "Go on after a failure instead of skipping the rest." })
  continueOnError!: boolean;
}
