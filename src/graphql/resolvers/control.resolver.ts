import { Arg, Args, Authorized, Ctx, Mutation, Query, Resolver } from "type-graphql";
import { Role } from "../../domain/role.js";
import type { ControlAction, ControlResult } from "../../control/control.service.js";
import type { ProcessEntity } from "../../db/process.entity.js";
import type { SupervisordOverview } from "../../supervisor/supervisor.service.js";
import type { RequestContext } from "../context.js";
import { BulkControlArgs, ProcessControlResult } from "../types/control.types.js";
import { Process } from "../types/process.type.js";
import { Supervisor } from "../types/supervisor.types.js";

function toSupervisor(overview: SupervisordOverview): Supervisor {
  return {
    ...overview,
    programs:
      overview.programs?.map(({ info, processNames }) => ({
        program: info.program,
        state: info.state,
        pid: info.pid || null,
        description: info.description,
        processNames: [...processNames],
      })) ?? null,
    unregisteredPrograms: overview.unregisteredPrograms && [...overview.unregisteredPrograms],
  };
}

@Resolver()
export class ControlResolver {
  @Authorized(Role.VIEWER)
  @Query(() => [Supervisor], {
    description:
      "Every distinct supervisord named in the registry, asked now. A token bound to a pattern sees only the " +
      "supervisords its processes name, and on each only the programs its processes name.",
  })
  async supervisors(@Ctx() { services, principal }: RequestContext): Promise<Supervisor[]> {
    const rows = await services.processes.withSupervisor(principal);
    return (await services.supervisors.overviewFor(rows, principal)).map(toSupervisor);
  }

  @Authorized(Role.OPERATOR)
  @Mutation(() => Process, {
    description: "Starts the program on its supervisord and waits for startsecs. Starting a running process succeeds.",
  })
  startProcess(@Ctx() ctx: RequestContext, @Arg("name", () => String) name: string): Promise<ProcessEntity> {
    return this.control(ctx, () => ctx.services.control.start(name, ctx.principal));
  }

  @Authorized(Role.OPERATOR)
  @Mutation(() => Process, {
    description: "Stops the program and waits until it is down. Stopping a stopped process succeeds.",
  })
  stopProcess(@Ctx() ctx: RequestContext, @Arg("name", () => String) name: string): Promise<ProcessEntity> {
    return this.control(ctx, () => ctx.services.control.stop(name, ctx.principal));
  }

  @Authorized(Role.OPERATOR)
  @Mutation(() => Process, { description: "Stop and wait, then start and wait, as one operation." })
  restartProcess(@Ctx() ctx: RequestContext, @Arg("name", () => String) name: string): Promise<ProcessEntity> {
    return this.control(ctx, () => ctx.services.control.restart(name, ctx.principal));
  }

  @Authorized(Role.OPERATOR)
  @Mutation(() => [ProcessControlResult], { description: "Starts every selected process; one result per process." })
  startProcesses(
    @Ctx() ctx: RequestContext,
    @Args(() => BulkControlArgs) args: BulkControlArgs,
  ): Promise<ControlResult[]> {
    return this.bulk(ctx, "start", args);
  }

  @Authorized(Role.OPERATOR)
  @Mutation(() => [ProcessControlResult], { description: "Stops every selected process; one result per process." })
  stopProcesses(
    @Ctx() ctx: RequestContext,
    @Args(() => BulkControlArgs) args: BulkControlArgs,
  ): Promise<ControlResult[]> {
    return this.bulk(ctx, "stop", args);
  }

  @Authorized(Role.OPERATOR)
  @Mutation(() => [ProcessControlResult], {
    description:
      "Restarts every selected process; with maxParallel: 1 a rolling restart that stops at the first failure.",
  })
  restartProcesses(
    @Ctx() ctx: RequestContext,
    @Args(() => BulkControlArgs) args: BulkControlArgs,
  ): Promise<ControlResult[]> {
    return this.bulk(ctx, "restart", args);
  }

  /** What supervisord said before the change is stale now: the process is read afresh. */
  private async control(ctx: RequestContext, work: () => Promise<ProcessEntity>): Promise<ProcessEntity> {
    try {
      return await work();
    } finally {
      ctx.loaders.supervisorAnswers.clear();
    }
  }

  private async bulk(ctx: RequestContext, action: ControlAction, args: BulkControlArgs): Promise<ControlResult[]> {
    try {
      return await ctx.services.control.bulk(
        action,
        args.filter,
        { maxParallel: args.maxParallel ?? 1, continueOnError: args.continueOnError },
        ctx.principal,
      );
    } finally {
      ctx.loaders.supervisorAnswers.clear();
    }
  }
}
