import { Arg, Authorized, Ctx, Query, Resolver } from "type-graphql";
import { Role } from "../../auth/role.js";
import type { ProcessEntity } from "../../db/process.entity.js";
import type { RequestContext } from "../context.js";
import { ProcessFilter } from "../types/process.inputs.js";
import { Process } from "../types/process.type.js";

@Resolver(() => Process)
export class ProcessResolver {
  @Authorized(Role.VIEWER, Role.AGENT)
  @Query(() => [Process], { description: "Processes in the registry, ordered by name. Agents see only their own." })
  processes(
    @Ctx() { services, principal }: RequestContext,
    @Arg("filter", () => ProcessFilter, { nullable: true }) filter?: ProcessFilter | null,
  ): Promise<ProcessEntity[]> {
    return services.registry.list(filter ?? {}, principal);
  }

  @Authorized(Role.VIEWER, Role.AGENT)
  @Query(() => Process, { nullable: true, description: "One process by name; null when there is none." })
  process(
    @Ctx() { services, principal }: RequestContext,
    @Arg("name", () => String) name: string,
  ): Promise<ProcessEntity | null> {
    return services.registry.get(name, principal);
  }
}
