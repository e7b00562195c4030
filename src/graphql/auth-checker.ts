import type { AuthCheckerFn } from "type-graphql";
import { hasRole } from "../auth/principal.js";
import type { Role } from "../domain/role.js";
import { ForbiddenError, UnauthenticatedError } from "../errors.js";
import type { RequestContext } from "./context.js";

/**
 * `@Authorized(Role.OPERATOR)` means "operator or above"; `Role.AGENT` must be listed to
 * let agents in. Failing throws the coded error itself so that clients see
 * `UNAUTHENTICATED` / `FORBIDDEN`, not type-graphql's generic errors.
 */
export const authChecker: AuthCheckerFn<RequestContext, Role> = ({ context, info }, roles) => {
  const principal = context.principal as RequestContext["principal"] | undefined;
  if (!principal) throw new UnauthenticatedError();
  if (roles.length === 0 || hasRole(principal, roles)) return true;
  throw new ForbiddenError(
    `${info.parentType.name}.${info.fieldName} needs role ${roles.map((r) => r.toUpperCase()).join(" or ")}; ` +
      `token "${principal.name}" has role ${principal.role.toUpperCase()}`,
  );
};
