/**
 * The figures a bench reports, each beside its baseline from the same run and its target.
 * Printed as a table; with BENCH_RESULT_FILE set (by `npm run bench`), also written there
 * as JSON for bench/results/latest.json and the table in bench/README.md.
 */
import { writeFileSync } from "node:fs";
import { cpus, loadavg } from "node:os";
import mysql2 from "mysql2/promise";

export interface Figure {
  /** What was measured, in a few words. */
  readonly name: string;
  readonly value: number;
  readonly unit: string;
  /** The same run's reference, when the figure is read against one. */
  readonly baseline?: { readonly name: string; readonly value: number; readonly unit: string };
  /** The target, as text (e.g. "≤ 0.15×"). */
  readonly target: string;
  /** Whether the target was met. */
  readonly met: boolean;
  readonly note?: string;
}

export interface BenchReport {
  readonly bench: string;
  readonly startedAt: string;
  readonly seconds: number;
  /** The machine's load averages when the bench ended: a busy shared machine shows here. */
  readonly loadAverage: readonly number[];
  readonly cpus: number;
  readonly figures: readonly Figure[];
}

const started = Date.now();

export function report(bench: string, figures: readonly Figure[]): BenchReport {
  const result: BenchReport = {
    bench,
    startedAt: new Date(started).toISOString(),
    seconds: Math.round((Date.now() - started) / 1000),
    loadAverage: loadavg().map((x) => Math.round(x * 100) / 100),
    cpus: cpus().length,
    figures,
  };
  console.log(`\n${bench} (load average ${result.loadAverage.join(" ")} on ${result.cpus} cores)`);
  for (const f of figures) {
    const baseline = f.baseline ? `   (${f.baseline.name}: ${format(f.baseline.value)} ${f.baseline.unit})` : "";
    console.log(
      `  ${f.met ? "✓" : "✗"} ${f.name}: ${format(f.value)} ${f.unit}   target ${f.target}${baseline}${f.note ? `   — ${f.note}` : ""}`,
    );
  }
  if (process.env.BENCH_RESULT_FILE) writeFileSync(process.env.BENCH_RESULT_FILE, JSON.stringify(result, null, 2));
  return result;
}

export function format(value: number): string {
  if (!Number.isFinite(value)) return String(value);
  if (Math.abs(value) >= 100) return value.toFixed(0);
  if (Math.abs(value) >= 10) return value.toFixed(1);
  return value.toFixed(2);
}

/** The q-quantile of `values` (sorted here). */
export function quantile(values: readonly number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN;
}

export const median = (values: readonly number[]): number => quantile(values, 0.5);

/** The sum of a Prometheus series at `url`/metrics over the samples whose labels include `labels`. */
export async function metric(url: string, name: string, labels: Record<string, string> = {}): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const wanted = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
  let total = 0;
  for (const line of text.split("\n")) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    if (wanted.every((w) => line.includes(w))) total += Number(line.split(" ").at(-1));
  }
  return total;
}

/** A connection to a bench server's database, for what the guide's servers write directly. */
export async function connectDatabase(databaseUrl: string): Promise<mysql2.Connection> {
  const url = new URL(databaseUrl);
  return mysql2.createConnection({
    host: url.hostname,
    port: Number(url.port || 3306),
    user: decodeURIComponent(url.username) || "root",
    password: decodeURIComponent(url.password),
    database: url.pathname.slice(1),
    timezone: "Z",
  });
}

/** Registry rows for `hosts`' programs (`<prefix><host index>-<program>`), written as the guide's table holds them. */
export async function insertRegistryRows(
  db: mysql2.Connection,
  hosts: readonly { host: string; port: number; programs: readonly string[] }[],
  prefix = "fleet-",
): Promise<number> {
  const now = new Date();
  const rows = hosts.flatMap((host, i) =>
    host.programs.map((program, j) => [
      `${prefix}${String(i).padStart(3, "0")}-${program}`,
      20_000 + i * 100 + j,
      null,
      "running",
      host.host,
      host.port,
      program,
      now,
      now,
    ]),
  );
  for (let i = 0; i < rows.length; i += 2_000) {
    await db.query(
      "INSERT INTO kb_server_processes (process_name, port, pid, status, supervisor_host, supervisor_port, " +
        "supervisor_program, last_heartbeat, created_at) VALUES ?",
      [rows.slice(i, i + 2_000)],
    );
  }
  return rows.length;
}

/** Waits until `check` holds, polling every `everyMs`; fails naming `what` after `withinMs`. */
export async function waitFor(
  what: string,
  check: () => Promise<boolean>,
  withinMs: number,
  everyMs = 500,
): Promise<void> {
  const deadline = Date.now() + withinMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
