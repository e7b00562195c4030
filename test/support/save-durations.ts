/**
 * `npm run test:durations`: saves the last run's file durations from vitest's cache into
 * test/durations.json, which orders the first run on a fresh clone (see vitest.config.ts).
 * Run it after a full `npm test` that passed, when files have been added or have grown.
 */
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const CACHE = join(ROOT, "node_modules", ".vite", "vitest");

interface Cached {
  results: [string, { duration: number; failed: boolean }][];
}

const durations: Record<string, number> = {};
for (const dir of readdirSync(CACHE)) {
  const cached = JSON.parse(readFileSync(join(CACHE, dir, "results.json"), "utf8")) as Cached;
  for (const [key, { duration, failed }] of cached.results) {
    if (!failed) durations[key] = Math.round(duration / 100) / 10;
  }
}
const sorted = Object.fromEntries(Object.entries(durations).sort(([a], [b]) => a.localeCompare(b)));
writeFileSync(join(ROOT, "test", "durations.json"), `${JSON.stringify(sorted, null, 2)}\n`);
console.log(`test/durations.json: ${Object.keys(sorted).length} files`);
