import { execFileSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { curlExample, dashboardUrl, localBaseUrl, publicBaseUrl, shellQuote } from "./banner.js";

describe("the addresses the demo prints and uses", () => {
  it.each([
    ["127.0.0.1", "http://localhost:4000", "http://127.0.0.1:4000"],
    ["0.0.0.0", "http://localhost:4000", "http://127.0.0.1:4000"],
    ["::", "http://localhost:4000", "http://127.0.0.1:4000"],
    ["10.0.0.5", "http://10.0.0.5:4000", "http://10.0.0.5:4000"],
    ["fd00::5", "http://[fd00::5]:4000", "http://[fd00::5]:4000"],
  ])("HOST=%s: people open %s, the programs call %s", (host, people, programs) => {
    expect(publicBaseUrl(host, 4000)).toBe(people);
    expect(localBaseUrl(host, 4000)).toBe(programs);
  });

  it("signs the dashboard in through the fragment", () => {
    expect(dashboardUrl("http://localhost:4000", "abc_DEF-123")).toBe("http://localhost:4000/#token=abc_DEF-123");
  });
});

describe("curlExample", () => {
  it("is one command a POSIX shell reads back into the intended arguments, whatever the token", () => {
    const token = `it's-a-"token"-$HOME`;
    const line = curlExample("http://localhost:4000", token);
    // printf one argument per line, in place of curl.
    const args = execFileSync("sh", ["-c", line.replace(/^curl /, "printf '%s\\n' ")])
      .toString()
      .trimEnd()
      .split("\n");
    expect(args.slice(0, 3)).toEqual(["-s", "http://localhost:4000/graphql", "-H"]);
    expect(args[3]).toBe(`authorization: Bearer ${token}`);
    expect(JSON.parse(args.at(-1)!)).toEqual({
      query: "{ processes { name port pid status health supervisor { state pid } } }",
    });
  });

  it("leaves plain words unquoted", () => {
    expect(shellQuote("/usr/bin/supervisorctl")).toBe("/usr/bin/supervisorctl");
    expect(shellQuote("a b")).toBe("'a b'");
  });
});
