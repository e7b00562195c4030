import { describe, expect, it } from "vitest";
import { runBulk } from "./bulk-schedule.js";

interface Item {
  readonly name: string;
  readonly supervisor: string | null;
}
type Outcome = "DONE" | "FAILED" | "SKIPPED";
interface Result {
  readonly name: string;
  readonly outcome: Outcome;
}

const item = (name: string, supervisor: string | null = `host-of-${name}`): Item => ({ name, supervisor });

/** Lets every settled piece of work reach the scheduler. */
const settle = () => new Promise((resolve) => setImmediate(resolve));

/**
 * A bulk run whose work the test finishes by hand, item by item, recording what was
 * under way at each start.
 */
function bulk(items: readonly Item[], options: { maxParallel: number; continueOnError?: boolean }) {
  const started: string[] = [];
  const underWay = new Map<string, (outcome: Exclude<Outcome, "SKIPPED">) => void>();
  /** For each start, what else was under way at that moment. */
  const beside = new Map<string, Item[]>();
  const byName = new Map(items.map((i) => [i.name, i]));
  const done = runBulk<Item, Result>(items, {
    maxParallel: options.maxParallel,
    continueOnError: options.continueOnError ?? false,
    supervisorOf: (i) => i.supervisor,
    run: (i) => {
      started.push(i.name);
      beside.set(
        i.name,
        [...underWay.keys()].map((name) => byName.get(name)!),
      );
      return new Promise((resolve) => underWay.set(i.name, (outcome) => resolve({ name: i.name, outcome })));
    },
    failed: (result) => result.outcome === "FAILED",
    skipped: (i) => ({ name: i.name, outcome: "SKIPPED" }),
  });
  return {
    done,
    started,
    beside,
    underWay: () => [...underWay.keys()],
    async finish(name: string, outcome: Exclude<Outcome, "SKIPPED"> = "DONE") {
      const end = underWay.get(name);
      if (!end) throw new Error(`${name} is not under way (under way: ${[...underWay.keys()].join(", ")})`);
      underWay.delete(name);
      end(outcome);
      await settle();
    },
  };
}

/** A small deterministic random sequence (mulberry32), so that a failing order can be replayed. */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

