import { matchesProcessPattern } from "./process-pattern.js";
import { Role } from "../domain/role.js";

/** Who is calling: the token's name (recorded as the actor), role and binding. */
export interface Principal {
  /** `null` for the bootstrap admin token, which has no row. */
  readonly tokenId: number | null;
  readonly name: string;
  readonly role: Role;
  /** Agents only: the process name or `prefix*` pattern they may touch. */
  readonly processPattern: string | null;
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

/** Whether the principal may see or act on the process called `name`. */
export function mayTouchProcess(principal: Principal, name: string): boolean {
  if (principal.role !== Role.AGENT) return true;
  return principal.processPattern !== null && matchesProcessPattern(name, principal.processPattern);
}

/** Fleetvisor itself, as the actor of what its watchdog and poller record. */
export const SYSTEM_PRINCIPAL: Principal = Object.freeze({
  tokenId: null,
  name: "fleetvisor",
  role: Role.ADMIN,
  processPattern: null,
});
