import { DateTimeISOResolver } from "graphql-scalars";
import { Field, Int, ObjectType } from "type-graphql";
import { Process } from "./process.type.js";

@ObjectType({ simpleResolvers: true, description: "What a managed server learns when it registers." })
export class Registration {
  @Field(() => Process)
  process!: Process;

  @Field(() => Int, { description: "The port to listen on, from the registry." })
  port!: number;

  @Field(() => Int, { description: "Send a heartbeat this often." })
  heartbeatIntervalSeconds!: number;
}

@ObjectType({ simpleResolvers: true, description: "The answer to a heartbeat." })
export class HeartbeatAck {
  @Field(() => Boolean, {
    description: "False when the registry does not consider this pid registered: call registerProcess again.",
  })
  ok!: boolean;

  @Field(() => DateTimeISOResolver)
  serverTime!: Date;

  @Field(() => Int)
  nextHeartbeatInSeconds!: number;

  @Field(() => String, { nullable: true, description: "Why ok is false." })
  message!: string | null;
}
