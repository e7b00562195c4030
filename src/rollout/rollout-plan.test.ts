import { describe, expect, it } from "vitest";
import { ProcessEntity } from "../db/process.entity.js";
import { RolloutAction } from "../domain/rollout.js";
import { planSteps } from "./rollout-plan.js";

function target(name: string, host: string, port = 9001) {
  const process = Object.assign(new ProcessEntity(), {
    name,
    supervisorHost: host,
    supervisorPort: port,
    program: "python-server",
  });
  return { process, action: RolloutAction.RESTART as const };
}

const batches = (steps: ReturnType<typeof planSteps>) =>
  steps.reduce<string[][]>((all, step) => {
    (all[step.batch] ??= []).push(step.processName);
    return all;
  }, []);

describe("planSteps", () => {
  it("fills each batch up to maxUnavailable, never two on one supervisord", () => {
    const targets = ["a1", "a2", "a3"]
      .map((n) => target(n, "host-a"))
      .concat(["b1", "b2", "b3"].map((n) => target(n, "host-b")));
    expect(batches(planSteps(targets, 2))).toEqual([
      ["a1", "b1"],
      ["a2", "b2"],
      ["a3", "b3"],
    ]);
  });

  it("numbers the steps in the order they run, batch by batch", () => {
    const steps = planSteps([target("a1", "host-a"), target("a2", "host-a"), target("b1", "host-b")], 2);
    expect(steps.map((s) => [s.position, s.batch, s.processName])).toEqual([
      [0, 0, "a1"],
      [1, 0, "b1"],
      [2, 1, "a2"],
    ]);
    expect(steps.every((s) => s.outcome === "PENDING" && s.startedAt === null)).toBe(true);
  });

  it("with maxUnavailable 1 is one step at a time, in name order", () => {
    const targets = [target("a1", "host-a"), target("b1", "host-b"), target("a2", "host-a")];
    expect(batches(planSteps(targets, 1))).toEqual([["a1"], ["b1"], ["a2"]]);
  });

  it("tells supervisords apart by host and port, and by host case-insensitively", () => {
    const targets = [target("x1", "Host-A", 9001), target("x2", "host-a", 9001), target("y1", "host-a", 9002)];
    expect(batches(planSteps(targets, 3))).toEqual([["x1", "y1"], ["x2"]]);
  });

  it("keeps each step's process, supervisord and program as planned", () => {
    const [step] = planSteps([target("a1", "host-a", 9101)], 1);
    expect(step).toMatchObject({
      processName: "a1",
      supervisorHost: "host-a",
      supervisorPort: 9101,
      program: "python-server",
      action: "RESTART",
    });
  });
});
