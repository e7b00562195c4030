import { DateTimeISOResolver } from "graphql-scalars";
import { Field, ID, Int, ObjectType } from "type-graphql";
import { IncidentKind, IncidentState } from "./incident-enums.js";

@ObjectType({
  simpleResolvers: true,
  description:
    "An alert kept as one record from the moment it fires until what ends it: the same alert while it is open " +
    "only counts up occurrences and lastSeenAt.",
})
export class Incident {
  @Field(() => ID)
  id!: number;

  @Field(() => IncidentKind)
  kind!: IncidentKind;

  @Field(() => String, { nullable: true, description: "Null for a supervisord's incident (SUPERVISOR_UNREACHABLE)." })
  processName!: string | null;

  @Field(() => String, { nullable: true, description: "Set for a supervisord's incident." })
  supervisorHost!: string | null;

  @Field(() => Int, { nullable: true })
  supervisorPort!: number | null;

  @Field(() => IncidentState)
  state!: IncidentState;

  @Field(() => Int, { description: "How many times the alert fired while the incident was open (1 at first)." })
  occurrences!: number;

  @Field(() => DateTimeISOResolver)
  openedAt!: Date;

  @Field(() => DateTimeISOResolver)
  lastSeenAt!: Date;

  @Field(() => DateTimeISOResolver, { nullable: true })
  resolvedAt!: Date | null;

  @Field(() => String, { nullable: true, description: "The token that last acknowledged it." })
  acknowledgedBy!: string | null;

  @Field(() => DateTimeISOResolver, { nullable: true })
  acknowledgedAt!: Date | null;

  @Field(() => String, { nullable: true, description: "The note of the last acknowledgement." })
  note!: string | null;

  @Field(() => Boolean, { description: "A silence covers it: no webhook is sent for it." })
  silenced!: boolean;

  @Field(() => String, { nullable: true, description: "What opened it: the message of the alert." })
  reason!: string | null;
}

@ObjectType({
  simpleResolvers: true,
  description: "While active, incidents it matches are recorded and shown as silenced, and send no webhook.",
})
export class Silence {
  @Field(() => ID)
  id!: number;

  @Field(() => String, {
    description:
      "A process name, `prefix-*` or `*`; or a supervisord's `host:port`, which covers its own incident and those of the processes on it.",
  })
  namePattern!: string;

  @Field(() => [IncidentKind], { description: "The kinds it silences; empty for every kind." })
  kinds!: IncidentKind[];

  @Field(() => DateTimeISOResolver)
  until!: Date;

  @Field(() => String)
  comment!: string;

  @Field(() => String)
  createdBy!: string;

  @Field(() => DateTimeISOResolver)
  createdAt!: Date;

  @Field(() => DateTimeISOResolver, { nullable: true, description: "Set when expireSilence ended it early." })
  expiredAt!: Date | null;

  @Field(() => Boolean, { description: "Not expired and `until` is still ahead." })
  active!: boolean;
}
