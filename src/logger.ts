import { pino, type DestinationStream, type Logger } from "pino";

export type { Logger };

/**
 * Paths that may carry a secret if some object ends up in a log line. Messages are written
 * so that secrets never reach them; redaction is the second line of defence.
 */
const REDACT_PATHS = [
  "password",
  "*.password",
  "token",
  "*.token",
  "authorization",
  "*.authorization",
  "headers.authorization",
  "req.headers.authorization",
  "connectionParams",
  "*.connectionParams",
];

/** The process-wide structured logger: JSON lines on stdout, or on `destination`. */
export function createLogger(
  level: string,
  bindings: Record<string, unknown> = {},
  destination?: DestinationStream,
): Logger {
  const options = {
    level,
    base: { service: "fleetvisor", ...bindings },
    redact: { paths: REDACT_PATHS, censor: "[redacted]" },
    timestamp: pino.stdTimeFunctions.isoTime,
  };
  return destination ? pino(options, destination) : pino(options);
}
