import "reflect-metadata";
import { ListenError } from "../http/listen-check.js";
import { ConfigError } from "../config/config.js";
import { MissingPrerequisite } from "./demo/prerequisites.js";
import { DemoError, startDemo, type Cleanup } from "./demo/run-demo.js";
import { StopRequest, StopRequested } from "./demo/stop-request.js";

/**
 * `npm run demo`: Fleetvisor on its embedded database with three local supervisords, each
 * running the Python example server (registry client) and the event listener, until Ctrl-C.
 *
 * Exit status: 0 after a requested stop; 2 when something must be installed first (python3,
 * supervisord) or the environment is invalid; 1 when a step failed.
 */

/** Longer than any orderly stop (supervisords wait for their programs; Fleetvisor drains requests). */
const STOP_WITHIN_MS = 45_000;
/** How often the demo checks that whatever started it (npm, a shell) is still there. */
const PARENT_CHECK_MS = 1_000;

const say = (line: string): void => void process.stdout.write(`fleetvisor demo: ${line}\n`);
const complain = (line: string): void => void process.stderr.write(`fleetvisor demo: ${line}\n`);

/** What to tell the user for a failure, and the exit status. */
function describeFailure(error: unknown): { readonly message: string; readonly status: number } {
  if (error instanceof MissingPrerequisite) return { message: error.message, status: 2 };
  if (error instanceof ConfigError) return { message: error.message, status: 2 };
  if (error instanceof ListenError || error instanceof DemoError) return { message: error.message, status: 1 };
  return { message: (error as Error).stack ?? String(error), status: 1 };
}

async function runCleanup(cleanup: Cleanup): Promise<void> {
  for (const step of cleanup) {
    try {
      await step.run();
    } catch (error) {
      complain(`could not ${step.what}: ${(error as Error).message}`);
    }
  }
}

async function main(): Promise<number> {
  const stop = new StopRequest();
  const cleanup: Cleanup = [];
  let firstSignalAt = 0;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (stop.request(signal)) firstSignalAt = Date.now();
    // One Ctrl-C arrives twice (from the terminal, and relayed by npm): only a later one is news.
    else if (Date.now() - firstSignalAt > 1_000) say(`${signal}: already stopping, please wait`);
  };
  for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) process.on(signal, onSignal);
  // Orphaned (npm killed outright, the terminal gone without a SIGHUP): nothing would ever stop
  // the supervisords, so the demo stops itself.
  const parent = process.ppid;
  setInterval(() => {
    if (process.ppid !== parent) stop.request("the process that started the demo exited");
  }, PARENT_CHECK_MS).unref();

  let status = 0;
  let ready = false;
  try {
    const banner = await startDemo(process.env, stop, cleanup, say);
    ready = true;
    process.stdout.write(`${banner}\n`);
    await stop.requested;
  } catch (error) {
    if (!(error instanceof StopRequested)) {
      const failure = describeFailure(error);
      complain(failure.message);
      status = failure.status;
    }
  }
  if (cleanup.length > 0) {
    say(
      stop.reason
        ? `${stop.reason}: stopping the supervisords (their servers deregister), then Fleetvisor`
        : "stopping what was started",
    );
    setTimeout(() => {
      complain(`could not stop within ${STOP_WITHIN_MS / 1000} s; exiting`);
      process.exit(1);
    }, STOP_WITHIN_MS).unref();
    await runCleanup(cleanup);
    say(ready || stop.reason ? "stopped; nothing it started is left running" : "stopped");
  }
  return status;
}

main().then(
  (status) => process.exit(status),
  (error: unknown) => {
    complain((error as Error).stack ?? String(error));
    process.exit(1);
  },
);
