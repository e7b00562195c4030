import { describe, expect, it } from "vitest";
import { parseDuration } from "./duration.js";

describe("parseDuration", () => {
  it.each([
    ["90s", 90_000],
    ["15m", 900_000],
    ["12h", 43_200_000],
    ["30d", 2_592_000_000],
    [" 1d ", 86_400_000],
  ])("%j is %d ms", (text, ms) => expect(parseDuration(text)).toBe(ms));

  it.each(["", "30", "d", "0d", "1.5h", "-1d", "30 d", "2w", "30D", "36501d", "9999999s"])(
    "%j is not a duration",
    (text) => expect(parseDuration(text)).toBeUndefined(),
  );
});
