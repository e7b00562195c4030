import { DateTimeISOResolver } from "graphql-scalars";
import { Field, ID, Int, ObjectType } from "type-graphql";
import type { Rollout as RolloutRecord } from "../../rollout/rollout.js";
import { RolloutAction, RolloutState, StepOutcome } from "./rollout-enums.js";

@ObjectType({ simpleResolvers: true, description: "Why a rollout step failed." })
export class RolloutStepError {
  @Field(() => String, {
    description: "An extensions.code (SUPERVISOR_FAULT, SUPERVISOR_UNAVAILABLE, NOT_FOUND, …) or HEALTH_TIMEOUT.",
  })
  code!: string;

  @Field(() => String)
  message!: string;
}

@ObjectType({ simpleResolvers: true, description: "One process of a rollout." })
export class RolloutStep {
  @Field(() => Int, { description: "The order the steps run in, from 0." })
  position!: number;

  @Field(() => Int, {
    description: "Steps of one batch run together: at most maxUnavailable, never two on one supervisord.",
  })
  batch!: number;

  @Field(() => String)
  processName!: string;

  @Field(() => String, { nullable: true })
  supervisorHost!: string | null;

  @Field(() => Int, { nullable: true })
  supervisorPort!: number | null;

  @Field(() => String)
  program!: string;

  @Field(() => RolloutAction, { description: "RESTART, START or STOP (a reconcile's steps start or stop)." })
  action!: RolloutAction;

  @Field(() => StepOutcome)
  outcome!: StepOutcome;

  @Field(() => DateTimeISOResolver, { nullable: true })
  startedAt!: Date | null;

  @Field(() => DateTimeISOResolver, { nullable: true })
  finishedAt!: Date | null;

  @Field(() => RolloutStepError, { nullable: true })
  error!: RolloutStepError | null;
}

@ObjectType({
  simpleResolvers: true,
  description: "A rolling start, stop or restart (or a reconcile), stored with its steps and their outcomes.",
})
export class Rollout {
  @Field(() => ID, { nullable: true, description: "Null for a dry run's plan, which is not stored." })
  id!: number | null;

  @Field(() => RolloutAction)
  action!: RolloutAction;

  @Field(() => RolloutState)
  state!: RolloutState;

  @Field(() => Int)
  maxUnavailable!: number;

  @Field(() => Boolean)
  waitForHealthy!: boolean;

  @Field(() => Int)
  healthTimeoutSeconds!: number;

  @Field(() => Int)
  pauseSeconds!: number;

  @Field(() => String, { description: "The name of the token that started it; its steps act as that token." })
  createdBy!: string;

  @Field(() => DateTimeISOResolver)
  createdAt!: Date;

  @Field(() => DateTimeISOResolver, { nullable: true })
  finishedAt!: Date | null;

  @Field(() => DateTimeISOResolver, {
    nullable: true,
    description: "When a cancel was asked for; the rollout is CANCELLED once the steps under way finish.",
  })
  cancelRequestedAt!: Date | null;

  @Field(() => String, { nullable: true, description: "Who asked for the cancel." })
  cancelledBy!: string | null;

  @Field(() => [RolloutStep], { description: "In the order they run." })
  steps!: RolloutStep[];
}

@ObjectType({ description: "One page of rollouts, newest first." })
export class RolloutPage {
  @Field(() => [Rollout])
  nodes!: readonly RolloutRecord[];

  @Field(() => ID, { nullable: true, description: "Pass as `after` for the next page; null when the page is empty." })
  endCursor!: string | null;

  @Field(() => Boolean)
  hasNextPage!: boolean;
}
