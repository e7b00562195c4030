import { afterEach, describe, expect, it } from "vitest";
import { event, ScriptedLog } from "../../test/support/scripted-event-log.js";
import type { Principal } from "../auth/principal.js";
import { ManualClock } from "../clock.js";
import { Role } from "../domain/role.js";
import { CursorExpiredError } from "../errors.js";
import { ProcessEventKind } from "../domain/event-kind.js";
import { createLogger } from "../logger.js";
import { MemoryEventBus } from "./event-bus.js";
import { EventFeed } from "./event-feed.js";
import { EventStreams } from "./event-stream.js";
import { toWire, type ProcessEventRecord } from "./process-event.js";
import { EventLogService } from "./event-log.service.js";

const logger = createLogger("silent");
const feeds: EventFeed[] = [];

function setup() {
  const bus = new MemoryEventBus(logger);
  const log = new ScriptedLog(bus);
  const clock = new ManualClock();
  // No reorder window: the ids here jump, and the clock stands still.
  const feed = new EventFeed(log, bus, clock, logger, { pollIntervalMs: 60_000, reorderWindowMs: 0 });
  feed.start();
  feeds.push(feed);
  return { bus, log, feed, streams: new EventStreams(log, feed, bus, clock) };
}

afterEach(async () => {
  for (const feed of feeds.splice(0)) await feed.stop();
});

async function take(stream: AsyncIterableIterator<ProcessEventRecord>, n: number): Promise<(string | null)[]> {
  const ids: (string | null)[] = [];
  const timeout = setTimeout(() => void stream.return!(undefined), 2_000);
  for await (const e of stream) {
    ids.push(e.id);
    if (ids.length === n) break;
  }
  clearTimeout(timeout);
  return ids;
}

/**
 * Resolves once the stream has attached to the live feed (it reads where the log ends
 * first); fails after two seconds.
 */
