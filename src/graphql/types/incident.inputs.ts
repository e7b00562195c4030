import { DateTimeISOResolver } from "graphql-scalars";
import { ArgsType, Field, ID, InputType, Int } from "type-graphql";
import { IncidentKind, IncidentStateFilter } from "./incident-enums.js";

@ArgsType()
export class IncidentsArgs {
  @Field(() => IncidentStateFilter, { defaultValue: IncidentStateFilter.OPEN })
  state!: IncidentStateFilter;

  @Field(() => Int, { defaultValue: 50, description: "At most 200." })
  first!: number;

  @Field(() => ID, { nullable: true, description: "The id of the last incident of the previous page." })
  after?: string | null;
}

@ArgsType()
export class AcknowledgeIncidentArgs {
  @Field(() => ID)
  id!: string;

  @Field(() => String, { nullable: true, description: "Why, or what is being done (at most 1000 characters)." })
  note?: string | null;
}

@InputType({ description: "What to silence, until when, and why." })
export class SilenceInput {
  @Field(() => String, { description: "A process name, `prefix-*` or `*` (a supervisord's incident: `host:port`)." })
  namePattern!: string;

  @Field(() => [IncidentKind], {
    nullable: true,
    description: "The kinds to silence; every kind when empty or omitted.",
  })
  kinds?: IncidentKind[] | null;

  @Field(() => DateTimeISOResolver, { description: "When it ends: in the future, within 90 days." })
  until!: Date;

  @Field(() => String, { description: "Why (required)." })
  comment!: string;
}

@ArgsType()
export class SilenceIdArgs {
  @Field(() => ID)
  id!: string;
}

@ArgsType()
export class SilencesArgs {
  @Field(() => Boolean, { defaultValue: false, description: "Also the expired ones (the latest 500 in all)." })
  includeExpired!: boolean;
}
