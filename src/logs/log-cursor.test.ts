import { describe, expect, it } from "vitest";
import { LogCursor, type FollowedRead } from "./log-cursor.js";

const read = (start: number, text: string, extra: Partial<FollowedRead> = {}): FollowedRead => {
  const end = start + Buffer.byteLength(text);
  return { text, start, end, size: end, rotated: false, ...extra };
};

describe("LogCursor", () => {
  it("delivers a read that begins at its offset, and moves to its end", () => {
    const cursor = new LogCursor(10);
    expect(cursor.accept(read(10, "abc"))).toEqual({
      kind: "deliver",
      chunk: { text: "abc", start: 10, end: 13, size: 13, rotated: false, overflow: false, message: null },
    });
    expect(cursor.offset).toBe(13);
  });

  it("ignores what it has had, and cuts an overlapping read at its offset, in bytes", () => {
    const cursor = new LogCursor(12);
    expect(cursor.accept(read(5, "1234567"))).toEqual({ kind: "nothing" });
    // "é" is two bytes: offset 12 is after "aé" (0x61 0xC3 0xA9) from 9.
    const step = cursor.accept(read(9, "aéz\n"));
    expect(step).toMatchObject({ kind: "deliver", chunk: { text: "z\n", start: 12, end: 14 } });
    expect(cursor.offset).toBe(14);
  });

  it("asks for the gap before a read that begins after its offset", () => {
    const cursor = new LogCursor(3);
    expect(cursor.accept(read(8, "later"))).toEqual({ kind: "gap", from: 3, to: 8 });
    expect(cursor.offset).toBe(3);
    // When the gap cannot be read, the read is delivered with the gap said.
    const step = cursor.accept(read(8, "later"), { gapAllowed: false });
    expect(step).toMatchObject({
      kind: "deliver",
      chunk: { text: "later", overflow: true, message: "bytes 3 to 8 could not be read and are left out" },
    });
  });

  it("says a rotation: the chunk begins in the new log, and what was lost", () => {
    const cursor = new LogCursor(500);
    const step = cursor.accept(read(0, "fresh\n", { rotated: true }));
    expect(step).toMatchObject({
      kind: "deliver",
      chunk: { text: "fresh\n", start: 0, end: 6, rotated: true, overflow: true },
    });
    expect(step.kind === "deliver" && step.chunk.message).toContain("from byte 500 on is not included");
    expect(cursor.offset).toBe(6);
  });

  it("says a skip, counted from its own offset", () => {
    const cursor = new LogCursor(100);
    const step = cursor.accept({ text: "", start: 40, end: 1000, size: 1000, rotated: false, skipped: true });
    expect(step).toMatchObject({
      kind: "deliver",
      chunk: {
        text: "",
        start: 100,
        end: 1000,
        overflow: true,
        message: "900 bytes (100 to 1000) were written faster than they could be followed and are left out",
      },
    });
    expect(cursor.offset).toBe(1000);
  });
});
