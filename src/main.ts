import "reflect-metadata";
import { startApp, type App } from "./app.js";
import { ListenError } from "./http/listen-check.js";
import { ConfigError, loadConfig } from "./config/config.js";
import { DatabaseStartupError } from "./db/connect.js";
import { createLogger } from "./logger.js";

/** A second signal, or a stop that hangs past this, ends the process at once. */
const STOP_TIMEOUT_MS = 30_000;

async function main(): Promise<void> {
  let config;
  try {
    config = loadConfig();
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`fleetvisor: ${error.message}\n`);
      process.exit(2);
    }
    throw error;
  }
  const logger = createLogger(config.logLevel);

  // Signals are handled from the start: one that arrives while the service is still
  // starting (its port may already be open) stops it once it has started, gracefully,
  // instead of killing it half-way.
  let app: App | undefined;
  let stopping = false;
  const shutdown = (running: App): void => {
    running.stop().then(
      () => process.exit(0),
      (error: unknown) => {
        logger.error({ err: error }, "stop failed");
        process.exit(1);
      },
    );
  };
  const stop = (signal: NodeJS.Signals): void => {
    if (stopping) {
      logger.warn({ signal }, "second signal: exiting now");
      process.exit(1);
    }
    stopping = true;
    logger.info({ signal }, app ? "signal received" : "signal received while starting: stopping once started");
    setTimeout(() => {
      logger.error("graceful stop timed out");
      process.exit(1);
    }, STOP_TIMEOUT_MS).unref();
    if (app) shutdown(app);
  };
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);

  try {
    app = await startApp(config, { logger });
  } catch (error) {
    // One line that says what to fix (the reasons are written for people: a port in use,
    // a database that stayed away); a stack only for what nobody foresaw.
    const known = error instanceof ListenError || error instanceof DatabaseStartupError;
    logger.fatal(known ? {} : { err: error }, `fleetvisor could not start: ${(error as Error).message}`);
    process.exit(1);
  }
  if (stopping) shutdown(app);
}

void main();
