import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));

/** The programs tests run as their own processes, as `npm start`, `npm run token` … run them. */
const ENTRIES = {
  main: "src/main.ts",
  token: "src/cli/token.ts",
  migrate: "src/cli/migrate.ts",
  demo: "src/cli/demo.ts",
} as const;

export type Entry = keyof typeof ENTRIES;

let bundles: Promise<string> | undefined;
let bundleDir: string | undefined;

/**
 * `entry` compiled to one JavaScript file, the first time a test of this file asks (a
 * fraction of a second for all four): started under tsx, every child process compiled the
 * service again, twice the CPU of a start of the compiled code. The bundle imports its
 * packages from the checkout's node_modules, so it lives inside it (under
 * node_modules/.cache); test/setup.ts removes it when the test file ends.
 */
export async function bundled(entry: Entry): Promise<string> {
  bundles ??= bundleAll();
  return join(await bundles, `${entry}.js`);
}

/** Removes what {@link bundled} made for this test file. */
export function removeBundles(): void {
  if (bundleDir !== undefined) rmSync(bundleDir, { recursive: true, force: true });
  bundles = bundleDir = undefined;
}

async function bundleAll(): Promise<string> {
  const cache = join(ROOT, "node_modules", ".cache");
  mkdirSync(cache, { recursive: true });
  const dir = mkdtempSync(join(cache, "fleetvisor-test-"));
  bundleDir = dir;
  await build({
    absWorkingDir: ROOT,
    entryPoints: { ...ENTRIES },
    outdir: dir,
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node20",
    packages: "external",
    tsconfig: join(ROOT, "tsconfig.json"),
    logLevel: "warning",
  });
  return dir;
}
