import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { CONFIG_VARIABLES } from "../src/config/config.js";

const readme = readFileSync(new URL("../README.md", import.meta.url), "utf8");

describe("README", () => {
  it("documents every variable Fleetvisor reads in its configuration table, and no other", () => {
    const section = readme.slice(
      readme.indexOf("## Configuration"),
      readme.indexOf("\n## ", readme.indexOf("## Configuration") + 1),
    );
    const rows = section.split("\n").filter((line) => line.startsWith("| `"));
    const named = new Set(rows.flatMap((row) => [...row.split("|")[1]!.matchAll(/`([A-Z0-9_]+)`/g)].map((m) => m[1]!)));
    expect([...CONFIG_VARIABLES].filter((variable) => !named.has(variable))).toEqual([]);
    expect([...named].filter((variable) => !CONFIG_VARIABLES.includes(variable))).toEqual([]);
  });

  it("gives a newcomer exactly two set-up commands: the demo on the embedded database, and the tests", () => {
    const commands = readme.split("\n").filter((line) => line.startsWith("npm ci"));
    expect(commands).toEqual(["npm ci && npm run demo", "npm ci && npm test"]);
  });
});
