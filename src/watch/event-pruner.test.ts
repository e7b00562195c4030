import { describe, expect, it } from "vitest";
import { ManualClock } from "../clock.js";
import type { EventRetention, PrunedBatch } from "../events/event-retention.js";
import { createLogger } from "../logger.js";
import { EventPruner } from "./event-pruner.js";

const logger = createLogger("silent");

/** A retention store that answers from a script and records what it was asked. */
function fakeRetention(batches: PrunedBatch[], leaseFree = true) {
  const calls: string[] = [];
  const retention = {
    claimLease: async (_holder: string, now: Date, until: Date) => {
      calls.push(`claim until +${(until.getTime() - now.getTime()) / 60_000}m`);
      return leaseFree;
    },
    releaseLease: async () => void calls.push("release"),
    pruneBatch: async (cutoff: Date, limit: number) => {
      calls.push(`batch ${limit} before ${cutoff.toISOString()}`);
      return batches.shift() ?? { deleted: 0, more: false };
    },
  } as unknown as EventRetention;
  return { retention, calls };
}

describe("EventPruner", () => {
  const clock = new ManualClock(new Date("2026-03-31T00:00:00Z"));

  it("deletes batch after batch, pausing between them, until a batch is not full", async () => {
    const { retention, calls } = fakeRetention([
      { deleted: 2, more: true },
      { deleted: 2, more: true },
      { deleted: 1, more: false },
    ]);
    const pruner = new EventPruner(retention, clock, logger, { retentionDays: 30, batchSize: 2, pauseMs: 1 });
    expect(await pruner.runOnce()).toEqual({ outcome: "pruned", deleted: 5, batches: 3 });
    expect(calls).toEqual(["claim until +30m", ...Array(3).fill("batch 2 before 2026-03-01T00:00:00.000Z")]);
  });

  it("leaves it to the replica that holds the lease", async () => {
    const { retention, calls } = fakeRetention([{ deleted: 2, more: true }], false);
    const pruner = new EventPruner(retention, clock, logger, { retentionDays: 30 });
    expect(await pruner.runOnce()).toEqual({ outcome: "skipped" });
    expect(calls).toEqual(["claim until +30m"]);
  });

  it("with a retention of 0 days, keeps everything and asks nothing", async () => {
    const { retention, calls } = fakeRetention([]);
    const pruner = new EventPruner(retention, clock, logger, { retentionDays: 0 });
    pruner.start();
    expect(await pruner.runOnce()).toEqual({ outcome: "off" });
    await pruner.stop();
    expect(calls).toEqual([]);
  });

  it("stopping ends a run after its current batch, and gives the lease up", async () => {
    const { retention, calls } = fakeRetention(Array(10).fill({ deleted: 1, more: true }));
    const pruner = new EventPruner(retention, clock, logger, {
      retentionDays: 1,
      batchSize: 1,
      pauseMs: 3_600_000,
    });
    pruner.start();
    const run = pruner.runOnce();
    // The first batch is done and the pause has begun.
    while (!calls.some((c) => c.startsWith("batch"))) await new Promise((r) => setTimeout(r, 1));
    await pruner.stop();
    expect(await run).toEqual({ outcome: "pruned", deleted: 1, batches: 1 });
    expect(calls.at(-1)).toBe("release");
  });
});
