/** What a token may do; see docs/architecture.md, "Who may do what". Stored lower case. */
export enum Role {
  VIEWER = "viewer",
  OPERATOR = "operator",
  ADMIN = "admin",
  AGENT = "agent",
}

export const ROLES: readonly Role[] = Object.values(Role);
