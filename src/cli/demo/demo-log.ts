import { closeSync, openSync, writeSync } from "node:fs";
import type { DestinationStream } from "pino";

const LEVEL_NAMES: Readonly<Record<number, string>> = { 40: "warning", 50: "error", 60: "fatal" };

/** Where Fleetvisor's log goes while the demo runs. */
export interface DemoLog {
  readonly destination: DestinationStream;
  /** Stops writing (later lines are dropped) and closes the file. */
  close(): void;
}

/**
 * Fleetvisor's JSON log lines go to a file beside the demo's other files; warnings and worse
 * are also shown on stderr, as one readable line each, so that the terminal shows the
 * demo's own output and what needs attention, not every request.
 */
export function openDemoLog(path: string, terminal: NodeJS.WritableStream = process.stderr): DemoLog {
  let fd: number | undefined = openSync(path, "a", 0o600);
  return {
    destination: {
      write(line: string) {
        if (fd === undefined) return;
        writeSync(fd, line);
        let entry: { level?: number; msg?: string };
        try {
          entry = JSON.parse(line) as typeof entry;
        } catch {
          return;
        }
        if ((entry.level ?? 0) >= 40) {
          terminal.write(`fleetvisor: ${LEVEL_NAMES[entry.level!] ?? "warning"}: ${entry.msg ?? line.trim()}\n`);
        }
      },
    },
    close() {
      if (fd === undefined) return;
      closeSync(fd);
      fd = undefined;
    },
  };
}
