import { ArgsType, Field, Int } from "type-graphql";
import { ProcessFilter } from "./process.inputs.js";
import { SHARE_MS } from "../shared-answers.js";

const MAX_AGE_DESCRIPTION =
  "With more than 0, `supervisor` and `health` come from what was last observed of each supervisord (by the poller, " +
  "its event listener or any live answer) when that is at most this many seconds old; only supervisords observed " +
  "longer ago are asked now. 0: every supervisord is asked now.";

const LIST_MAX_AGE_DESCRIPTION =
  MAX_AGE_DESCRIPTION +
  ` With more than 0, callers asking the same list (same query, variables, role and process pattern) share one ` +
  `answer for up to ${SHARE_MS / 1000} s; any process event, and any live answer this replica got, end the sharing.`;

@ArgsType()
export class ProcessesArgs {
  @Field(() => ProcessFilter, { nullable: true })
  filter?: ProcessFilter | null;

  @Field(() => Int, { defaultValue: 0, description: LIST_MAX_AGE_DESCRIPTION })
  maxAgeSeconds!: number;
}

@ArgsType()
export class ProcessArgs {
  @Field(() => String)
  name!: string;

  @Field(() => Int, { defaultValue: 0, description: MAX_AGE_DESCRIPTION })
  maxAgeSeconds!: number;
}

@ArgsType()
export class ProcessPageArgs {
  @Field(() => ProcessFilter, { nullable: true })
  filter?: ProcessFilter | null;

  @Field(() => Int, { defaultValue: 100, description: "At most 500." })
  first!: number;

  @Field(() => String, { nullable: true, description: "The endCursor of the previous page." })
  after?: string | null;

  @Field(() => Int, { defaultValue: 0, description: LIST_MAX_AGE_DESCRIPTION })
  maxAgeSeconds!: number;
}
