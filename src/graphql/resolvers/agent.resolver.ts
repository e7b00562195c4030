import { Arg, Args, Authorized, Ctx, Mutation, Resolver } from "type-graphql";
import { Role } from "../../domain/role.js";
import type { ProcessEntity } from "../../db/process.entity.js";
import type {
  HeartbeatAck as HeartbeatAckValue,
  Registration as RegistrationValue,
} from "../../registry/agent-lifecycle.js";
import type { RequestContext } from "../context.js";
import { ProcessPidArgs } from "../types/agent.args.js";
import { HeartbeatAck, Registration } from "../types/agent.types.js";
import { Process } from "../types/process.type.js";

/** What managed servers call through their registry client. */
@Resolver()
export class AgentResolver {
  @Authorized(Role.AGENT, Role.ADMIN)
  @Mutation(() => Registration, {
    description:
      "A managed server starting: marks it RUNNING with its pid and tells it its port and heartbeat interval.",
  })
  registerProcess(
    @Ctx() { services, principal, receivedAt }: RequestContext,
    @Args(() => ProcessPidArgs) { name, pid }: ProcessPidArgs,
  ): Promise<RegistrationValue> {
    return services.agents.register(name, pid, principal, receivedAt);
  }

  @Authorized(Role.AGENT, Role.ADMIN)
  @Mutation(() => HeartbeatAck, { description: "Stamps the heartbeat of the registered pid." })
  heartbeat(
    @Ctx() { services, principal, receivedAt }: RequestContext,
    @Args(() => ProcessPidArgs) { name, pid }: ProcessPidArgs,
  ): Promise<HeartbeatAckValue> {
    return services.agents.heartbeat(name, pid, principal, receivedAt);
  }

  @Authorized(Role.AGENT, Role.ADMIN)
  @Mutation(() => Process, { description: "A managed server shutting down cleanly: STOPPED, pid cleared." })
  deregisterProcess(
    @Ctx() { services, principal, receivedAt }: RequestContext,
    @Arg("name", () => String) name: string,
  ): Promise<ProcessEntity> {
    return services.agents.deregister(name, principal, receivedAt);
  }
}
