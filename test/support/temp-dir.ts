import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const created = new Set<string>();

/**
 * A fresh directory under the system's temp dir, for files a test writes (credentials
 * files hold passwords). Every one is removed when the test file ends, passed or failed:
 * test/setup.ts calls {@link removeTempDirs} in an `afterAll` of every file.
 */
export function tempDir(label: string): string {
  const dir = mkdtempSync(join(tmpdir(), `fv-${label}-`));
  created.add(dir);
  return dir;
}

/** Removes every directory {@link tempDir} made in this test file. */
export function removeTempDirs(): void {
  for (const dir of created) rmSync(dir, { recursive: true, force: true });
  created.clear();
}
