import { describe, expect, it } from "vitest";
import { KeyedMutex } from "./keyed-mutex.js";

const tick = (ms = 5) => new Promise((r) => setTimeout(r, ms));

describe("KeyedMutex", () => {
  it("never interleaves work on the same key, and keeps arrival order", async () => {
    const mutex = new KeyedMutex();
    const log: string[] = [];
    const job = (key: string, name: string) =>
      mutex.run(key, async () => {
        log.push(`${name} in`);
        await tick();
        log.push(`${name} out`);
      });
    await Promise.all([job("a", "1"), job("a", "2"), job("a", "3")]);
    expect(log).toEqual(["1 in", "1 out", "2 in", "2 out", "3 in", "3 out"]);
    expect(mutex.size).toBe(0);
  });

  it("runs different keys in parallel", async () => {
    const mutex = new KeyedMutex();
    const log: string[] = [];
    await Promise.all(
      ["a", "b"].map((key) =>
        mutex.run(key, async () => {
          log.push(`${key} in`);
          await tick();
          log.push(`${key} out`);
        }),
      ),
    );
    expect(log.slice(0, 2).sort()).toEqual(["a in", "b in"]);
  });

  it("lets the next one in after a failure", async () => {
    const mutex = new KeyedMutex();
    const failed = mutex.run("a", async () => {
      throw new Error("boom");
    });
    const next = mutex.run("a", async () => "ran");
    await expect(failed).rejects.toThrow("boom");
    expect(await next).toBe("ran");
  });
});
