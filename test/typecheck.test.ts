import { execFile } from "node:child_process";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { expect, it } from "vitest";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const TSC = createRequire(import.meta.url).resolve("typescript/bin/tsc");

/**
 * The whole project type-checks (`npm run typecheck`: the service, its migrations, tests,
 * benches and the TypeScript client examples). A test, so that `npm test` checks the types
 * while the integration files wait on supervisord, instead of before them.
 */
it("type-checks: tsc --noEmit reports nothing", async () => {
  const output = await promisify(execFile)(process.execPath, [TSC, "--noEmit", "--pretty", "false", "-p", ROOT], {
    cwd: ROOT,
    maxBuffer: 16 * 1024 * 1024,
  }).then(
    ({ stdout, stderr }) => `${stdout}${stderr}`,
    // A non-zero exit: tsc's diagnostics, or why it did not run.
    (error: Error & { stdout?: string; stderr?: string }) =>
      `${error.stdout ?? ""}${error.stderr ?? ""}` || error.message,
  );
  expect(output.trim()).toBe("");
}, 180_000);
