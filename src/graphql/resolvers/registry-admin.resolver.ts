import { Arg, Args, Authorized, Ctx, Mutation, Resolver } from "type-graphql";
import { Role } from "../../domain/role.js";
import type { ProcessEntity } from "../../db/process.entity.js";
import type { RequestContext } from "../context.js";
import { CreateProcessInput, UpdateProcessArgs } from "../types/process.inputs.js";
import { Process } from "../types/process.type.js";

@Resolver()
export class RegistryAdminResolver {
  @Authorized(Role.ADMIN)
  @Mutation(() => Process, { description: "Adds a process to the registry (STOPPED until it registers)." })
  createProcess(
    @Ctx() { services, principal }: RequestContext,
    @Arg("input", () => CreateProcessInput) input: CreateProcessInput,
  ): Promise<ProcessEntity> {
    return services.registryAdmin.create(input, principal);
  }

  @Authorized(Role.ADMIN)
  @Mutation(() => Process)
  updateProcess(
    @Ctx() { services, principal }: RequestContext,
    @Args(() => UpdateProcessArgs) { name, input }: UpdateProcessArgs,
  ): Promise<ProcessEntity> {
    return services.registryAdmin.update(name, input, principal);
  }

  @Authorized(Role.ADMIN)
  @Mutation(() => Process, { description: "Removes a process from the registry; returns it as it was." })
  deleteProcess(
    @Ctx() { services, principal }: RequestContext,
    @Arg("name", () => String) name: string,
  ): Promise<ProcessEntity> {
    return services.registryAdmin.delete(name, principal);
  }
}
