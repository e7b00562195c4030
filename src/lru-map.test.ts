import { describe, expect, it } from "vitest";
import { LruMap } from "./lru-map.js";

describe("LruMap", () => {
  it("never holds more than its capacity, forgetting the least recently used key", () => {
    const map = new LruMap<string, number>(3);
    for (let i = 0; i < 1_000; i++) map.set(`k${i}`, i);
    expect(map.size).toBe(3);
    expect([map.peek("k996"), map.peek("k997"), map.peek("k998"), map.peek("k999")]).toEqual([
      undefined,
      997,
      998,
      999,
    ]);
  });

  it("counts a read as a use, and a peek not", () => {
    const map = new LruMap<string, number>(2);
    map.set("a", 1);
    map.set("b", 2);
    expect(map.get("a")).toBe(1);
    map.set("c", 3);
    expect(map.peek("b")).toBeUndefined();
    expect(map.peek("a")).toBe(1);

    expect(map.peek("a")).toBe(1);
    map.set("d", 4);
    expect(map.peek("a")).toBeUndefined();
    expect(map.peek("c")).toBe(3);
  });

  it("replaces a key's value without growing, and deletes", () => {
    const map = new LruMap<string, number>(2);
    map.set("a", 1);
    map.set("a", 2);
    expect(map.size).toBe(1);
    expect(map.get("a")).toBe(2);
    expect(map.delete("a")).toBe(true);
    expect(map.size).toBe(0);
  });

  it("forgets the entries a predicate names, and everything on clear", () => {
    const map = new LruMap<string, number>(5);
    for (const [key, value] of Object.entries({ a: 1, b: 2, c: 3, d: 4 })) map.set(key, value);
    map.deleteWhere((value) => value % 2 === 0);
    expect([map.peek("a"), map.peek("b"), map.peek("c"), map.peek("d")]).toEqual([1, undefined, 3, undefined]);
    map.clear();
    expect(map.size).toBe(0);
  });

  it("refuses a capacity below one", () => {
    expect(() => new LruMap(0)).toThrow(RangeError);
  });
});
