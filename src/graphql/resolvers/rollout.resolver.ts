import {
  Arg,
  Args,
  Authorized,
  Ctx,
  Mutation,
  Query,
  Resolver,
  Root,
  Subscription,
  type SubscribeResolverData,
} from "type-graphql";
import { Role } from "../../domain/role.js";
import type { Rollout as RolloutRecord } from "../../rollout/rollout.js";
import type { RequestContext } from "../context.js";
import { ReconcileArgs, RolloutIdArgs, RolloutInput, RolloutsArgs } from "../types/rollout.inputs.js";
import { Rollout, RolloutPage } from "../types/rollout.types.js";

type SubscribeData = SubscribeResolverData<unknown, RolloutIdArgs, RequestContext>;

@Resolver(() => Rollout)
export class RolloutResolver {
  @Authorized(Role.OPERATOR)
  @Mutation(() => Rollout, {
    description:
      "Starts a rollout: the action on each selected process, at most maxUnavailable at a time and never two on " +
      "one supervisord, each waiting for health; stored with its steps and run by this replica (another takes it " +
      "over if this one dies). With dryRun, only the plan.",
  })
  startRollout(
    @Ctx() { services, principal }: RequestContext,
    @Arg("input", () => RolloutInput) input: RolloutInput,
  ): Promise<RolloutRecord> {
    return services.rollouts.start(input, principal);
  }

  @Authorized(Role.OPERATOR)
  @Mutation(() => Rollout, {
    description:
      "Starts a rollout that brings the drifted processes back to their desired state: START those that should " +
      "run (SHOULD_RUN), STOP those that should not (SHOULD_NOT_RUN).",
  })
  reconcile(
    @Ctx() { services, principal }: RequestContext,
    @Args(() => ReconcileArgs) args: ReconcileArgs,
  ): Promise<RolloutRecord> {
    return services.rollouts.reconcile(args, principal);
  }

  @Authorized(Role.OPERATOR)
  @Mutation(() => Rollout, {
    description: "Cancels a running rollout: the steps under way finish, the rest are CANCELLED.",
  })
  cancelRollout(
    @Ctx() { services, principal }: RequestContext,
    @Args(() => RolloutIdArgs) { id }: RolloutIdArgs,
  ): Promise<RolloutRecord> {
    return services.rollouts.cancel(id, principal);
  }

  @Authorized(Role.VIEWER)
  @Query(() => Rollout, { description: "One rollout with its steps." })
  rollout(
    @Ctx() { services, principal }: RequestContext,
    @Args(() => RolloutIdArgs) { id }: RolloutIdArgs,
  ): Promise<RolloutRecord> {
    return services.rollouts.get(id, principal);
  }

  @Authorized(Role.VIEWER)
  @Query(() => RolloutPage, { description: "Rollouts, newest first. A token bound to a pattern sees only its own." })
  async rollouts(
    @Ctx() { services, principal }: RequestContext,
    @Args(() => RolloutsArgs) { first, after }: RolloutsArgs,
  ): Promise<RolloutPage> {
    const page = await services.rollouts.page(first, after ?? null, principal);
    const last = page.rollouts.at(-1);
    return { nodes: page.rollouts, endCursor: last ? String(last.id) : null, hasNextPage: page.hasNextPage };
  }

  @Authorized(Role.VIEWER)
  @Subscription(() => Rollout, {
    description:
      "The whole rollout, as it is and then after each change of a step, until it has finished; from any replica.",
    subscribe: (data) => {
      const { args, context } = data as SubscribeData;
      return context.services.rolloutWatch.watch(args.id, context.principal);
    },
  })
  rolloutChanged(@Root() rollout: RolloutRecord, @Args(() => RolloutIdArgs) _args: RolloutIdArgs): RolloutRecord {
    return rollout;
  }
}
