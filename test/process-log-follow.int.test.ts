import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestApp, type TestApp, type TokenClient } from "./support/app.js";
import { createTestDatabase, type TestDatabase } from "./support/database.js";
import { connectWs, type SubscriptionRecorder, type WsConnection } from "./support/graphql-client.js";
import { freePort, Supervisord } from "./support/supervisord.js";
import { tempDir } from "./support/temp-dir.js";
import { until } from "./support/wait.js";

/** `processLog` against a real supervisord whose programs write a numbered line every 50 ms. */

const TICKER = "log-ticker";
const CLEARED = "log-cleared";
const LOST = "log-lost";
const MOVED = "log-moved";
/** Writes its numbered lines to stderr, and nothing to stdout. */
const ERRORS = "log-errors";
const AUTH = { username: "fleet", password: "log-follow-pass-77c1" };

let db: TestDatabase;
let app: TestApp;
let viewer: TokenClient;
let supervisord: Supervisord;
const sockets: WsConnection[] = [];

interface Chunk {
  text: string;
  startOffset: number;
  offset: number;
  overflow: boolean;
  rotated: boolean;
  message: string | null;
}

const SUBSCRIPTION = `subscription($name: String!, $stream: LogStream!, $fromOffset: Int) {
  processLog(name: $name, stream: $stream, fromOffset: $fromOffset) { text startOffset offset overflow rotated message }
}`;

function follow(
  name: string,
  fromOffset?: number,
  stream: "STDOUT" | "STDERR" = "STDOUT",
): { socket: WsConnection; chunks: SubscriptionRecorder<{ processLog: Chunk }> } {
  const socket = connectWs(app.url, viewer.token);
  sockets.push(socket);
  return { socket, chunks: socket.subscribe<{ processLog: Chunk }>(SUBSCRIPTION, { name, stream, fromOffset }) };
}

/** The numbers of the lines in `text`, which must hold whole lines only. */
function lineNumbers(text: string): number[] {
  expect(text.endsWith("\n") || text === "").toBe(true);
  return text
    .split("\n")
    .filter(Boolean)
    .map((line) => {
      const match = /^line (\d+)$/.exec(line);
      if (!match) throw new Error(`not a whole line: ${JSON.stringify(line)}`);
      return Number(match[1]);
    });
}

const joined = (chunks: readonly { processLog: Chunk }[]) => chunks.map((c) => c.processLog.text).join("");

beforeAll(async () => {
  db = await createTestDatabase("log-follow");
  app = await startTestApp(db.url, { SUPERVISOR_USERNAME: AUTH.username, SUPERVISOR_PASSWORD: AUTH.password });
  viewer = await app.client("VIEWER", "log-reader");
  // Lines are written whole (one write each), so any chunk boundary falls between lines.
  const script = join(tempDir("log-follow"), "ticker.sh");
  writeFileSync(script, '#!/bin/sh\ni=0\nwhile :; do echo "line $i"; i=$((i+1)); sleep 0.05; done\n', { mode: 0o755 });
  const toStderr = join(tempDir("log-follow-stderr"), "ticker-stderr.sh");
  writeFileSync(toStderr, '#!/bin/sh\ni=0\nwhile :; do echo "line $i" >&2; i=$((i+1)); sleep 0.05; done\n', {
    mode: 0o755,
  });
  const port = await freePort();
  for (const name of [TICKER, CLEARED, LOST, MOVED, ERRORS]) {
    await app.admin.data(`mutation($input: CreateProcessInput!) { createProcess(input: $input) { id } }`, {
      input: { name, port: await freePort(), supervisorHost: "127.0.0.1", supervisorPort: port, program: name },
    });
  }
  supervisord = await Supervisord.start({
    port,
    auth: AUTH,
    programs: {
      [TICKER]: { command: script },
      [CLEARED]: { command: script },
      [LOST]: { command: script },
      [MOVED]: { command: script },
      [ERRORS]: { command: toStderr },
    },
  });
}, 30_000);

afterAll(async () => {
  await Promise.all(sockets.map((socket) => socket.dispose()));
  await supervisord?.stop();
  await app?.stop();
  await db?.drop();
});

