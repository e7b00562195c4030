import { describe, expect, it } from "vitest";
import { readProcessLog, type LogRead, type LogStart, type Multicall } from "./process-log.js";
import { SupervisorFault } from "./supervisor.errors.js";

const ADDRESS = { host: "sv", port: 9001 };

/**
 * A stand-in for supervisord's log calls, as its rpcinterface documents them: `read…Log`
 * returns the bytes at an offset (a negative offset with length 0: that many from the end)
 * decoded as UTF-8, FAILED when they do not decode; `tail…Log(0, 0)` returns the size.
 */
function supervisord(log: Buffer | null) {
  const calls: string[][] = [];
  const decode = (bytes: Buffer): string | SupervisorFault => {
    try {
      return new TextDecoder("utf-8", { fatal: true }).decode(bytes);
    } catch {
      return new SupervisorFault(ADDRESS, "FAILED", 30, "<class 'AttributeError'>");
    }
  };
  const answer = (method: string, [name, offset, length]: readonly unknown[]): unknown => {
    if (name !== "p") return new SupervisorFault(ADDRESS, "BAD_NAME", 10, String(name));
    const [o, l] = [offset as number, length as number];
    if (method.startsWith("supervisor.tail")) {
      if (o !== 0 || l !== 0) throw new Error("the reader only asks tail…Log for the size");
      return ["", log?.length ?? 0, (log?.length ?? 0) > 0];
    }
    if (!log) return new SupervisorFault(ADDRESS, "NO_FILE", 20, "/nowhere");
    if (o < 0) return decode(log.subarray(Math.max(0, log.length + o)));
    return decode(l === 0 ? log.subarray(o) : log.subarray(o, o + l));
  };
  const multicall: Multicall = async (_address, batch) => {
    calls.push(batch.map((c) => c.method));
    return batch.map((c) => answer(c.method, c.params ?? []));
  };
  return { multicall, calls };
}

function read(log: Buffer | null, from: LogStart, maxBytes: number, stream: "stdout" | "stderr" = "stdout") {
  const fake = supervisord(log);
  return { result: readProcessLog(fake.multicall, ADDRESS, "p", stream, from, maxBytes), calls: fake.calls };
}

/** Follows the log from `from` in reads of `maxBytes`, as a follower would. */
async function follow(log: Buffer, from: number, maxBytes: number): Promise<{ text: string; reads: LogRead[] }> {
  const reads: LogRead[] = [];
  let offset = from;
  for (;;) {
    const next = await read(log, offset, maxBytes).result;
    reads.push(next);
    if (next.end === offset) break;
    offset = next.end;
  }
  return { text: reads.map((r) => r.text).join(""), reads };
}

const numbered = (count: number, line: (i: number) => string = (i) => `line ${i}`) =>
  Buffer.from(Array.from({ length: count }, (_, i) => `${line(i + 1)}\n`).join(""));

