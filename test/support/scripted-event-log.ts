import { ProcessEventKind } from "../../src/domain/event-kind.js";
import { ProcessStatus } from "../../src/domain/process-status.js";
import type { EventBus } from "../../src/events/event-bus.js";
import type { EventLogReader, IdRange } from "../../src/events/event-feed.js";
import type { EventFilter } from "../../src/events/event-log-reads.js";
import type { StreamLog } from "../../src/events/event-stream.js";
import { toWire, type ProcessEventRecord } from "../../src/events/process-event.js";

export function event(id: number, processName = "p1", kind = ProcessEventKind.UPDATED): ProcessEventRecord {
  return {
    id: String(id),
    kind,
    processName,
    at: new Date(), // recent: replayed copies of recent events may still arrive live
    actor: "t",
    message: null,
    status: ProcessStatus.STOPPED,
  };
}

/**
 * An event log in memory for unit tests of the feed and the streams: what is committed is
 * what reads return; publishing is separate, as it is after a real commit.
 */
export class ScriptedLog implements EventLogReader, StreamLog {
  readonly committed: ProcessEventRecord[] = [];
  /** Every read, as (after, ranges). */
  readonly reads: { after: bigint; ranges: readonly IdRange[] }[] = [];
  /** Called at the start of every replay read (to commit or publish while it is "in flight"). */
  duringRead: ((cursor: bigint) => Promise<void>) | undefined;
  failReads = false;
  /** What prunedThrough() answers: set it to play a pruning. */
  pruned = 0n;

  constructor(private readonly bus: EventBus) {}

  commit(...events: ProcessEventRecord[]): void {
    this.committed.push(...events);
    this.committed.sort((a, b) => Number(BigInt(a.id!) - BigInt(b.id!)));
  }

  async publish(...events: ProcessEventRecord[]): Promise<void> {
    for (const e of events) await this.bus.publish("process-events", toWire(e));
  }

  /** Commits and publishes, as a transition on this replica does. */
  async record(...events: ProcessEventRecord[]): Promise<void> {
    this.commit(...events);
    await this.publish(...events);
  }

  async prunedThrough(): Promise<bigint> {
    return this.pruned;
  }

  async lastId(): Promise<bigint> {
    const last = this.committed.at(-1);
    return last ? BigInt(last.id!) : 0n;
  }

  async readAfter(cursor: bigint, limit: number, filter: EventFilter = {}): Promise<ProcessEventRecord[]> {
    await this.duringRead?.(cursor);
    return this.committed
      .filter(
        (e) =>
          BigInt(e.id!) > cursor &&
          (!filter.names || filter.names.includes(e.processName)) &&
          (!filter.kinds || filter.kinds.includes(e.kind)),
      )
      .slice(0, limit);
  }

  async idsUpTo(upTo: bigint, count: number): Promise<bigint[]> {
    return this.committed
      .map((e) => BigInt(e.id!))
      .filter((id) => id <= upTo)
      .reverse()
      .slice(0, count);
  }

  async readNewAndLate(after: bigint, ranges: readonly IdRange[], limit: number): Promise<ProcessEventRecord[]> {
    this.reads.push({ after, ranges });
    if (this.failReads) throw new Error("connection refused");
    return this.committed
      .filter((e) => {
        const id = BigInt(e.id!);
        return id > after || ranges.some((r) => r.from <= id && id <= r.to);
      })
      .slice(0, limit);
  }
}
