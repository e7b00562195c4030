import type { DataSource } from "typeorm";
import { describe, expect, it } from "vitest";
import { createLogger } from "../logger.js";
import { ProcessStatus } from "../domain/process-status.js";
import { MemoryEventBus } from "./event-bus.js";
import { ProcessEventKind } from "../domain/event-kind.js";
import { EventLogService, type EventFilter } from "./event-log.service.js";
import { toWire, type ProcessEventRecord } from "./process-event.js";

function event(id: number | null, processName = "p1", kind = ProcessEventKind.UPDATED): ProcessEventRecord {
  return {
    id: id === null ? null : String(id),
    kind,
    processName,
    at: new Date(), // recent: replayed copies of recent events may still arrive live
    actor: "t",
    message: null,
    status: ProcessStatus.STOPPED,
  };
}

/**
 * The log is scripted: each read returns what the test says was committed at that moment,
 * and may publish live events while the read is "in flight".
 */
class ScriptedEventLog extends EventLogService {
  readonly reads: bigint[] = [];

  constructor(
    readonly memoryBus: MemoryEventBus,
    private readonly script: (cursor: bigint, limit: number) => Promise<ProcessEventRecord[]>,
  ) {
    super(undefined as unknown as DataSource, memoryBus, createLogger("silent"));
  }

  override async readAfter(cursor: bigint, limit: number, filter: EventFilter = {}): Promise<ProcessEventRecord[]> {
    this.reads.push(cursor);
    const rows = await this.script(cursor, limit);
    return rows.filter(
      (e) =>
        (!filter.names || filter.names.includes(e.processName)) && (!filter.kinds || filter.kinds.includes(e.kind)),
    );
  }

  live(...events: ProcessEventRecord[]): Promise<void> {
    return this.publish(events);
  }
}

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

const bus = () => new MemoryEventBus(createLogger("silent"));

describe("EventLogService.stream", () => {
  it("replays, then goes live, dropping live copies of replayed events and keeping late commits", async () => {
    const log = new ScriptedEventLog(bus(), async (cursor) => {
      if (cursor !== 0n) return [];
      // While the replay reads: event 5 (already in the log) is published, and so is 6;
      // event 4 was allocated before 5 but commits only now, after the read.
      await log.live(event(5), event(6));
      return [event(1), event(2), event(3), event(5)];
    });
    const stream = log.stream({ after: 0n });
    const first = take(stream, 6);
    await new Promise((r) => setTimeout(r, 20));
    await log.live(event(4), event(7));
    expect(await first).toEqual(["1", "2", "3", "5", "6", "4"]);
  });

  it("pages through a long log", async () => {
    const all = Array.from({ length: 1_200 }, (_, i) => event(i + 1));
    const log = new ScriptedEventLog(bus(), async (cursor, limit) =>
      all.filter((e) => BigInt(e.id!) > cursor).slice(0, limit),
    );
    const ids = await take(log.stream({ after: 0n }), 1_200);
    expect(ids).toEqual(all.map((e) => e.id));
    expect(log.reads).toEqual([0n, 500n, 1000n]);
  });

  it("applies names, kinds and the extra test to replayed and live events alike", async () => {
    const log = new ScriptedEventLog(bus(), async () => [
      event(1, "a"),
      event(2, "b"),
      event(3, "a", ProcessEventKind.REGISTERED),
      event(4, "a-secret"),
    ]);
    const stream = log.stream({
      after: 0n,
      names: ["a", "a-secret"],
      kinds: [ProcessEventKind.UPDATED, ProcessEventKind.HEARTBEAT],
      accept: (e) => !e.processName.endsWith("secret"),
    });
    const seen = take(stream, 3);
    await new Promise((r) => setTimeout(r, 20));
    await log.live(event(5, "b"), event(6, "a-secret"));
    log.publishHeartbeat("a", "agent", new Date(0), null);
    await new Promise((r) => setTimeout(r, 0)); // heartbeats of one tick travel together
    await log.live(event(7, "a"));
    expect(await seen).toEqual(["1", null, "7"]);
  });

  it("leaves heartbeats out unless asked for", async () => {
    const log = new ScriptedEventLog(bus(), async () => []);
    const seen = take(log.stream({}), 1);
    await new Promise((r) => setTimeout(r, 20));
    log.publishHeartbeat("a", "agent", new Date(0), null);
    await log.live(event(8));
    expect(await seen).toEqual(["8"]);
  });

  it("delivers live events published through JSON unchanged", async () => {
    const log = new ScriptedEventLog(bus(), async () => []);
    const stream = log.stream({});
    const next = stream.next();
    await new Promise((r) => setTimeout(r, 20));
    const original = { ...event(9), at: new Date("2026-01-02T03:04:05.678Z"), message: "m" };
    await log.live(original);
    expect((await next).value).toEqual(original);
    expect(toWire(original).at).toBe("2026-01-02T03:04:05.678Z");
    await stream.return!(undefined);
  });

  it("a subscriber that leaves while waiting for a live event ends at once, and lets go of the bus", async () => {
    const log = new ScriptedEventLog(bus(), async () => []);
    const stream = log.stream({ names: ["quiet"] });
    const waiting = stream.next();
    await new Promise((r) => setTimeout(r, 20));
    expect(log.memoryBus.delivers("process-events")).toBe(true);
    const returned = await Promise.race([stream.return!(undefined), new Promise((r) => setTimeout(r, 1_000, "hung"))]);
    expect(returned).toEqual({ value: undefined, done: true });
    expect(await waiting).toEqual({ value: undefined, done: true });
    expect(log.memoryBus.delivers("process-events")).toBe(false);
  });
});
