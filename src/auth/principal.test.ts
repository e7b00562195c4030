import { describe, expect, it } from "vitest";
import { hasRole, mayTouchProcess, type Principal } from "./principal.js";
import { matchesProcessPattern, processPatternCondition, processPatternProblem } from "./process-pattern.js";
import { Role } from "../domain/role.js";

const as = (role: Role, processPattern: string | null = null): Principal => ({
  tokenId: 1,
  name: "t",
  role,
  processPattern,
});

describe("hasRole", () => {
  // rows: the caller's role; columns: what the operation requires.
  it.each([
    [Role.VIEWER, { viewer: true, operator: false, admin: false, agentOnly: false, agentOrAdmin: false }],
    [Role.OPERATOR, { viewer: true, operator: true, admin: false, agentOnly: false, agentOrAdmin: false }],
    [Role.ADMIN, { viewer: true, operator: true, admin: true, agentOnly: false, agentOrAdmin: true }],
    [Role.AGENT, { viewer: false, operator: false, admin: false, agentOnly: true, agentOrAdmin: true }],
  ])("%s", (role, expected) => {
    const principal = as(role, role === Role.AGENT ? "x-*" : null);
    expect({
      viewer: hasRole(principal, [Role.VIEWER]),
      operator: hasRole(principal, [Role.OPERATOR]),
      admin: hasRole(principal, [Role.ADMIN]),
      agentOnly: hasRole(principal, [Role.AGENT]),
      agentOrAdmin: hasRole(principal, [Role.AGENT, Role.ADMIN]),
    }).toEqual(expected);
  });
});

describe("process patterns", () => {
  it.each([
    ["domaeka-test-01", "domaeka-test-01", true],
    ["domaeka-test-01", "domaeka-test-02", false],
    ["domaeka-*", "domaeka-live-03", true],
    ["domaeka-*", "domaeka", false],
    ["domaeka-live-*", "domaeka-test-01", false],
    ["*", "anything", true],
  ])("%s matches %s: %s", (pattern, name, expected) => {
    expect(matchesProcessPattern(name, pattern)).toBe(expected);
  });

  it.each(["domaeka-*", "x", "*", "a.b_c-*"])("%s is a valid pattern", (p) =>
    expect(processPatternProblem(p)).toBeUndefined(),
  );
  it.each(["*-live", "a*b", "", "-x*", "a**", "with space*"])("%j is not", (p) =>
    expect(processPatternProblem(p)).toBeDefined(),
  );

  it.each([
    ["domaeka-test-01", "p.name = :bound", "domaeka-test-01"],
    ["domaeka-*", "p.name LIKE :bound ESCAPE '!'", "domaeka-%"],
    // `_` would match any character in LIKE.
    ["web_a-*", "p.name LIKE :bound ESCAPE '!'", "web!_a-%"],
    ["*", "p.name LIKE :bound ESCAPE '!'", "%"],
  ])("%s as SQL: %s with %s", (pattern, where, value) => {
    expect(processPatternCondition("p.name", pattern, "bound")).toEqual({ where, parameters: { bound: value } });
  });

  it("a bound token is limited to its pattern; an agent is always bound", () => {
    expect(mayTouchProcess(as(Role.VIEWER), "anything")).toBe(true);
    expect(mayTouchProcess(as(Role.OPERATOR), "anything")).toBe(true);
    expect(mayTouchProcess(as(Role.VIEWER, "domaeka-*"), "domaeka-test-01")).toBe(true);
    expect(mayTouchProcess(as(Role.VIEWER, "domaeka-*"), "other")).toBe(false);
    expect(mayTouchProcess(as(Role.OPERATOR, "domaeka-test-01"), "domaeka-test-01")).toBe(true);
    expect(mayTouchProcess(as(Role.OPERATOR, "domaeka-test-01"), "domaeka-test-010")).toBe(false);
    expect(mayTouchProcess(as(Role.AGENT, "domaeka-*"), "domaeka-test-01")).toBe(true);
    expect(mayTouchProcess(as(Role.AGENT, "domaeka-*"), "other")).toBe(false);
    expect(mayTouchProcess(as(Role.AGENT, null), "domaeka-test-01")).toBe(false);
  });
});
