import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import { afterEach, describe, expect, it } from "vitest";
import { createLogger } from "../../logger.js";
import { openDemoLog } from "./demo-log.js";

let dir: string;
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe("openDemoLog", () => {
  it("writes every line to the file and shows warnings on the terminal, readably", () => {
    dir = mkdtempSync(join(tmpdir(), "fv-demo-log-"));
    const terminal = new PassThrough();
    let shown = "";
    terminal.on("data", (chunk: Buffer) => (shown += chunk.toString()));
    const log = openDemoLog(join(dir, "fleetvisor.log"), terminal);
    const logger = createLogger("info", {}, log.destination);
    logger.info("fleetvisor is listening");
    logger.warn({ password: "hunter2" }, "supervisord 127.0.0.1:9101 rejected the credentials");
    log.close();
    logger.error("after close: dropped");

    const lines = readFileSync(join(dir, "fleetvisor.log"), "utf8").trimEnd().split("\n");
    expect(lines.map((line) => (JSON.parse(line) as { msg: string }).msg)).toEqual([
      "fleetvisor is listening",
      "supervisord 127.0.0.1:9101 rejected the credentials",
    ]);
    expect(lines[1]).not.toContain("hunter2");
    expect(shown).toBe("fleetvisor: warning: supervisord 127.0.0.1:9101 rejected the credentials\n");
  });
});
