import { execFile } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { tempDir } from "./support/temp-dir.js";

const run = promisify(execFile);

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe("a test file that fails", () => {
  it("leaves no supervisord running and no directory holding its passwords", async () => {
    const report = join(tempDir("cleanup-report"), "report.json");
    const outcome = await run(
      process.execPath,
      ["node_modules/vitest/vitest.mjs", "run", "--config", "test/fixtures/vitest.config.ts"],
      { env: { ...process.env, FIXTURE_REPORT: report }, timeout: 60_000 },
    ).then(
      () => ({ code: 0, output: "" }),
      (error: { code?: number; stdout?: string; stderr?: string }) => ({
        code: error.code,
        output: `${error.stdout ?? ""}${error.stderr ?? ""}`,
      }),
    );
    // It did fail, and for the reason it was written to fail for.
    expect(outcome.code).toBe(1);
    expect(outcome.output).toContain("failing on purpose");

    const { dirs, pid } = JSON.parse(readFileSync(report, "utf8")) as { dirs: string[]; pid: number };
    expect(dirs).toHaveLength(2);
    for (const dir of dirs) expect(existsSync(dir), dir).toBe(false);
    expect(alive(pid)).toBe(false);
  });
});
