import { Authorized, Ctx, Query, Resolver } from "type-graphql";
import { Role } from "../../domain/role.js";
import type { RequestContext } from "../context.js";
import { Settings } from "../types/settings.type.js";

@Resolver()
export class SettingsResolver {
  @Authorized(Role.VIEWER, Role.AGENT)
  @Query(() => Settings, { description: "This deployment's settings that clients ask by (no secrets)." })
  settings(@Ctx() { services }: RequestContext): Settings {
    return { pollIntervalSeconds: services.settings.pollIntervalSeconds };
  }
}
