import { Arg, Authorized, Ctx, ID, Mutation, Query, Resolver } from "type-graphql";
import { Role } from "../../domain/role.js";
import type { CreatedToken, TokenInfo } from "../../auth/token.service.js";
import type { RequestContext } from "../context.js";
import { CreateApiTokenInput } from "../types/token.inputs.js";
import { Me } from "../types/me.type.js";
import { ApiToken, NewApiToken } from "../types/token.types.js";

@Resolver()
export class TokenResolver {
  @Authorized(Role.VIEWER, Role.AGENT)
  @Query(() => Me, { description: "The calling token: a UI shows only what its role may do." })
  me(@Ctx() { principal }: RequestContext): Me {
    return {
      name: principal.name,
      role: principal.role,
      processPattern: principal.processPattern,
      expiresAt: principal.expiresAt ?? null,
    };
  }

  @Authorized(Role.ADMIN)
  @Query(() => [ApiToken], { description: "API tokens, without the tokens themselves." })
  apiTokens(
    @Ctx() { services }: RequestContext,
    @Arg("includeRevoked", () => Boolean, { defaultValue: false }) includeRevoked: boolean,
  ): Promise<TokenInfo[]> {
    return services.tokens.list({ includeRevoked });
  }

  @Authorized(Role.ADMIN)
  @Mutation(() => NewApiToken, { description: "Creates a token; the response is the only place the token appears." })
  createApiToken(
    @Ctx() { services, principal }: RequestContext,
    @Arg("input", () => CreateApiTokenInput) input: CreateApiTokenInput,
  ): Promise<CreatedToken> {
    return services.tokens.create(input, principal);
  }

  @Authorized(Role.ADMIN)
  @Mutation(() => ApiToken, {
    description: "Revokes a token; it stops working at once on this replica, on others within seconds.",
  })
  revokeApiToken(@Ctx() { services, principal }: RequestContext, @Arg("id", () => ID) id: string): Promise<TokenInfo> {
    return services.tokens.revoke(id, principal);
  }
}
