/**
 * `npm run bench`: builds, runs every bench in turn (each starts and cleans up its own
 * servers, supervisords and databases), and writes bench/results/latest.json and the table
 * in bench/README.md, each figure beside its baseline from the same run. Benches that
 * print their own figures (heartbeat, processes-query, change-latency) are kept as text.
 *
 *   npm run bench [-- --only observed-query,fleet-scale] [--keep]
 *
 * With --keep, the reports of benches not run this time are kept from latest.json.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync, existsSync } from "node:fs";
import { tmpdir, loadavg } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { format, type BenchReport } from "./figures.js";

/** Benches that report figures (bench/figures.ts), then those that print their own. */
const BENCHES = ["observed-query", "fleet-scale", "dashboard-paint", "fanout", "memory"] as const;
const PRINTING = ["heartbeat", "processes-query", "change-latency"] as const;

const { values } = parseArgs({ options: { only: { type: "string" }, keep: { type: "boolean", default: false } } });
const only = values.only?.split(",").map((s) => s.trim());
const selected = [...BENCHES, ...PRINTING].filter((name) => !only || only.includes(name));

execFileSync("npm", ["run", "build"], { stdio: "inherit" });
const scratch = mkdtempSync(join(tmpdir(), "fleetvisor-bench-"));
const reports: BenchReport[] = [];
const printed: { bench: string; output: string }[] = [];
const failed: { bench: string; status: number | null }[] = [];
for (const bench of selected) {
  console.log(`\n=== bench/${bench}`);
  const resultFile = join(scratch, `${bench}.json`);
  const run = spawnSync("npx", ["tsx", `bench/${bench}.ts`], {
    env: { ...process.env, BENCH_RESULT_FILE: resultFile },
    stdio: ["ignore", "pipe", "inherit"],
    encoding: "utf8",
    maxBuffer: 64 * 1024 * 1024,
  });
  process.stdout.write(run.stdout ?? "");
  if (run.status !== 0) failed.push({ bench, status: run.status });
  if (existsSync(resultFile)) reports.push(JSON.parse(readFileSync(resultFile, "utf8")) as BenchReport);
  else if ((PRINTING as readonly string[]).includes(bench)) printed.push({ bench, output: run.stdout ?? "" });
}

if (values.keep && existsSync("bench/results/latest.json")) {
  const previous = JSON.parse(readFileSync("bench/results/latest.json", "utf8")) as { reports: BenchReport[] };
  const ran = new Set(reports.map((r) => r.bench));
  reports.unshift(...previous.reports.filter((r) => !ran.has(r.bench)));
}
const latest = {
  finishedAt: new Date().toISOString(),
  loadAverage: loadavg().map((x) => Math.round(x * 100) / 100),
  reports,
  printed,
  failed,
};
mkdirResults();
writeFileSync("bench/results/latest.json", `${JSON.stringify(latest, null, 2)}\n`);
updateReadme(reports);
// As `npm run lint` checks them.
execFileSync("npx", ["prettier", "--write", "bench/results/latest.json", "bench/README.md"], { stdio: "ignore" });
console.log(
  `\nwrote bench/results/latest.json and the table in bench/README.md${failed.length ? `; failed: ${failed.map((f) => f.bench).join(", ")}` : ""}`,
);
process.exit(failed.length > 0 ? 1 : 0);

function mkdirResults(): void {
  execFileSync("mkdir", ["-p", "bench/results"]);
}

/** Replaces the table between the markers in bench/README.md. */
function updateReadme(all: readonly BenchReport[]): void {
  const path = "bench/README.md";
  const start = "<!-- bench-results:start -->";
  const end = "<!-- bench-results:end -->";
  const lines = [
    start,
    "",
    "| bench | figure | value | baseline (same run) | target | met | load avg (1/5/15 min) |",
    "| ----- | ------ | ----- | ------------------- | ------ | --- | --------------------- |",
    ...all.flatMap((r) =>
      r.figures.map(
        (f) =>
          `| ${r.bench} | ${f.name}${f.note ? ` (${f.note})` : ""} | ${format(f.value)} ${f.unit} | ${
            f.baseline ? `${f.baseline.name}: ${format(f.baseline.value)} ${f.baseline.unit}` : "—"
          } | ${f.target} | ${f.met ? "yes" : "**no**"} | ${r.loadAverage.join(" / ")} |`,
      ),
    ),
    "",
    end,
  ];
  const text = existsSync(path) ? readFileSync(path, "utf8") : `${start}\n${end}\n`;
  const from = text.indexOf(start);
  const to = text.indexOf(end);
  const updated =
    from >= 0 && to > from
      ? `${text.slice(0, from)}${lines.join("\n")}${text.slice(to + end.length)}`
      : `${text}\n${lines.join("\n")}\n`;
  writeFileSync(path, updated);
}
