import { describe, expect, it } from "vitest";
import { ManualClock } from "../clock.js";
import { createLogger } from "../logger.js";
import { CheckProblems } from "./check-problems.js";

function setUp() {
  const lines: { msg: string }[] = [];
  const logger = createLogger("warn", {}, { write: (line: string) => void lines.push(JSON.parse(line)) });
  const clock = new ManualClock(new Date("2026-11-26T12:00:00Z"));
  return { problems: new CheckProblems(logger, clock), messages: () => lines.map((line) => line.msg), clock };
}

describe("CheckProblems", () => {
  it("logs a problem once when it begins and once when it answers again, however often it fails meanwhile", () => {
    const { problems, messages, clock } = setUp();
    for (let pass = 0; pass < 5; pass++) problems.failed("sv1:9001", "connection refused", { supervisor: "sv1:9001" });
    expect(messages()).toEqual(["healer cannot check sv1:9001: connection refused"]);
    clock.advance(12_000);
    problems.answered("sv1:9001");
    problems.answered("sv1:9001");
    expect(messages()).toEqual([
      "healer cannot check sv1:9001: connection refused",
      "healer can check sv1:9001 again (after 12s): it answers again",
    ]);
    // A new problem later is news again.
    problems.failed("sv1:9001", "timed out", { supervisor: "sv1:9001" });
    expect(messages().at(-1)).toBe("healer cannot check sv1:9001: timed out");
  });

  it("ends the problems no process needs any more, and keeps the others", () => {
    const { problems, messages } = setUp();
    problems.failed("sv1:9001", "refused", {});
    problems.failed("web-01", "BAD_NAME", {});
    problems.retain(new Set(["web-01"]));
    expect(problems.has("sv1:9001")).toBe(false);
    expect(problems.has("web-01")).toBe(true);
    expect(messages().at(-1)).toBe(
      "healer can check sv1:9001 again (after 0s): no process there needs a check any more",
    );
    expect(messages()).toHaveLength(3);
  });
});
