import { describe, expect, it } from "vitest";
import { policyFor, policyProblems, type HealingPolicy } from "./healing-policy.js";

const policy = (namePattern: string, extra: Partial<HealingPolicy> = {}): HealingPolicy => ({
  namePattern,
  restartWhenUnresponsiveAfterSeconds: 30,
  graceAfterStartSeconds: 60,
  maxRestarts: 3,
  perSeconds: 600,
  ...extra,
});

describe("policyFor: the most specific matching pattern wins", () => {
  const policies = [policy("*"), policy("domaeka-*"), policy("domaeka-live-*"), policy("domaeka-live-01")];

  it.each([
    ["domaeka-live-01", "domaeka-live-01"],
    ["domaeka-live-02", "domaeka-live-*"],
    ["domaeka-test-01", "domaeka-*"],
    ["other", "*"],
  ])("%s is governed by %s", (name, expected) => {
    expect(policyFor(name, policies)?.namePattern).toBe(expected);
    // The order the policies come in does not matter.
    expect(policyFor(name, [...policies].reverse())?.namePattern).toBe(expected);
  });

  it("no policy when none matches", () => {
    expect(policyFor("other", [policy("domaeka-*"), policy("domaeka-live-01")])).toBeUndefined();
  });
});

describe("policyProblems", () => {
  it("a valid policy has none; a grace of 0 is valid", () => {
    expect(policyProblems(policy("domaeka-*", { graceAfterStartSeconds: 0 }))).toEqual([]);
  });

  it("names every bad field at once", () => {
    const problems = policyProblems(
      policy("bad pattern*x", {
        restartWhenUnresponsiveAfterSeconds: 0,
        graceAfterStartSeconds: -1,
        maxRestarts: 1.5,
        perSeconds: 0,
      }),
    );
    expect(problems.map((p) => p.field)).toEqual([
      "namePattern",
      "restartWhenUnresponsiveAfterSeconds",
      "graceAfterStartSeconds",
      "maxRestarts",
      "perSeconds",
    ]);
    expect(problems.find((p) => p.field === "graceAfterStartSeconds")?.message).toBe(
      "must be a whole number between 0 and 86400 (got -1)",
    );
    expect(problems.find((p) => p.field === "maxRestarts")?.message).toBe(
      "must be a positive whole number between 1 and 1000 (got 1.5)",
    );
  });
});
