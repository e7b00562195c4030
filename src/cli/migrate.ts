import "reflect-metadata";
import { ConfigError, describeDatabase, loadConfig } from "../config/config.js";
import { runMigrations } from "../db/migrate.js";
import { createLogger } from "../logger.js";

/** `npm run migrate`: applies pending migrations (safe while replicas start). */
async function main(): Promise<void> {
  const config = loadConfig();
  const logger = createLogger(config.logLevel);
  const applied = await runMigrations(config.database, logger);
  process.stdout.write(
    applied.length > 0
      ? `applied ${applied.length} migration(s) to ${describeDatabase(config.database)}: ${applied.join(", ")}\n`
      : `${describeDatabase(config.database)} is up to date\n`,
  );
}

main().catch((error: unknown) => {
  process.stderr.write(
    `fleetvisor migrate: ${error instanceof ConfigError ? error.message : (error as Error).message}\n`,
  );
  process.exit(error instanceof ConfigError ? 2 : 1);
});
