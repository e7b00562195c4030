import { afterEach, describe, expect, it } from "vitest";
import { createLogger } from "../logger.js";
import type { LogRead, LogStart } from "../supervisor/process-log.js";
import type { FollowedChunk } from "./log-cursor.js";
import { LogFollower } from "./log-follower.js";

/** A log as supervisord keeps it: bytes that grow, and may be rotated (replaced by a new, empty one). */
class FakeLog {
  bytes = Buffer.alloc(0);
  reads: LogStart[] = [];

  write(text: string): void {
    this.bytes = Buffer.concat([this.bytes, Buffer.from(text)]);
  }

  rotate(): void {
    this.bytes = Buffer.alloc(0);
  }

  /** readProcessLog's contract: exactly the bytes at `from`, or from 0 with `rotated` past the end. */
  read = async (from: LogStart, max: number): Promise<LogRead> => {
    this.reads.push(from);
    const size = this.bytes.length;
    if (from !== "end" && from > size) return { ...(await this.read(0, max)), rotated: true };
    const start = from === "end" ? Math.max(0, size - max) : from;
    const end = Math.min(size, start + max);
    return { text: this.bytes.subarray(start, end).toString(), start, end, size, rotated: false };
  };
}

const logger = createLogger("silent");
const followers: LogFollower[] = [];

function follower(log: FakeLog, onIdle: () => void = () => undefined, maxReadsPerPoll = 4): LogFollower {
  const made = new LogFollower(log.read, onIdle, logger, { intervalMs: 5, maxReadsPerPoll, maxPendingBytes: 1 << 20 });
  followers.push(made);
  return made;
}

/** Takes chunks until their text holds `expected` (or fails after a second). */
async function collect(
  stream: AsyncIterableIterator<FollowedChunk>,
  done: (chunks: FollowedChunk[]) => boolean,
): Promise<FollowedChunk[]> {
  const chunks: FollowedChunk[] = [];
  const deadline = Date.now() + 1_000;
  while (!done(chunks)) {
    const next = await Promise.race([
      stream.next(),
      new Promise<"late">((resolve) => setTimeout(resolve, Math.max(1, deadline - Date.now()), "late")),
    ]);
    if (next === "late") throw new Error(`timed out; got ${JSON.stringify(chunks)}`);
    if (next.done) break;
    chunks.push(next.value);
  }
  return chunks;
}

const text = (chunks: readonly FollowedChunk[]) => chunks.map((chunk) => chunk.text).join("");

afterEach(async () => {
  await Promise.all(followers.splice(0).map((f) => f.stop()));
});

describe("LogFollower", () => {
  it("without fromOffset, delivers what is written from now on, each byte once, in order", async () => {
    const log = new FakeLog();
    log.write("old\n");
    const one = await follower(log).subscribe(null);
    for (let i = 0; i < 5; i++) log.write(`line ${i}\n`);
    const chunks = await collect(one, (c) => text(c).includes("line 4\n"));
    expect(text(chunks)).toBe("line 0\nline 1\nline 2\nline 3\nline 4\n");
    expect(chunks[0]!.start).toBe(4);
    for (let i = 1; i < chunks.length; i++) expect(chunks[i]!.start).toBe(chunks[i - 1]!.end);
  });

  it("two subscribers share one poll loop; one from an old offset first catches up by itself", async () => {
    const log = new FakeLog();
    log.write("a\nb\n");
    const shared = follower(log);
    const live = await shared.subscribe(null);
    const fromStart = await shared.subscribe(0);
    log.write("c\n");
    const [seenLive, seenAll] = await Promise.all([
      collect(live, (c) => text(c).includes("c\n")),
      collect(fromStart, (c) => text(c).includes("c\n")),
    ]);
    expect(text(seenLive)).toBe("c\n");
    expect(text(seenAll)).toBe("a\nb\nc\n");
    // The one from 0 read once by itself; every other read was the shared loop's, at its offset.
    const numericReads = log.reads.filter((from) => from !== "end");
    expect(numericReads.filter((from) => from === 0)).toHaveLength(1);
    expect(numericReads.filter((from) => from !== 0 && from !== 4 && from !== 6)).toEqual([]);
    expect(numericReads).toContain(4);
    expect(shared.subscriberCount).toBe(2);
  });

  it("says a rotation, and goes on in the new log", async () => {
    const log = new FakeLog();
    log.write("x".repeat(100));
    const one = await follower(log).subscribe(null);
    log.write("before\n");
    await collect(one, (c) => text(c).includes("before\n"));
    log.rotate();
    log.write("after\n");
    const [chunk] = await collect(one, (c) => c.length > 0);
    expect(chunk).toMatchObject({ text: "after\n", start: 0, end: 6, rotated: true, overflow: true });
    expect(chunk!.message).toContain("rotated");
  });

  it("skips ahead when the log grows faster than a poll reads, and says how much", async () => {
    const log = new FakeLog();
    const one = await follower(log, undefined, 1).subscribe(null);
    log.write("y".repeat(200 * 1024));
    const chunks = await collect(one, (c) => c.some((chunk) => chunk.overflow));
    const skip = chunks.find((chunk) => chunk.overflow)!;
    expect(skip.message).toMatch(/^\d+ bytes \(65536 to 204800\) were written faster than they could be followed/);
    expect(skip.end).toBe(200 * 1024);
  });

  it("a subscriber that does not keep up loses what it held, and is told how much", async () => {
    const log = new FakeLog();
    const shared = new LogFollower(log.read, () => undefined, logger, {
      intervalMs: 5,
      maxReadsPerPoll: 4,
      maxPendingBytes: 100,
    });
    followers.push(shared);
    const slow = await shared.subscribe(null);
    // Nothing is taken while 30 lines of 10 bytes are written, a few at a time.
    for (let i = 0; i < 30; i++) {
      log.write(`line ${String(i).padStart(4, "0")}\n`);
      if (i % 5 === 4) await new Promise((resolve) => setTimeout(resolve, 15));
    }
    const chunks = await collect(slow, (c) => c.some((chunk) => chunk.overflow));
    const told = chunks.find((chunk) => chunk.overflow)!;
    expect(told.message).toMatch(/^\d+ bytes \(0 to \d+\) were left out: this subscriber did not keep up$/);
    // What it does get after that joins on without a gap.
    log.write("last\n");
    const after = await collect(slow, (c) => text(c).includes("last\n"));
    expect(after[0]!.start).toBe(told.end);
  });

  it("stops polling when its last subscriber leaves", async () => {
    const log = new FakeLog();
    let idle = 0;
    const shared = follower(log, () => idle++);
    const one = await shared.subscribe(null);
    const two = await shared.subscribe(null);
    await one.return();
    expect(idle).toBe(0);
    await two.return();
    expect(idle).toBe(1);
    expect(shared.active).toBe(false);
    const readsThen = log.reads.length;
    await new Promise((resolve) => setTimeout(resolve, 30));
    expect(log.reads.length).toBe(readsThen);
  });
});