describe("readProcessLog", () => {
  it("returns what was written since an offset, not the end of the log (167-byte log, offset 140)", async () => {
    const log = Buffer.from("x".repeat(139) + "\n" + "what came after offset 140\n");
    expect(log.length).toBe(167);
    const { result, calls } = read(log, 140, 4096);
    expect(await result).toEqual({
      text: "what came after offset 140\n",
      start: 140,
      end: 167,
      size: 167,
      rotated: false,
    });
    expect(calls).toEqual([["supervisor.tailProcessStdoutLog", "supervisor.readProcessStdoutLog"]]);
  });

  it("bounded by maxBytes, from the offset on; the rest is left for the next read", async () => {
    const log = numbered(20);
    expect(await read(log, 5, 10).result).toEqual({
      text: log.subarray(5, 15).toString(),
      start: 5,
      end: 15,
      size: log.length,
      rotated: false,
    });
  });

  it("followed by offset, gives the whole log: no gap, no repeat", async () => {
    const log = numbered(200);
    const { text, reads } = await follow(log, 0, 37);
    expect(text).toBe(log.toString());
    reads.slice(1).forEach((r, i) => expect(r.start).toBe(reads[i]!.end));
  });

  it("reads the end of the log", async () => {
    const log = numbered(20);
    expect(await read(log, "end", 12).result).toEqual({
      text: log.subarray(log.length - 12).toString(),
      start: log.length - 12,
      end: log.length,
      size: log.length,
      rotated: false,
    });
    expect(await read(log, "end", 4096).result).toMatchObject({ text: log.toString(), start: 0 });
  });

  it("nothing new at the end of the log", async () => {
    const log = numbered(3);
    expect(await read(log, log.length, 100).result).toEqual({
      text: "",
      start: log.length,
      end: log.length,
      size: log.length,
      rotated: false,
    });
  });

  it("an offset beyond the end: rotated or cleared since, read from 0 of the log there is now", async () => {
    const log = numbered(3);
    const { result, calls } = read(log, 5000, 8);
    expect(await result).toEqual({
      text: log.subarray(0, 8).toString(),
      start: 0,
      end: 8,
      size: log.length,
      rotated: true,
    });
    expect(calls).toHaveLength(2);
  });

  it("no log file is an empty log", async () => {
    expect(await read(null, "end", 100).result).toEqual({ text: "", start: 0, end: 0, size: 0, rotated: false });
    expect(await read(null, 0, 100).result).toEqual({ text: "", start: 0, end: 0, size: 0, rotated: false });
    expect(await read(null, 40, 100).result).toMatchObject({ text: "", end: 0, rotated: true });
  });

  describe("characters of several bytes", () => {
    // Three bytes per Hangul syllable: most bounds fall inside one.
    const log = numbered(60, (i) => `${i} 도메카 서버 로그`);

    it("followed in reads that end inside a character, gives the whole log", async () => {
      for (const maxBytes of [7, 10, 64]) {
        const { text, reads } = await follow(log, 0, maxBytes);
        expect(text).toBe(log.toString());
        reads.slice(1).forEach((r, i) => expect(r.start).toBe(reads[i]!.end));
      }
    });

    it("the end of the log, from the next character on", async () => {
      const { result } = read(log, "end", 100);
      const got = await result;
      expect(got.end).toBe(log.length);
      expect(got.start).toBeGreaterThanOrEqual(log.length - 100);
      expect(got.start).toBeLessThan(log.length - 100 + 4);
      expect(got.text).toBe(log.subarray(got.start).toString());
    });

    it("an offset inside a character begins at the next one", async () => {
      const inside = Buffer.from("1 도").length - 1;
      expect(await read(log, inside, 14).result).toMatchObject({
        start: inside + 1,
        end: inside + 14,
        text: "메카 서버",
      });
      // Ending inside one too: up to the last whole character.
      expect(await read(log, inside, 12).result).toMatchObject({
        start: inside + 1,
        end: inside + 11,
        text: "메카 서",
      });
    });

    it("fewer bytes than a whole character: a clear fault", async () => {
      const inside = Buffer.from("1 ").length;
      await expect(read(log, inside, 2).result).rejects.toThrow(
        /cannot send bytes 2 to 4 of the log of "p": it answered FAILED \(they are not whole UTF-8 characters/,
      );
    });
  });

  describe("a log that ends inside a character its program has not finished writing", () => {
    const whole = Buffer.from("12 도메카\n13 서버\n");
    // "버" is three bytes; the first two are written.
    const log = whole.subarray(0, whole.length - 2);
    const before = Buffer.from("12 도메카\n13 서").length;

    it("reads up to it, and it comes whole once written", async () => {
      expect(await read(log, 0, 4096).result).toMatchObject({ text: "12 도메카\n13 서", start: 0, end: before });
      expect(await read(whole, before, 4096).result).toMatchObject({ text: "버\n", end: whole.length });
    });

    it("a read at it returns nothing yet", async () => {
      expect(await read(log, before, 4096).result).toMatchObject({ text: "", start: before, end: before });
    });

    it("the end of the log stops before it", async () => {
      expect(await read(log, "end", 6).result).toMatchObject({ text: " 서", start: before - 4, end: before });
    });
  });

  it("reads stderr with the stderr calls", async () => {
    const { result, calls } = read(numbered(2), 0, 100, "stderr");
    await result;
    expect(calls[0]).toEqual(["supervisor.tailProcessStderrLog", "supervisor.readProcessStderrLog"]);
  });

  it("an unknown program is supervisord's BAD_NAME", async () => {
    const fake = supervisord(numbered(2));
    await expect(readProcessLog(fake.multicall, ADDRESS, "nope", "stdout", 0, 10)).rejects.toMatchObject({
      faultName: "BAD_NAME",
    });
  });
});
