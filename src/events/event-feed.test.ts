import { afterEach, describe, expect, it } from "vitest";
import { event, ScriptedLog } from "../../test/support/scripted-event-log.js";
import { until } from "../../test/support/wait.js";
import { ManualClock } from "../clock.js";
import { createLogger } from "../logger.js";
import { MemoryEventBus } from "./event-bus.js";
import { EventFeed } from "./event-feed.js";
import type { ProcessEventRecord } from "./process-event.js";

const logger = createLogger("silent");
const feeds: EventFeed[] = [];

/** A feed over a scripted log; `pollIntervalMs` long by default, so only what a test triggers reads. */
function setup(options: { pollIntervalMs?: number; holeTimeoutMs?: number; reorderWindowMs?: number } = {}) {
  const bus = new MemoryEventBus(logger);
  const log = new ScriptedLog(bus);
  const clock = new ManualClock();
  const feed = new EventFeed(log, bus, clock, logger, {
    pollIntervalMs: options.pollIntervalMs ?? 60_000,
    holeTimeoutMs: options.holeTimeoutMs ?? 30_000,
    // None unless a test is about it: the clock here moves only when a test moves it.
    reorderWindowMs: options.reorderWindowMs ?? 0,
  });
  feed.start();
  feeds.push(feed);
  const seen: string[] = [];
  const listen = (from = 0n, into = seen) => feed.subscribe((e: ProcessEventRecord) => void into.push(e.id!), from);
  return { bus, log, clock, feed, seen, listen };
}

afterEach(async () => {
  for (const feed of feeds.splice(0)) await feed.stop();
});

describe("EventFeed", () => {
  it("delivers each published event once, in order, to every listener", async () => {
    const { log, seen, listen } = setup();
    const other: string[] = [];
    listen();
    listen(0n, other);
    await log.record(event(1), event(2), event(3));
    await log.publish(event(2)); // a second copy (Redis and the log both bring it)
    expect(seen).toEqual(["1", "2", "3"]);
    expect(other).toEqual(["1", "2", "3"]);
  });

  it("delivers from the log what no bus carried (another replica without Redis, or Redis away)", async () => {
    const { log, seen, listen } = setup({ pollIntervalMs: 20 });
    listen();
    log.commit(event(1), event(2)); // recorded elsewhere: never published here
    await until("the log read", async () => seen.length === 2, 2_000);
    await log.publish(event(1), event(2)); // the bus catches up later
    await log.record(event(3));
    expect(seen).toEqual(["1", "2", "3"]);
  });

  it("a live event with ids missing below it waits for a read, so that committed ones come first", async () => {
    const { log, seen, listen } = setup();
    listen();
    await log.record(event(1));
    log.commit(event(2), event(3)); // their publishes were lost
    await log.record(event(4));
    await until("the gap filled", async () => seen.length === 4, 2_000);
    expect(seen).toEqual(["1", "2", "3", "4"]);
  });

  it("a late commit below delivered ids is delivered when it appears; a missing id is given up after the hole timeout", async () => {
    const { log, clock, seen, listen } = setup({ holeTimeoutMs: 10_000 });
    listen();
    await log.record(event(1));
    // 2 was allocated first but commits after 3.
    await log.record(event(3));
    await until("3 delivered", async () => seen.includes("3"), 2_000);
    expect(seen).toEqual(["1", "3"]);
    await log.record(event(2));
    expect(seen).toEqual(["1", "3", "2"]);

    // 5 never commits (a rollback): it is read for until the hole timeout, then given up.
    await log.record(event(4), event(6));
    await until("6 delivered", async () => seen.includes("6"), 2_000);
    log.commit(event(8)); // recorded elsewhere, not published here
    await log.record(event(9)); // 8 is missing below it: a read, which also asks for 5
    await until("9 delivered", async () => seen.includes("9"), 2_000);
    expect(log.reads.at(-1)).toEqual({ after: 6n, ranges: [{ from: 5n, to: 5n }] });

    clock.advance(10_000);
    log.commit(event(10));
    await log.record(event(12));
    await until("12 delivered", async () => seen.includes("12"), 2_000);
    expect(log.reads.at(-1)).toEqual({ after: 9n, ranges: [] });
    await log.record(event(5)); // far too late: given up
    expect(seen).toEqual(["1", "3", "2", "4", "6", "8", "9", "10", "12"]);
  });

  it("newer events wait for an id a moment late, within the reorder window, and come after it in order", async () => {
    const { log, clock, seen, listen } = setup({ reorderWindowMs: 1_000 });
    listen();
    await log.record(event(1));
    // 2 was allocated first and commits a moment after 3 and 4.
    await log.record(event(3), event(4));
    await until("a read for 2", async () => log.reads.length > 0, 2_000);
    expect(seen).toEqual(["1"]);
    clock.advance(400);
    await log.record(event(2));
    expect(seen).toEqual(["1", "2", "3", "4"]);

    // 6 never commits in time: once the window is over, 7 goes without it; 6 comes late.
    await log.record(event(5), event(7));
    expect(seen).toEqual(["1", "2", "3", "4", "5"]);
    clock.advance(1_000);
    await until("7 delivered after the window", async () => seen.includes("7"), 3_000);
    await log.record(event(6));
    expect(seen).toEqual(["1", "2", "3", "4", "5", "7", "6"]);
  });

  it("reads at once when the bus reconnects", async () => {
    const { bus, log, seen, listen } = setup();
    let reconnect: () => void = () => undefined;
    bus.onReconnect = (listener: () => void) => {
      reconnect = listener;
      return () => undefined;
    };
    const feed = new EventFeed(log, bus, new ManualClock(), logger, { pollIntervalMs: 60_000 });
    feeds.push(feed);
    feed.start();
    feed.subscribe((e) => void seen.push(e.id!), 0n);
    log.commit(event(1), event(2));
    reconnect();
    await until("the read after the reconnect", async () => seen.length === 2, 2_000);
    expect(seen).toEqual(["1", "2"]);
  });

  it("reads only while someone listens, and starts where its first listener says", async () => {
    const { log, feed, seen, listen } = setup({ pollIntervalMs: 10 });
    log.commit(event(1), event(2), event(3));
    // Five poll intervals, in which a feed that nobody listens to reads nothing.
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(log.reads).toEqual([]);
    expect(feed.active).toBe(false);

    const leave = listen(3n);
    log.commit(event(4));
    await until("4 from the log", async () => seen.includes("4"), 2_000);
    expect(seen).toEqual(["4"]);
    leave();
    expect(feed.active).toBe(false);
    const reads = log.reads.length;
    // Five poll intervals again: once its last listener left, it reads nothing more.
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(log.reads.length).toBe(reads);
  });

  it("a failed read is retried, and the gap filled when the database is back", async () => {
    const { log, seen, listen } = setup({ pollIntervalMs: 10 });
    listen();
    log.failReads = true;
    log.commit(event(1), event(2));
    await until("a few failed reads", async () => log.reads.length >= 3, 2_000);
    expect(seen).toEqual([]);
    log.failReads = false;
    await until("the gap filled", async () => seen.length === 2, 2_000);
    expect(seen).toEqual(["1", "2"]);
  });
});
