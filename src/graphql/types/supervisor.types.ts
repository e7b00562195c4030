import { DateTimeISOResolver } from "graphql-scalars";
import { Field, Float, Int, ObjectType } from "type-graphql";
import { SupervisorState } from "./enums.js";

@ObjectType({
  simpleResolvers: true,
  description: "What the process's supervisord says of its program, asked during this request.",
})
export class SupervisorProcess {
  @Field(() => String, { description: "The program, as group:name, or name when the group is named after it." })
  program!: string;

  @Field(() => SupervisorState)
  state!: SupervisorState;

  @Field(() => String, { description: "supervisord's own name for the state." })
  stateName!: string;

  @Field(() => Int, { nullable: true, description: "Null when not running." })
  pid!: number | null;

  @Field(() => DateTimeISOResolver, { nullable: true })
  startedAt!: Date | null;

  @Field(() => DateTimeISOResolver, { nullable: true })
  stoppedAt!: Date | null;

  @Field(() => Int, { nullable: true, description: "Seconds since start, while RUNNING." })
  uptimeSeconds!: number | null;

  @Field(() => Int, { description: "The exit status of the last run." })
  exitStatus!: number;

  @Field(() => String, { nullable: true, description: "Why supervisord could not spawn it, if it could not." })
  spawnError!: string | null;

  @Field(() => String, { description: "supervisord's one-line description (pid and uptime, or when it stopped)." })
  description!: string;

  @Field(() => DateTimeISOResolver, {
    description:
      "When Fleetvisor received this answer from supervisord: now when asked live, earlier when served from what " +
      "was observed (maxAgeSeconds).",
  })
  observedAt!: Date;
}

@ObjectType({
  simpleResolvers: true,
  description:
    "A piece of a program's log, in supervisord's byte offsets. To follow a log, pass each chunk's `offset` as " +
    "the next `offset`: the pieces join with no gap and no repeat.",
})
export class LogChunk {
  @Field(() => String, { description: "The log from `startOffset` to `offset`." })
  text!: string;

  @Field(() => Int, { description: "Where `text` begins in the log." })
  startOffset!: number;

  @Field(() => Int, { description: "Where `text` ends: pass it as `offset` next time to get what was written since." })
  offset!: number;

  @Field(() => Int, {
    description: "Written after `offset` but left for the next read (`bytes` was reached): ask again at once.",
  })
  remainingBytes!: number;

  @Field(() => Boolean, {
    description:
      "Part of the log before `startOffset` was left out: reading the end (offset 0), its beginning; after a " +
      "rotation, what the old log held past the offset asked for.",
  })
  overflow!: boolean;

  @Field(() => Boolean, {
    description:
      "The offset asked for lay beyond the end of the log: supervisord rotated or cleared it since, and `text` " +
      "begins at the start of the log there is now.",
  })
  rotated!: boolean;

  @Field(() => String, {
    nullable: true,
    description:
      "Following a log (processLog): what was left out and why, when something was (a rotation, a log written " +
      "faster than it could be followed, a subscriber that did not keep up); null otherwise.",
  })
  message?: string | null;
}

@ObjectType({
  simpleResolvers: true,
  description: "A program one supervisord runs (event listeners included), and the registry's processes that name it.",
})
export class SupervisorProgram {
  @Field(() => String, { description: "The program, as group:name, or name when the group is named after it." })
  program!: string;

  @Field(() => SupervisorState)
  state!: SupervisorState;

  @Field(() => Int, { nullable: true, description: "Null when not running." })
  pid!: number | null;

  @Field(() => String, { description: "supervisord's one-line description (pid and uptime, or when it stopped)." })
  description!: string;

  @Field(() => [String], {
    description: "The registry's processes that name this program on this supervisord; empty when none does.",
  })
  processNames!: string[];
}

@ObjectType({ simpleResolvers: true, description: "One supervisord that the registry names." })
export class Supervisor {
  @Field(() => String)
  host!: string;

  @Field(() => Int)
  port!: number;

  @Field(() => Boolean, { description: "It answered (possibly with a fault)." })
  reachable!: boolean;

  @Field(() => String, {
    nullable: true,
    description: "supervisord's own state: RUNNING, RESTARTING, SHUTDOWN, FATAL.",
  })
  state!: string | null;

  @Field(() => String, { nullable: true })
  version!: string | null;

  @Field(() => Float, { nullable: true, description: "Round trip of the status call, in milliseconds." })
  latencyMs!: number | null;

  @Field(() => Int, { nullable: true, description: "Programs this supervisord runs." })
  processCount!: number | null;

  @Field(() => Int, { description: "Processes in the registry that name this supervisord." })
  registeredProcessCount!: number;

  @Field(() => [SupervisorProgram], {
    nullable: true,
    description: "What it runs, from the same answer as processCount; null when it could not say.",
  })
  programs!: SupervisorProgram[] | null;

  @Field(() => [String], {
    nullable: true,
    description:
      "Programs it runs that no registry process on this supervisord names (event listeners too); null when it " +
      "could not say.",
  })
  unregisteredPrograms!: string[] | null;

  @Field(() => String, { nullable: true, description: "Why it is unreachable or unusable." })
  error!: string | null;

  @Field(() => String, { nullable: true, description: "SUPERVISOR_UNAVAILABLE or SUPERVISOR_FAULT when error is set." })
  errorCode!: string | null;
}
