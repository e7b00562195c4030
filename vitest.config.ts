import { readFileSync } from "node:fs";
import { relative } from "node:path";
import { defineConfig, type TestProjectInlineConfiguration } from "vitest/config";
import { BaseSequencer, type TestSpecification } from "vitest/node";

/**
 * Durations (s) of files in an earlier full run, saved by `npm run test:durations`: the
 * order of a run on a fresh clone, whose vitest cache is empty (ordered by size instead,
 * the long files that wait on supervisord and the watchers started late and ran on alone
 * at the end: 7.5 minutes against 6 for the same files in the order of their durations).
 */
const SAVED_DURATIONS = JSON.parse(readFileSync(new URL("./test/durations.json", import.meta.url), "utf8")) as Record<
  string,
  number
>;

/** Files shorter than this (ms) run at the end of their group, one project's after another's. */
const SHORT_FILE_MS = 5_000;

/**
 * Longest first, across the projects of a group: vitest's own order runs one project's
 * files after another's, so the embedded-database run's long files (the watchers,
 * supervisord) began when the MariaDB run was nearly done and ran on alone at the end.
 * A file's duration is the last run's (vitest's cache) or else the saved one; files never
 * measured go first, larger first, as they may be long.
 *
 * The short files then run project by project: a worker goes on to the next file only if
 * that file is of its own project, and is replaced otherwise, which costs a new worker's
 * start (2-4 s of CPU loading the service): in duration order alone, the short files of
 * three projects alternated and the run's last minute started twenty workers.
 */
class LongestFirst extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const { cache, config } = this.ctx;
    const key = (spec: TestSpecification) => `${spec.project.name}:${relative(config.root, spec.moduleId)}`;
    const duration = (spec: TestSpecification): number => {
      const saved = SAVED_DURATIONS[key(spec)];
      return cache.getFileTestResults(key(spec))?.duration ?? (saved === undefined ? Infinity : saved * 1000);
    };
    const size = (spec: TestSpecification): number => cache.getFileStats(key(spec))?.size ?? 0;
    return [...files].sort((a, b) => {
      const group = a.project.config.sequence.groupOrder - b.project.config.sequence.groupOrder;
      if (group !== 0) return group;
      const [x, y] = [duration(a), duration(b)];
      const [shortA, shortB] = [x < SHORT_FILE_MS, y < SHORT_FILE_MS];
      if (shortA !== shortB) return shortA ? 1 : -1;
      if (shortA && a.project !== b.project) return a.project.name.localeCompare(b.project.name);
      if (x === y) return size(b) - size(a);
      return y - x;
    });
  }
}

// graphql ships both ESM and CJS builds; without the alias vitest can load both and
// type-graphql then fails with "Cannot use GraphQLSchema from another module or realm".
const resolve = { alias: { graphql: "graphql/index.js" } };

/** Integration tests that load the machine or time a browser (first paint, typing): run on their own. */
const ALONE = ["test/dashboard-scale.int.test.ts", "test/heartbeat-load.int.test.ts"];

/** What both integration runs share: real MariaDB or SQLite, Redis and supervisord. */
const integration: NonNullable<TestProjectInlineConfiguration["test"]> = {
  setupFiles: ["./test/setup.ts"],
  environment: "node",
  testTimeout: 60_000,
  hookTimeout: 120_000,
  // Every file gets its own database and its own supervisord instances. Most of a file's
  // time is waiting (for polls, retries, supervisord): on a 2-core machine, four at a time
  // keep both cores about 75% busy (three left them 60-70% busy and took 40 s longer).
  maxWorkers: 4,
  fileParallelism: true,
  // A file starts its own services and stops them in afterAll (test/setup.ts stops what a
  // failed one left): the workers load the service's modules once, not once per file.
  isolate: false,
};

