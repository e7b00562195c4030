import { describe, expect, it } from "vitest";
import { hostProblem, pidProblem, portProblem, processNameProblem, programNameProblem } from "./validation.js";

describe("processNameProblem", () => {
  it.each(["domaeka-test-01", "a", "A.b_c-d", "9lives", "x".repeat(100)])("accepts %s", (name) => {
    expect(processNameProblem(name)).toBeUndefined();
  });
  it.each([
    ["", "must not be empty"],
    ["x".repeat(101), "must be at most 100 characters (got 101)"],
    ["-leading-dash", "starting with a letter or digit"],
    [".hidden", "starting with a letter or digit"],
    ["with space", "letters, digits"],
    ["slash/name", "letters, digits"],
    ["도메카", "letters, digits"],
    ["group:prog", "letters, digits"],
  ])("refuses %j", (name, message) => {
    expect(processNameProblem(name)).toContain(message);
  });
});

describe("programNameProblem", () => {
  it("allows supervisord's group:program form", () => {
    expect(programNameProblem("servers:python-server")).toBeUndefined();
    expect(programNameProblem(":x")).toBeDefined();
  });
});

describe("portProblem and pidProblem", () => {
  it.each([1, 80, 65535])("port %i is valid", (port) => expect(portProblem(port)).toBeUndefined());
  it.each([0, -1, 65536, 1.5])("port %d is not", (port) => expect(portProblem(port)).toContain("between 1 and 65535"));
  it("a pid is a positive 32-bit integer", () => {
    expect(pidProblem(1)).toBeUndefined();
    expect(pidProblem(2 ** 31 - 1)).toBeUndefined();
    expect(pidProblem(0)).toBeDefined();
    expect(pidProblem(2 ** 31)).toBeDefined();
  });
});

describe("hostProblem", () => {
  it.each(["domaeka-server-test-01", "localhost", "sv1.internal.example.", "10.0.0.11", "::1", "fe80::1"])(
    "accepts %s",
    (host) => {
      expect(hostProblem(host)).toBeUndefined();
    },
  );
  it.each([
    "",
    "bad host",
    "a..b",
    "-lead.example",
    "trail-.example",
    "x".repeat(64),
    "under_score",
    `${"a.".repeat(50)}b`,
  ])("refuses %j", (host) => expect(hostProblem(host)).toBeDefined());
});
