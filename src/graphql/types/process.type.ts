import { DateTimeISOResolver } from "graphql-scalars";
import { Field, ID, Int, ObjectType } from "type-graphql";
import { DesiredState, Drift, ProcessStatus } from "./enums.js";

/**
 * A managed server. The fields here come from the registry (MySQL); fields that come
 * from its supervisord are resolved per request and joined onto the same type.
 *
 * `simpleResolvers`: plain properties need none of type-graphql's per-field machinery
 * (no field here has middleware or its own roles); a list of a thousand rows is ~10,000
 * field resolutions, and graphql-js's default resolver is several times cheaper.
 */
@ObjectType({ simpleResolvers: true, description: "A managed server, from the registry and from its supervisord." })
export class Process {
  @Field(() => ID)
  id!: number;

  @Field(() => String, { description: "kb_server_processes.process_name, e.g. domaeka-test-01." })
  name!: string;

  @Field(() => Int, { description: "The port the server listens on; it learns it at registration." })
  port!: number;

  @Field(() => Int, { nullable: true, description: "The pid the server registered with." })
  pid!: number | null;

  @Field(() => ProcessStatus)
  status!: ProcessStatus;

  @Field(() => DateTimeISOResolver, { nullable: true })
  lastHeartbeat!: Date | null;

  @Field(() => String, { nullable: true, description: "Host of its supervisord's XML-RPC interface." })
  supervisorHost!: string | null;

  @Field(() => Int, { nullable: true, description: "Port of its supervisord's XML-RPC interface." })
  supervisorPort!: number | null;

  @Field(() => String, { description: "The supervisord program name (default python-server)." })
  program!: string;

  @Field(() => DateTimeISOResolver, { nullable: true })
  createdAt!: Date | null;

  @Field(() => DateTimeISOResolver, {
    nullable: true,
    description: "Last change of the row; heartbeats do not count as changes.",
  })
  updatedAt!: Date | null;

  @Field(() => DesiredState, {
    nullable: true,
    description:
      "What it is meant to be doing, as a control mutation, a rollout or an admin last said; null while nobody has.",
  })
  desiredState!: DesiredState | null;

  @Field(() => Drift, {
    description:
      "How supervisord differs from desiredState, as the poller and the event listener last saw it; NONE while nothing is desired.",
  })
  drift!: Drift;
}
