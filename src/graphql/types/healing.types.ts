import { DateTimeISOResolver } from "graphql-scalars";
import { Field, InputType, Int, ObjectType } from "type-graphql";

@ObjectType({
  description:
    "When Fleetvisor restarts the processes a pattern matches by itself: an UNRESPONSIVE process (supervisord " +
    "RUNNING, no heartbeat from this run for restartWhenUnresponsiveAfterSeconds) is restarted, never within " +
    "graceAfterStartSeconds of a start, at most maxRestarts per perSeconds; then it is quarantined. Where several " +
    "patterns match a process, the most specific wins: its exact name, else the longest prefix.",
})
export class HealingPolicy {
  @Field(() => String, { description: "A process name, or a prefix followed by * (`*` alone: every process)." })
  namePattern!: string;

  @Field(() => Int)
  restartWhenUnresponsiveAfterSeconds!: number;

  @Field(() => Int)
  graceAfterStartSeconds!: number;

  @Field(() => Int)
  maxRestarts!: number;

  @Field(() => Int)
  perSeconds!: number;

  @Field(() => DateTimeISOResolver)
  updatedAt!: Date;

  @Field(() => String, { description: "The token that last set it." })
  updatedBy!: string;
}

@InputType({ description: "A healing policy; setting one for an existing pattern replaces it." })
export class HealingPolicyInput {
  @Field(() => String, { description: "A process name, or a prefix followed by * (e.g. domaeka-*)." })
  namePattern!: string;

  @Field(() => Int, { description: "Seconds without a heartbeat from the running process before a restart (1–86400)." })
  restartWhenUnresponsiveAfterSeconds!: number;

  @Field(() => Int, { description: "Seconds after any start during which it is never restarted (0–86400)." })
  graceAfterStartSeconds!: number;

  @Field(() => Int, { description: "Automatic restarts allowed per perSeconds (1–1000); one more quarantines it." })
  maxRestarts!: number;

  @Field(() => Int, { description: "The budget's window, in seconds (1–604800)." })
  perSeconds!: number;
}
