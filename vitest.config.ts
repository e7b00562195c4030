import { defineConfig, type TestProjectInlineConfiguration } from "vitest/config";

// graphql ships both ESM and CJS builds; without the alias vitest can load both and
// type-graphql then fails with "Cannot use GraphQLSchema from another module or realm".
const resolve = { alias: { graphql: "graphql/index.js" } };

/** Integration tests that measure first paint and typing in Chromium: run on their own. */
const ALONE = ["test/dashboard-scale.int.test.ts"];

/** What both integration runs share: real MariaDB or SQLite, Redis and supervisord. */
const integration: NonNullable<TestProjectInlineConfiguration["test"]> = {
  setupFiles: ["./test/setup.ts"],
  environment: "node",
  testTimeout: 60_000,
  hookTimeout: 120_000,
  // Every file gets its own database and its own supervisord instances; two at a time
  // keeps a 2-core machine responsive enough for timing-sensitive checks.
  maxWorkers: 2,
  fileParallelism: true,
};

export default defineConfig({
  test: {
    projects: [
      {
        resolve,
        test: {
          name: "unit",
          include: ["src/**/*.test.ts", "test/**/*.test.ts", "client-examples/**/*.test.ts"],
          exclude: ["test/**/*.int.test.ts", "**/node_modules/**"],
          // Unit tests first: they are quick and say the most when they fail.
          sequence: { groupOrder: 0 },
          setupFiles: ["./test/setup.ts"],
          environment: "node",
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
          // reads DB): the registry, the watchers, subscriptions, control, the role matrix, the
          // fleet-state metrics, the recorded transitions and observed state.
          name: "integration-sqlite",
          include: [
            "test/registry.int.test.ts",
            "test/watch.int.test.ts",
            "test/subscription.int.test.ts",
            "test/supervisor.int.test.ts",
            "test/auth.int.test.ts",
            "test/metrics.int.test.ts",
            "test/transitions.int.test.ts",
            "test/observed-state.int.test.ts",
            "test/token-lifetimes.int.test.ts",
            "test/audit.int.test.ts",
            "test/event-retention.int.test.ts",
            "test/drift.int.test.ts",
            "test/rollout.int.test.ts",
          ],
          env: { DB: "sqlite" },
          sequence: { groupOrder: 2 },
          ...integration,
        },
      },
      {
        resolve,
        test: {
          // Last, one file at a time: what measures time in a browser must not share the
          // machine's two cores with other files' supervisords and replicas.
          name: "integration-alone",
          include: [...ALONE],
          sequence: { groupOrder: 3 },
          ...integration,
          maxWorkers: 1,
        },
      },
    ],
  },
});
