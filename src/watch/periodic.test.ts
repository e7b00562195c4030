import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { createLogger } from "../logger.js";
import { Periodic } from "./periodic.js";

describe("Periodic", () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  const logger = createLogger("silent");

  it("runs every interval, and not before the first one has passed", async () => {
    const work = vi.fn(async () => undefined);
    const periodic = new Periodic("watchdog", 1_000, work, logger);
    periodic.start();
    expect(work).not.toHaveBeenCalled();
    await vi.advanceTimersByTimeAsync(1_000);
    expect(work).toHaveBeenCalledTimes(1);
    await vi.advanceTimersByTimeAsync(3_000);
    expect(work).toHaveBeenCalledTimes(4);
    await periodic.stop();
    await vi.advanceTimersByTimeAsync(5_000);
    expect(work).toHaveBeenCalledTimes(4);
  });

  it("never overlaps a slow run: the next one waits for it", async () => {
    let active = 0;
    let maxActive = 0;
    const work = vi.fn(async () => {
      active++;
      maxActive = Math.max(maxActive, active);
      await new Promise((r) => setTimeout(r, 2_500));
      active--;
    });
    const periodic = new Periodic("poller", 1_000, work, logger);
    periodic.start();
    await vi.advanceTimersByTimeAsync(10_000);
    expect(maxActive).toBe(1);
    // Each run takes 2.5 s plus the 1 s pause before the next.
    expect(work).toHaveBeenCalledTimes(3);
    const stopping = periodic.stop();
    await vi.advanceTimersByTimeAsync(3_000);
    await stopping;
  });

  it("with a fixed rate, starts runs an interval apart however long each takes, still one at a time", async () => {
    const starts: number[] = [];
    let active = 0;
    let maxActive = 0;
    const work = vi.fn(async () => {
      starts.push(Date.now());
      active++;
      maxActive = Math.max(maxActive, active);
      // 600 ms of a 1,000 ms interval, then one run that overruns it.
      await new Promise((r) => setTimeout(r, starts.length === 3 ? 1_500 : 600));
      active--;
    });
    const periodic = new Periodic("poller", 1_000, work, logger, { fixedRate: true });
    const t0 = Date.now();
    periodic.start();
    await vi.advanceTimersByTimeAsync(6_000);
    expect(maxActive).toBe(1);
    // 1 s, 2 s, 3 s (runs 1.5 s), then at once at 4.5 s, then 5.5 s (a timer of 0 fires after 1 ms).
    const expected = [1_000, 2_000, 3_000, 4_500, 5_500];
    expect(starts).toHaveLength(expected.length);
    starts.forEach((at, i) => expect(Math.abs(at - t0 - expected[i]!)).toBeLessThanOrEqual(1));
    const stopping = periodic.stop();
    await vi.advanceTimersByTimeAsync(2_000);
    await stopping;
  });

  it("keeps going after a failed run, which it logs", async () => {
    const lines: string[] = [];
    const work = vi.fn().mockRejectedValueOnce(new Error("database down")).mockResolvedValue(undefined);
    const periodic = new Periodic("watchdog", 1_000, work, createLogger("error", {}, { write: (l) => lines.push(l) }));
    periodic.start();
    await vi.advanceTimersByTimeAsync(3_000);
    expect(work).toHaveBeenCalledTimes(3);
    expect(lines.map((line) => JSON.parse(line) as Record<string, unknown>)).toEqual([
      expect.objectContaining({
        msg: "watchdog failed",
        task: "watchdog",
        err: expect.objectContaining({ message: "database down" }),
      }),
    ]);
    await periodic.stop();
  });

  it("stop() waits for a run under way", async () => {
    let finished = false;
    const periodic = new Periodic(
      "poller",
      1_000,
      async () => {
        await new Promise((r) => setTimeout(r, 500));
        finished = true;
      },
      logger,
    );
    periodic.start();
    await vi.advanceTimersByTimeAsync(1_100);
    const stopping = periodic.stop();
    await vi.advanceTimersByTimeAsync(500);
    await stopping;
    expect(finished).toBe(true);
  });

  it("runOnce() runs now, off the schedule, with the work's result; a failure reaches its caller", async () => {
    const work = vi.fn().mockResolvedValueOnce(["lost-01"]).mockRejectedValueOnce(new Error("database down"));
    const periodic = new Periodic<string[]>("watchdog", 0, work, logger);
    await expect(periodic.runOnce()).resolves.toEqual(["lost-01"]);
    await expect(periodic.runOnce()).rejects.toThrow("database down");
    expect(work).toHaveBeenCalledTimes(2);
  });

  it("runOnce() waits for a scheduled run under way and then runs a whole one of its own", async () => {
    const order: string[] = [];
    let run = 0;
    const periodic = new Periodic(
      "poller",
      1_000,
      async () => {
        const n = ++run;
        order.push(`${n} in`);
        await new Promise((r) => setTimeout(r, 500));
        order.push(`${n} out`);
      },
      logger,
    );
    periodic.start();
    await vi.advanceTimersByTimeAsync(1_100); // the scheduled run is under way
    const driven = periodic.runOnce();
    await vi.advanceTimersByTimeAsync(1_000);
    await driven;
    expect(order).toEqual(["1 in", "1 out", "2 in", "2 out"]);
    await periodic.stop();
  });

  it("an interval of 0 means off", async () => {
    const work = vi.fn(async () => undefined);
    const periodic = new Periodic("poller", 0, work, logger);
    periodic.start();
    await vi.advanceTimersByTimeAsync(10_000);
    expect(work).not.toHaveBeenCalled();
  });
});
