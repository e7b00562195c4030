import { Arg, Authorized, Ctx, Mutation, Resolver } from "type-graphql";
import { Role } from "../../domain/role.js";
import type { ProcessEntity } from "../../db/process.entity.js";
import type { RequestContext } from "../context.js";
import { Process } from "../types/process.type.js";
import { SupervisorEventInput } from "../types/watch.inputs.js";

@Resolver()
export class WatchResolver {
  @Authorized(Role.AGENT, Role.ADMIN)
  @Mutation(() => [Process], {
    description:
      "A state change pushed by the supervisord event listener (client-examples/supervisor-listener). The registry " +
      "processes that run this program on this supervisord follow it; the change is recorded once. Returns them.",
  })
  reportSupervisorEvent(
    @Ctx() { services, principal }: RequestContext,
    @Arg("input", () => SupervisorEventInput) input: SupervisorEventInput,
  ): Promise<ProcessEntity[]> {
    return services.watch.report(input, principal);
  }
}
