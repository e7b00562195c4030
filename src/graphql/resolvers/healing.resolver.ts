import { Arg, Authorized, Ctx, FieldResolver, Mutation, Query, Resolver, Root } from "type-graphql";
import type { HealingPolicyEntity } from "../../db/healing-policy.entity.js";
import type { ProcessEntity } from "../../db/process.entity.js";
import { Role } from "../../domain/role.js";
import type { RequestContext } from "../context.js";
import { HealingPolicy, HealingPolicyInput } from "../types/healing.types.js";
import { Process } from "../types/process.type.js";

@Resolver(() => Process)
export class HealingResolver {
  @Authorized(Role.VIEWER)
  @Query(() => [HealingPolicy], { description: "Every healing policy, by pattern." })
  healingPolicies(@Ctx() { services }: RequestContext): Promise<HealingPolicyEntity[]> {
    return services.healing.policies();
  }

  @Authorized(Role.OPERATOR)
  @Mutation(() => HealingPolicy, {
    description: "Creates or replaces the healing policy of a pattern. Not for tokens bound to a pattern.",
  })
  setHealingPolicy(
    @Ctx() { services, principal }: RequestContext,
    @Arg("input", () => HealingPolicyInput) input: HealingPolicyInput,
  ): Promise<HealingPolicyEntity> {
    return services.healing.setPolicy(input, principal);
  }

  @Authorized(Role.OPERATOR)
  @Mutation(() => Boolean, { description: "Deletes the healing policy of exactly this pattern." })
  deleteHealingPolicy(
    @Ctx() { services, principal }: RequestContext,
    @Arg("namePattern", () => String) namePattern: string,
  ): Promise<boolean> {
    return services.healing.deletePolicy(namePattern, principal);
  }

  @Authorized(Role.OPERATOR)
  @Mutation(() => Process, {
    description:
      "Ends a process's quarantine (recorded as QUARANTINE_CLEARED): Fleetvisor may restart it by itself again, with " +
      "a fresh budget. A process that is not quarantined is returned unchanged.",
  })
  clearQuarantine(
    @Ctx() { services, principal }: RequestContext,
    @Arg("name", () => String) name: string,
  ): Promise<ProcessEntity> {
    return services.healing.clearQuarantine(name, principal);
  }

  @FieldResolver(() => Boolean, {
    description:
      "Its automatic-restart budget is spent: Fleetvisor does not restart it by itself until clearQuarantine.",
  })
  quarantined(@Root() process: ProcessEntity, @Ctx() { loaders }: RequestContext): Promise<boolean> {
    return loaders.quarantined.load(process.name);
  }
}