describe("processLog", () => {
  it("follows a growing log: every line once, in order, across a reconnect from the last offset", async () => {
    const first = follow(TICKER);
    const second = follow(TICKER);
    await first.chunks.until((c) => lineNumbers(joined(c)).length >= 30, 10_000, "30 lines");
    await second.chunks.until((c) => c.length > 0, 5_000, "a chunk on the second subscription");
    // Two subscribers of one log on one replica: one poll loop.
    expect(app.services.logs.activeFollowers).toBe(1);

    await first.socket.dispose();
    await second.socket.dispose();
    const before = first.chunks.values.map((c) => c.processLog);
    const resumeAt = before.at(-1)!.offset;
    await until("the poll loop to stop once nobody follows", async () => app.services.logs.activeFollowers === 0);
    // Lines keep coming while nobody listens.
    await new Promise((resolve) => setTimeout(resolve, 500));

    const again = follow(TICKER, resumeAt);
    const after = await again.chunks.until(
      (c) => lineNumbers(joined(c)).length >= 40,
      10_000,
      "40 lines after the reconnect",
    );
    const chunks = [...before, ...after.map((c) => c.processLog)];
    for (let i = 1; i < chunks.length; i++) expect(chunks[i]!.startOffset).toBe(chunks[i - 1]!.offset);
    expect(chunks.every((c) => !c.overflow && !c.rotated && c.message === null)).toBe(true);
    const numbers = lineNumbers(chunks.map((c) => c.text).join(""));
    expect(numbers.length).toBeGreaterThanOrEqual(70);
    expect(numbers).toEqual(numbers.map((_, i) => numbers[0]! + i));
  }, 30_000);

  it("follows STDERR as it follows STDOUT: its own lines, once, in order", async () => {
    const errors = follow(ERRORS, undefined, "STDERR");
    const chunks = await errors.chunks.until((c) => lineNumbers(joined(c)).length >= 20, 10_000, "20 lines");
    const numbers = lineNumbers(joined(chunks));
    expect(numbers).toEqual(numbers.map((_, i) => numbers[0]! + i));
    // Its stdout holds nothing: what was followed came from stderr.
    const stdout = await viewer.http.data<{ process: { log: { text: string } } }>(
      `{ process(name: "${ERRORS}") { log(stream: STDOUT, bytes: 1024) { text } } }`,
    );
    expect(stdout.process.log.text).toBe("");
    await errors.socket.dispose();
  });

  it("says so when the log is cleared under it, and goes on in the new log", async () => {
    const { chunks } = follow(CLEARED, 0);
    await chunks.until((c) => lineNumbers(joined(c)).length >= 20, 10_000, "20 lines");
    expect(chunks.values[0]!.processLog.startOffset).toBe(0);
    expect(await supervisord.ctl("clear", CLEARED)).toContain("cleared");
    const seen = await chunks.until((c) => c.some((chunk) => chunk.processLog.rotated), 10_000, "a rotated chunk");
    const rotated = seen.find((c) => c.processLog.rotated)!.processLog;
    expect(rotated).toMatchObject({ startOffset: 0, overflow: true });
    expect(rotated.message).toContain("the log was rotated or cleared");
    const at = seen.findIndex((c) => c.processLog.rotated);
    const later = await chunks.until((c) => c.length > at + 1, 5_000, "a chunk after the rotation");
    expect(later[at + 1]!.processLog.startOffset).toBe(rotated.offset);
    expect(later[at + 1]!.processLog.rotated).toBe(false);
  }, 20_000);

  it("ends with an error naming why when the process loses its supervisord or moves to another", async () => {
    const othersFollowed = app.services.logs.activeFollowers;
    const lost = follow(LOST);
    const moved = follow(MOVED);
    await lost.chunks.until((c) => c.length > 0, 5_000, "a chunk of the lost process");
    await moved.chunks.until((c) => c.length > 0, 5_000, "a chunk of the moved process");

    // Another tool sharing the registry table takes the supervisord away.
    await db.query(
      "UPDATE kb_server_processes SET supervisor_host = NULL, supervisor_port = NULL WHERE process_name = ?",
      [LOST],
    );
    const otherPort = await freePort();
    await app.admin.data(
      "mutation($name: String!, $port: Int!) { updateProcess(name: $name, input: { supervisorPort: $port }) { name } }",
      {
        name: MOVED,
        port: otherPort,
      },
    );
    await until("both follows to end", async () => lost.chunks.errors.length > 0 && moved.chunks.errors.length > 0);
    expect(lost.chunks.errors[0]).toMatchObject([
      {
        extensions: { code: "BAD_USER_INPUT" },
        message: `"${LOST}" no longer has a supervisord in the registry: its log cannot be followed`,
      },
    ]);
    expect(moved.chunks.errors[0]).toMatchObject([
      {
        extensions: { code: "CONFLICT" },
        message: expect.stringContaining(`"${MOVED}" moved from program "${MOVED}" on 127.0.0.1:`),
      },
    ]);
    expect((moved.chunks.errors[0] as { message: string }[])[0]!.message).toContain(
      `to program "${MOVED}" on 127.0.0.1:${otherPort} while its log was followed`,
    );
    await until("their poll loops to stop", async () => app.services.logs.activeFollowers === othersFollowed);

    // Following again names what is wrong at once.
    const again = follow(LOST);
    expect(await again.chunks.failure()).toMatchObject([
      {
        extensions: { code: "BAD_USER_INPUT" },
        message: `"${LOST}" has no supervisord in the registry: it has no log to follow`,
      },
    ]);
  }, 20_000);

  it("refuses what it cannot follow, naming why", async () => {
    const socket = connectWs(app.url, viewer.token);
    sockets.push(socket);
    const negative = await socket.subscribe(SUBSCRIPTION, { name: TICKER, stream: "STDOUT", fromOffset: -1 }).failure();
    expect(negative).toMatchObject([
      { extensions: { code: "BAD_USER_INPUT" }, message: "fromOffset must not be negative (got -1)" },
    ]);
    const unknown = await socket.subscribe(SUBSCRIPTION, { name: "no-such-process", stream: "STDOUT" }).failure();
    expect(unknown).toMatchObject([{ extensions: { code: "NOT_FOUND" } }]);
  });
});
