import { ArgsType, Field, Int } from "type-graphql";
import { LogStream } from "./enums.js";

@ArgsType()
export class ProcessLogArgs {
  @Field(() => String)
  name!: string;

  @Field(() => LogStream, { defaultValue: LogStream.STDOUT })
  stream!: LogStream;

  @Field(() => Int, {
    nullable: true,
    description:
      "Where to begin: an offset a chunk (or Process.log) returned, to go on after a reconnect with no gap and no " +
      "repeat. Omitted: what is written from now on.",
  })
  fromOffset?: number | null;
}
