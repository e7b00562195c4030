import { ArgsType, Field, ID, InputType, Int } from "type-graphql";
import { ProcessFilter } from "./process.inputs.js";
import { RolloutAction } from "./rollout-enums.js";

@InputType({ description: "A rolling RESTART, START or STOP: which processes (filter or names), and how." })
export class RolloutInput {
  @Field(() => RolloutAction, { description: "RESTART, START or STOP (RECONCILE is what reconcile starts)." })
  action!: RolloutAction;

  @Field(() => ProcessFilter, {
    nullable: true,
    description: "Which processes, as the processes query selects them; it must select something. Or names.",
  })
  filter?: ProcessFilter | null;

  @Field(() => [String], { nullable: true, description: "Which processes, by name. Or filter." })
  names?: string[] | null;

  @Field(() => Int, {
    defaultValue: 1,
    description: "Steps under way at once, never two on one supervisord (1–100).",
  })
  maxUnavailable!: number;

  @Field(() => Boolean, {
    defaultValue: true,
    description: "A started process counts as done once supervisord runs it and it heartbeats from its new pid.",
  })
  waitForHealthy!: boolean;

  @Field(() => Int, {
    defaultValue: 60,
    description: "How long a started process has to heartbeat; then HEALTH_TIMEOUT and the rollout stops (1–3600).",
  })
  healthTimeoutSeconds!: number;

  @Field(() => Int, { defaultValue: 0, description: "Seconds between batches (0–3600)." })
  pauseSeconds!: number;

  @Field(() => Boolean, { defaultValue: false, description: "Return the plan (state PLANNED); store and do nothing." })
  dryRun!: boolean;
}

@ArgsType()
export class ReconcileArgs {
  @Field(() => ProcessFilter, {
    nullable: true,
    description: "Among the processes this selects (all when omitted), those with a drift a start or stop ends.",
  })
  filter?: ProcessFilter | null;

  @Field(() => Int, { defaultValue: 1, description: "Steps under way at once, never two on one supervisord." })
  maxUnavailable!: number;

  @Field(() => Boolean, { defaultValue: true, description: "A started process counts as done once it heartbeats." })
  waitForHealthy!: boolean;

  @Field(() => Int, { defaultValue: 60, description: "How long a started process has to heartbeat." })
  healthTimeoutSeconds!: number;

  @Field(() => Boolean, { defaultValue: false, description: "Return the plan; store and do nothing." })
  dryRun!: boolean;
}

@ArgsType()
export class RolloutsArgs {
  @Field(() => Int, { defaultValue: 20, description: "At most 50." })
  first!: number;

  @Field(() => ID, { nullable: true, description: "The endCursor of the previous page." })
  after?: string | null;
}

@ArgsType()
export class RolloutIdArgs {
  @Field(() => ID)
  id!: string;
}