describe("runBulk", () => {
  it("with maxParallel 1, one at a time in the given order (a rolling operation)", async () => {
    const run = bulk([item("a"), item("b"), item("c")], { maxParallel: 1 });
    await settle();
    expect(run.underWay()).toEqual(["a"]);
    await run.finish("a");
    expect(run.underWay()).toEqual(["b"]);
    await run.finish("b");
    await run.finish("c");
    expect(run.started).toEqual(["a", "b", "c"]);
    expect(await run.done).toEqual([
      { name: "a", outcome: "DONE" },
      { name: "b", outcome: "DONE" },
      { name: "c", outcome: "DONE" },
    ]);
  });

  it("starts up to maxParallel at once, the next as soon as one ends", async () => {
    const run = bulk([item("a"), item("b"), item("c"), item("d")], { maxParallel: 2 });
    await settle();
    expect(run.underWay()).toEqual(["a", "b"]);
    await run.finish("b");
    expect(run.underWay()).toEqual(["a", "c"]);
    await run.finish("a");
    expect(run.underWay()).toEqual(["c", "d"]);
    await run.finish("d");
    await run.finish("c");
    expect((await run.done).map((r) => r.name)).toEqual(["a", "b", "c", "d"]);
  });

  it("never two on one supervisord: the next one whose supervisord is free goes ahead", async () => {
    const run = bulk([item("a", "s1"), item("b", "s1"), item("c", "s2"), item("d", "s1")], { maxParallel: 3 });
    await settle();
    expect(run.underWay()).toEqual(["a", "c"]);
    await run.finish("c");
    expect(run.underWay()).toEqual(["a"]);
    await run.finish("a");
    expect(run.underWay()).toEqual(["b"]);
    await run.finish("b");
    await run.finish("d");
    expect(run.started).toEqual(["a", "c", "b", "d"]);
    expect(await run.done).toEqual(["a", "b", "c", "d"].map((name) => ({ name, outcome: "DONE" })));
  });

  it("items that name no supervisord are held back by maxParallel only", async () => {
    const run = bulk([item("x", null), item("y", null), item("z", null)], { maxParallel: 2 });
    await settle();
    expect(run.underWay()).toEqual(["x", "y"]);
    await run.finish("x");
    await run.finish("y");
    await run.finish("z");
    expect(await run.done).toHaveLength(3);
  });

  it("after a failure the ones not started are SKIPPED; the ones under way finish", async () => {
    const run = bulk([item("a"), item("b"), item("c"), item("d")], { maxParallel: 2 });
    await settle();
    await run.finish("a", "FAILED");
    expect(run.underWay()).toEqual(["b"]);
    await run.finish("b");
    expect(run.started).toEqual(["a", "b"]);
    expect(await run.done).toEqual([
      { name: "a", outcome: "FAILED" },
      { name: "b", outcome: "DONE" },
      { name: "c", outcome: "SKIPPED" },
      { name: "d", outcome: "SKIPPED" },
    ]);
  });

  it("a rolling operation stops at its first failure", async () => {
    const run = bulk([item("a"), item("b"), item("c")], { maxParallel: 1 });
    await settle();
    await run.finish("a");
    await run.finish("b", "FAILED");
    expect(run.started).toEqual(["a", "b"]);
    expect((await run.done).map((r) => r.outcome)).toEqual(["DONE", "FAILED", "SKIPPED"]);
  });

  it("with continueOnError, every one runs after a failure", async () => {
    const run = bulk([item("a"), item("b"), item("c")], { maxParallel: 1, continueOnError: true });
    await settle();
    await run.finish("a", "FAILED");
    await run.finish("b");
    await run.finish("c", "FAILED");
    expect(run.started).toEqual(["a", "b", "c"]);
    expect((await run.done).map((r) => r.outcome)).toEqual(["FAILED", "DONE", "FAILED"]);
  });

  it("nothing selected: no results, at once", async () => {
    expect(await bulk([], { maxParallel: 3 }).done).toEqual([]);
  });

  it("a piece of work that rejects (failures are results) rejects the whole", async () => {
    const done = runBulk([item("a")], {
      maxParallel: 1,
      continueOnError: false,
      supervisorOf: (i) => i.supervisor,
      run: () => Promise.reject(new Error("bug")),
      failed: () => false,
      skipped: (i) => i,
    });
    await expect(done).rejects.toThrow("bug");
  });

  it.each([1, 2, 3, 5, 100])(
    "maxParallel %i, work ending in any order: the bound and the one-per-supervisord rule always hold",
    async (maxParallel) => {
      const supervisors = ["s1", "s2", "s3", "s4", null];
      const items = Array.from({ length: 30 }, (_, i) =>
        item(`p${String(i).padStart(2, "0")}`, supervisors[i % supervisors.length]!),
      );
      const next = random(maxParallel);
      const run = bulk(items, { maxParallel, continueOnError: true });
      await settle();
      while (run.underWay().length > 0) {
        const underWay = run.underWay();
        await run.finish(underWay[Math.floor(next() * underWay.length)]!, next() < 0.2 ? "FAILED" : "DONE");
      }
      const results = await run.done;

      expect(results.map((r) => r.name)).toEqual(items.map((i) => i.name));
      expect(results.every((r) => r.outcome !== "SKIPPED")).toBe(true);
      expect([...run.started].sort()).toEqual(items.map((i) => i.name));
      for (const [name, others] of run.beside) {
        const { supervisor } = items.find((i) => i.name === name)!;
        expect(others.length, `under way beside ${name}`).toBeLessThan(maxParallel);
        if (supervisor !== null) {
          expect(
            others.filter((o) => o.supervisor === supervisor).map((o) => o.name),
            `on ${supervisor} beside ${name}`,
          ).toEqual([]);
        }
      }
      // On each supervisord, in the given order.
      for (const supervisor of supervisors) {
        const mine = items.filter((i) => i.supervisor === supervisor).map((i) => i.name);
        expect(run.started.filter((name) => mine.includes(name))).toEqual(mine);
      }
    },
  );
});
