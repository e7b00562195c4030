import { ForbiddenError } from "../errors.js";
import { matchesProcessPattern } from "./process-pattern.js";
import { Role } from "../domain/role.js";

/** Who is calling: the token's name (recorded as the actor), role and binding. */
export interface Principal {
  /** `null` for the bootstrap admin token, which has no row. */
  readonly tokenId: number | null;
  readonly name: string;
  readonly role: Role;
  /**
   * The process name or `prefix*` pattern the token is bound to: always for agents, when
   * its creator chose for viewers and operators, never for admins. A bound token sees and
   * acts on the processes it matches and nothing else.
   */
  readonly processPattern: string | null;
  /**
   * When the token stops being accepted; absent or `null` for never. Kept with the
   * principal, so that a token remembered by a replica's cache expires on time too.
   */
  readonly expiresAt?: Date | null;
}

const RANK: Readonly<Record<Role, number>> = {
  [Role.AGENT]: 0,
  [Role.VIEWER]: 1,
  [Role.OPERATOR]: 2,
  [Role.ADMIN]: 3,
};

/**
 * Whether `principal` holds one of `allowed`. Viewer ⊂ operator ⊂ admin; `agent` is
 * outside that ladder and is allowed only where it is listed.
 */
export function hasRole(principal: Principal, allowed: readonly Role[]): boolean {
  return allowed.some((role) =>
    role === Role.AGENT
      ? principal.role === Role.AGENT
      : principal.role !== Role.AGENT && RANK[principal.role] >= RANK[role],
  );
}

/**
 * Whether the principal may see or act on the process called `name`: a token bound to a
 * pattern only on the processes it matches; an agent token only ever through its pattern.
 */
export function mayTouchProcess(principal: Principal, name: string): boolean {
  if (principal.processPattern === null) return principal.role !== Role.AGENT;
  return matchesProcessPattern(name, principal.processPattern);
}

/**
 * Throws FORBIDDEN, naming the token's binding, when `principal` may not `verb` the
 * process called `name` (for example "touch", "watch", "control").
 */
export function assertMayTouch(principal: Principal, name: string, verb = "touch"): void {
  if (mayTouchProcess(principal, name)) return;
  throw new ForbiddenError(
    `token "${principal.name}" is bound to "${principal.processPattern ?? "nothing"}" and may not ${verb} "${name}"`,
  );
}

/** Fleetvisor itself, as the actor of what its watchdog and poller record. */
export const SYSTEM_PRINCIPAL: Principal = Object.freeze({
  tokenId: null,
  name: "fleetvisor",
  role: Role.ADMIN,
  processPattern: null,
});