/**
 * What `npm test` runs on SQLite by default: the registry, the watchers and subscriptions
 * (the service's main job on the embedded database), and the files that check its SQL
 * paths in a few seconds (recorded transitions, HTTP, the audit trail, retention, the
 * healing and observation stores).
 */
const SQLITE_CORE = [
  "test/registry.int.test.ts",
  "test/watch.int.test.ts",
  "test/subscription.int.test.ts",
  "test/transitions.int.test.ts",
  "test/http.int.test.ts",
  "test/audit.int.test.ts",
  "test/event-retention.int.test.ts",
  "test/healing-store.int.test.ts",
  "test/host-observations.int.test.ts",
];

/**
 * Every integration file that applies to one replica, run again on the embedded SQLite
 * database with `SQLITE_TESTS=all` (CI does, on Node 24): the core above, and control, the
 * role matrix, the fleet-state metrics, observed state, tokens, drift, rollouts, incidents,
 * self-healing, log following, the registry clients, supervisord's listener and programs,
 * lying supervisords, hostile input, secrets and migrations. These repeat on the second
 * database scenarios that spend most of their time waiting on supervisord and the registry
 * clients, which is why `npm test` leaves them to CI. Left to MariaDB: what only MySQL does
 * (other replicas, a server killed or frozen, latin1), the browser tests and the
 * deployment files.
 */
const SQLITE_FILES = [
  ...SQLITE_CORE,
  "test/supervisor.int.test.ts",
  "test/auth.int.test.ts",
  "test/metrics.int.test.ts",
  "test/observed-state.int.test.ts",
  "test/token-lifetimes.int.test.ts",
  "test/drift.int.test.ts",
  "test/rollout.int.test.ts",
  "test/incidents.int.test.ts",
  "test/healing.int.test.ts",
  "test/process-log-follow.int.test.ts",
  "test/python-client.int.test.ts",
  "test/typescript-client.int.test.ts",
  "test/supervisor-listener.int.test.ts",
  "test/supervisor-programs.int.test.ts",
  "test/lying-supervisord.int.test.ts",
  "test/hostile-input.int.test.ts",
  "test/secrets.int.test.ts",
  "test/migrations.int.test.ts",
];

export default defineConfig({
  test: {
    sequence: { sequencer: LongestFirst },
    projects: [
      {
        resolve,
        test: {
          name: "unit",
          include: ["src/**/*.test.ts", "test/**/*.test.ts", "client-examples/**/*.test.ts"],
          exclude: ["test/**/*.int.test.ts", "**/node_modules/**"],
          // In the integration files' group, where their long waits leave the cores to the
          // type check (test/typecheck.test.ts) and the unit tests fill the gaps at the end.
          sequence: { groupOrder: 1 },
          setupFiles: ["./test/setup.ts"],
          environment: "node",
          // The group's workers (vitest gives one group one number), the modules loaded once
          // per worker, not once per file.
          maxWorkers: integration.maxWorkers,
          isolate: false,
        },
      },
      {
        resolve,
        test: {
          name: "integration",
          include: ["test/**/*.int.test.ts"],
          exclude: [...ALONE, "**/node_modules/**"],
          sequence: { groupOrder: 1 },
          ...integration,
        },
      },
      {
        resolve,
        test: {
          // The same integration tests on the embedded SQLite database (test/support/database.ts
          // reads DB); which files, see SQLITE_FILES.
          name: "integration-sqlite",
          include: process.env.SQLITE_TESTS === "all" ? SQLITE_FILES : SQLITE_CORE,
          env: { DB: "sqlite" },
          sequence: { groupOrder: 1 },
          ...integration,
        },
      },
      {
        resolve,
        test: {
          // Last, one file at a time: a load test, and what times a browser, must not share
          // the machine's two cores with other files' supervisords and replicas.
          name: "integration-alone",
          include: [...ALONE],
          sequence: { groupOrder: 2 },
          ...integration,
          maxWorkers: 1,
        },
      },
    ],
  },
});
