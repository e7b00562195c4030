import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

let found: string | undefined;

/**
 * Fleetvisor's own directory (where its package.json and client-examples/ are), found by
 * walking up from this module: the same answer whether the code runs from src/, from
 * dist/src/ or bundled into one file elsewhere in the checkout.
 */
export function packageRoot(): string {
  if (found !== undefined) return found;
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (isFleetvisor(join(dir, "package.json"))) return (found = dir);
    const parent = dirname(dir);
    if (parent === dir) throw new Error(`no Fleetvisor package.json above ${fileURLToPath(import.meta.url)}`);
    dir = parent;
  }
}

function isFleetvisor(packageJson: string): boolean {
  if (!existsSync(packageJson)) return false;
  try {
    return (JSON.parse(readFileSync(packageJson, "utf8")) as { name?: unknown }).name === "fleetvisor";
  } catch {
    return false;
  }
}