async function attached(feed: EventFeed): Promise<void> {
  const deadline = Date.now() + 2_000;
  while (!feed.active) {
    if (Date.now() > deadline) throw new Error("timed out waiting for the stream to attach to the live feed");
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
}

describe("EventStreams.stream", () => {
  it("replays, then goes live, dropping live copies of replayed events and keeping late commits", async () => {
    const { log, feed, streams } = setup();
    log.commit(event(1), event(2), event(3), event(5));
    let once = true;
    log.duringRead = async () => {
      if (!once) return;
      once = false;
      // While the replay reads: 5 (already in the log) is published, and 6 is recorded.
      await log.publish(event(5));
      await log.record(event(6));
    };
    const first = take(streams.stream({ after: 0n }), 6);
    await attached(feed);
    // 4 was allocated before 5 but commits only now, after the replay's read.
    await log.record(event(4), event(7));
    expect(await first).toEqual(["1", "2", "3", "5", "6", "4"]);
  });

  it("once live, drops replayed events published late and events from before its start", async () => {
    const { log, feed, streams } = setup();
    log.commit(event(1), event(2));
    // Another subscriber has the feed running from 2 already.
    const other = streams.stream({});
    const waiting = other.next();
    await attached(feed);
    // Committed, and not yet published: the feed has delivered them to no one.
    log.commit(...Array.from({ length: 7 }, (_, i) => event(i + 3)));
    const stream = streams.stream({ after: 7n });
    expect((await stream.next()).value?.id).toBe("8");
    expect((await stream.next()).value?.id).toBe("9");
    const next = stream.next();
    // Live now: 9 (replayed) and 3 (before the start) are published, then 10 is recorded
    // (one digit more than the start's 7).
    await log.publish(event(9), event(3));
    await log.record(event(10));
    expect((await next).value?.id).toBe("10");
    expect((await waiting).value?.id).toBe("3");
    await Promise.all([stream.return!(undefined), other.return!(undefined)]);
  });

  it("pages through a long log", async () => {
    const { log, streams } = setup();
    log.commit(...Array.from({ length: 1_200 }, (_, i) => event(i + 1)));
    const ids = await take(streams.stream({ after: 0n }), 1_200);
    expect(ids).toEqual(log.committed.map((e) => e.id));
  });

  it("without after, only what is recorded after it started", async () => {
    const { log, feed, streams } = setup();
    log.commit(event(1), event(2));
    const seen = take(streams.stream({}), 2);
    await attached(feed);
    await log.record(event(3), event(4));
    expect(await seen).toEqual(["3", "4"]);
  });

  it("applies names, kinds and the extra test to replayed and live events alike", async () => {
    const { bus, log, feed, streams } = setup();
    log.commit(event(1, "a"), event(2, "b"), event(3, "a", ProcessEventKind.REGISTERED), event(4, "a-secret"));
    const stream = streams.stream({
      after: 0n,
      names: ["a", "a-secret"],
      kinds: [ProcessEventKind.UPDATED, ProcessEventKind.HEARTBEAT],
      accept: (e) => !e.processName.endsWith("secret"),
    });
    const seen = take(stream, 3);
    await attached(feed);
    await log.record(event(5, "b"), event(6, "a-secret"));
    const events = new EventLogService(bus, logger);
    events.publishHeartbeat("a", "agent", new Date(0), null);
    await new Promise((r) => setTimeout(r, 0)); // heartbeats of one tick travel together
    await log.record(event(7, "a"));
    expect(await seen).toEqual(["1", null, "7"]);
  });

  it("leaves heartbeats out unless asked for", async () => {
    const { bus, log, feed, streams } = setup();
    const seen = take(streams.stream({}), 1);
    await attached(feed);
    new EventLogService(bus, logger).publishHeartbeat("a", "agent", new Date(0), null);
    await log.record(event(8));
    expect(await seen).toEqual(["8"]);
  });

  it("delivers live events published through JSON unchanged", async () => {
    const { log, feed, streams } = setup();
    const stream = streams.stream({});
    const next = stream.next();
    await attached(feed);
    const original = { ...event(9), at: new Date("2026-01-02T03:04:05.678Z"), message: "m" };
    await log.record(original);
    expect((await next).value).toEqual(original);
    expect(toWire(original).at).toBe("2026-01-02T03:04:05.678Z");
    await stream.return!(undefined);
  });

  it("hands live events to a tap once its replay is over and nothing is queued, filtered as before", async () => {
    const { log, feed, streams } = setup();
    log.commit(event(1, "a"), event(2, "a"));
    const stream = streams.stream({ after: 0n, names: ["a"] });
    const tapped: (string | null)[] = [];
    const tap = (e: ProcessEventRecord) => tapped.push(e.id);
    // Replaying: refused, and next() goes on.
    expect(stream.tap(tap)).toBe(false);
    expect((await stream.next()).value?.id).toBe("1");
    await attached(feed);
    // Replayed to its end, with a live event queued behind it: refused until that is taken.
    expect((await stream.next()).value?.id).toBe("2");
    const live = stream.next();
    await log.record(event(3, "a"));
    expect((await live).value?.id).toBe("3");
    await log.record(event(4, "a"));
    expect(stream.tap(tap)).toBe(false);
    expect((await stream.next()).value?.id).toBe("4");

    expect(stream.tap(tap)).toBe(true);
    await log.record(event(5, "a"), event(6, "b"), event(7, "a"));
    expect(tapped).toEqual(["5", "7"]);
    // Ended: the tap hears nothing more.
    await stream.return!(undefined);
    await log.record(event(8, "a"));
    expect(tapped).toEqual(["5", "7"]);
    expect(feed.active).toBe(false);
  });

  it("a subscriber that leaves while waiting for a live event ends at once, and lets go of the feed", async () => {
    const { feed, streams } = setup();
    const stream = streams.stream({ names: ["quiet"] });
    const waiting = stream.next();
    await attached(feed);
    const returned = await Promise.race([stream.return!(undefined), new Promise((r) => setTimeout(r, 1_000, "hung"))]);
    expect(returned).toEqual({ value: undefined, done: true });
    expect(await waiting).toEqual({ value: undefined, done: true });
    expect(feed.active).toBe(false);
  });
});

describe("EventStreams: token events and pruned cursors", () => {
  const viewer: Principal = { tokenId: 1, name: "viewer", role: Role.VIEWER, processPattern: null };

  it("never delivers token events, replayed or live", async () => {
    const { log, feed, streams } = setup();
    log.commit(event(1), event(2, "", ProcessEventKind.TOKEN_CREATED), event(3));
    const seen = take(await streams.subscribe({ after: "0" }, viewer), 3);
    await attached(feed);
    await log.record(event(4, "", ProcessEventKind.TOKEN_REVOKED), event(5));
    expect(await seen).toEqual(["1", "3", "5"]);
  });

  it("refuses a resume from below the pruned watermark with CURSOR_EXPIRED; from the watermark, replays", async () => {
    const { log, streams } = setup();
    log.commit(event(11), event(12));
    log.pruned = 10n;
    await expect(streams.subscribe({ after: "9" }, viewer)).rejects.toMatchObject({
      extensions: { code: "CURSOR_EXPIRED", prunedThrough: "10" },
    });
    expect(await take(await streams.subscribe({ after: "10" }, viewer), 2)).toEqual(["11", "12"]);
  });

  it("gives a cursor to resume from that misses nothing to come: the newest id, or the watermark once all is pruned", async () => {
    const { log, streams } = setup();
    expect(await streams.cursor()).toBe("0");
    log.commit(event(11), event(12));
    log.pruned = 10n;
    expect(await streams.cursor()).toBe("12");
    const stream = await streams.subscribe({ after: await streams.cursor() }, viewer);
    log.pruned = 20n;
    expect(await streams.cursor()).toBe("20");
    // Not CURSOR_EXPIRED, although the log is empty.
    const resumed = await streams.subscribe({ after: await streams.cursor() }, viewer);
    await Promise.all([stream.return?.(), resumed.return?.()]);
  });

  it("ends a replay that a pruning overtook with CURSOR_EXPIRED, having delivered what it read before", async () => {
    const { log, streams } = setup();
    log.commit(...Array.from({ length: 600 }, (_, i) => event(i + 1)));
    log.duringRead = async (cursor) => {
      // While the second page is read, the pruning reaches past its cursor.
      if (cursor > 0n) log.pruned = cursor + 10n;
    };
    const stream = await streams.subscribe({ after: "0" }, viewer);
    const ids: string[] = [];
    const failure = await (async () => {
      for await (const e of stream) ids.push(e.id!);
    })().catch((error: unknown) => error);
    expect(ids).toHaveLength(500);
    expect(failure).toBeInstanceOf(CursorExpiredError);
  });
});
