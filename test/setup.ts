import "reflect-metadata";
import { afterAll } from "vitest";
import { removeBundles } from "./support/bundle.js";
import { stopAllSupervisords } from "./support/supervisord.js";
import { removeTempDirs } from "./support/temp-dir.js";

// Registered before the test file's own hooks, so it runs after them (vitest runs
// afterAll hooks in reverse): whatever a file left behind, even after a failure, its
// supervisords stop and the directories holding their configs and passwords go, and so
// do the compiled programs it ran.
afterAll(async () => {
  await stopAllSupervisords();
  removeTempDirs();
  removeBundles();
});
