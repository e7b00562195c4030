import { assertMayTouch, mayTouchProcess, type Principal } from "../auth/principal.js";
import { systemClock, type Clock } from "../clock.js";
import { check, processNameProblem } from "../domain/validation.js";
import { BadUserInputError, type InvalidField } from "../errors.js";
import { type DataSource, type EntityManager, In, MoreThan } from "typeorm";
import { ProcessEventEntity } from "../db/process-event.entity.js";
import type { ProcessEntity } from "../db/process.entity.js";
import type { ProcessStatus } from "../domain/process-status.js";
import { AsyncQueue } from "./async-queue.js";
import type { Logger } from "../logger.js";
import type { EventBus } from "./event-bus.js";
import { ProcessEventKind } from "../domain/event-kind.js";
import { fromWire, toWire, type ProcessEventRecord } from "./process-event.js";

/** What a transition records; id and time are the log's. */
export interface EventDraft {
  readonly kind: Exclude<ProcessEventKind, ProcessEventKind.HEARTBEAT>;
  readonly processName: string;
  readonly actor: string;
  readonly message?: string | null;
  readonly status: ProcessStatus | null;
}

/** Which events a subscriber wants. */
export interface EventFilter {
  /** Only these processes; `undefined` for all. */
  readonly names?: readonly string[] | undefined;
  /** Only these kinds; `undefined` for every recorded kind (not `HEARTBEAT`). */
  readonly kinds?: readonly ProcessEventKind[] | undefined;
  /** A further test applied to every event, for example an agent's binding. */
  readonly accept?: ((event: ProcessEventRecord) => boolean) | undefined;
}

export interface EventStreamOptions extends EventFilter {
  /** Replay every recorded event after this id first. */
  readonly after?: bigint | undefined;
}

/** Events read from the log per query while replaying. */
const REPLAY_PAGE_SIZE = 500;
/**
 * Live events a subscriber may fall behind before it is disconnected (it can resume with
 * `after`). Bounds the memory one slow or stuck client can hold.
 */
const MAX_BUFFERED_EVENTS = 10_000;
/**
 * A replayed event is also published live shortly after its commit; after this long, no
 * such duplicate can still be in flight and the replayed ids are forgotten.
 */
const DUPLICATE_WINDOW_MS = 60_000;

const MESSAGE_LIMIT = 1000;

function toRecord(row: ProcessEventEntity): ProcessEventRecord {
  return {
    id: String(row.id),
    kind: row.kind as ProcessEventKind,
    processName: row.processName,
    at: row.at,
    actor: row.actor,
    message: row.message,
    status: row.status as ProcessStatus | null,
  };
}

/**
 * The event log (`fleetvisor_process_events`) and the live fan-out.
 *
 * A transition is recorded inside the transaction that makes it, so a transition and its
 * event commit together or not at all; it is published only after the commit.
 */
export class EventLogService {
  private pendingHeartbeats: ReturnType<typeof toWire>[] = [];
  private readonly recordedListeners: ((event: ProcessEventRecord) => void)[] = [];

  constructor(
    private readonly dataSource: DataSource,
    private readonly bus: EventBus,
    private readonly logger: Logger,
    private readonly clock: Clock = systemClock,
  ) {}

  /** Records one event inside the caller's transaction. Publish it after the commit. */
  async record(manager: EntityManager, draft: EventDraft, process: ProcessEntity | null): Promise<ProcessEventRecord> {
    const at = this.clock.now();
    const message = draft.message ? draft.message.slice(0, MESSAGE_LIMIT) : null;
    const result = await manager.insert(ProcessEventEntity, {
      processName: draft.processName,
      kind: draft.kind,
      actor: draft.actor.slice(0, 100),
      message,
      status: draft.status,
      at,
    });
    const id = result.identifiers[0]?.id as string | number | undefined;
    if (id === undefined) throw new Error("the event log returned no id");
    return { ...draft, id: String(id), message, at, process };
  }

  /**
   * Sends recorded events to every subscriber of every replica, and tells this replica's
   * own listeners (alerts) of the events it recorded.
   */
  async publish(events: readonly ProcessEventRecord[]): Promise<void> {
    for (const event of events) {
      for (const listener of this.recordedListeners) {
        // The event is committed: a listener that fails must not fail the change that caused it.
        try {
          listener(event);
        } catch (error) {
          this.logger.error({ err: error, eventId: event.id }, "a recorded-event listener failed");
        }
      }
      await this.bus.publish("process-events", toWire(event));
    }
  }

  /** `listener` sees every event this replica records (once, on this replica only). */
  onRecorded(listener: (event: ProcessEventRecord) => void): void {
    this.recordedListeners.push(listener);
  }

  /**
   * Heartbeats are not recorded; they go only to subscribers that ask for them. Those
   * published in the same tick (a batch written together) travel as one message.
   */
  publishHeartbeat(processName: string, actor: string, at: Date, status: ProcessStatus | null): void {
    if (!this.bus.delivers("heartbeats")) return;
    const event: ProcessEventRecord = {
      id: null,
      kind: ProcessEventKind.HEARTBEAT,
      processName,
      at,
      actor,
      message: null,
      status,
    };
    this.pendingHeartbeats.push(toWire(event));
    if (this.pendingHeartbeats.length === 1) {
      queueMicrotask(() => {
        const batch = this.pendingHeartbeats;
        this.pendingHeartbeats = [];
        void this.bus.publish("heartbeats", batch);
      });
    }
  }

  /** Recorded events after `cursor`, oldest first. */
  async readAfter(cursor: bigint, limit: number, filter: EventFilter = {}): Promise<ProcessEventRecord[]> {
    const kinds = filter.kinds?.filter((k) => k !== ProcessEventKind.HEARTBEAT);
    if (kinds && kinds.length === 0) return [];
    const rows = await this.dataSource.getRepository(ProcessEventEntity).find({
      where: {
        id: MoreThan(cursor.toString()),
        ...(filter.names ? { processName: In([...filter.names]) } : {}),
        ...(kinds ? { kind: In(kinds) } : {}),
      },
      order: { id: "ASC" },
      take: limit,
    });
    return rows.map(toRecord);
  }

  /**
   * A caller's subscription, checked: names must be process names the caller may watch,
   * `after` an event id; a token bound to a pattern receives only its processes' events.
   */
  subscribe(
    request: {
      readonly names?: readonly string[];
      readonly kinds?: readonly ProcessEventKind[];
      readonly after?: string;
    },
    principal: Principal,
  ): AsyncIterableIterator<ProcessEventRecord> {
    const problems: InvalidField[] = [];
    request.names?.forEach((name, i) => check(problems, `names[${i}]`, name, processNameProblem));
    if (request.after !== undefined && !/^\d{1,19}$/.test(request.after)) {
      problems.push({
        field: "after",
        message: `must be an event id from a previous ProcessEvent (got "${request.after}")`,
      });
    }
    if (problems.length > 0) throw BadUserInputError.of(problems);
    for (const name of request.names ?? []) assertMayTouch(principal, name, "watch");
    return this.stream({
      names: request.names,
      kinds: request.kinds,
      after: request.after === undefined ? undefined : BigInt(request.after),
      accept: principal.processPattern === null ? undefined : (event) => mayTouchProcess(principal, event.processName),
    });
  }

  /**
   * A subscriber's stream: with `after`, first every recorded event after that id, then
   * the live ones, with no gap and no duplicate.
   *
   * The live listener is attached before the log is read, so an event committed during
   * the replay is either in what the replay reads or arrives live afterwards (or both,
   * and then the copy is dropped by id). Ids are compared as a set, not as "greater than
   * the last replayed", because concurrent transactions may commit out of id order.
   */
  stream(options: EventStreamOptions): AsyncIterableIterator<ProcessEventRecord> {
    const names = options.names ? new Set(options.names) : undefined;
    const kinds = options.kinds ? new Set(options.kinds) : undefined;
    const wanted = (event: ProcessEventRecord): boolean =>
      (!names || names.has(event.processName)) &&
      (kinds ? kinds.has(event.kind) : event.kind !== ProcessEventKind.HEARTBEAT) &&
      (!options.accept || options.accept(event));

    const live = new AsyncQueue<ProcessEventRecord>(MAX_BUFFERED_EVENTS);
    const onEvent = (payload: unknown): void => {
      const event = fromWire(payload);
      if (wanted(event)) live.push(event);
    };
    const detach = [this.bus.on("process-events", onEvent)];
    if (kinds?.has(ProcessEventKind.HEARTBEAT)) {
      detach.push(this.bus.on("heartbeats", (batch) => (batch as unknown[]).forEach(onEvent)));
    }
    const end = async (): Promise<void> => {
      for (const off of detach.splice(0)) off();
      await live.return();
    };
    const events = this.replayThenLive(live, wanted, options, end);
    return {
      next: () => events.next(),
      // A subscriber that leaves (complete, disconnect) calls return() while the stream
      // waits for the next live event: a generator's own return() would wait for that event,
      // perhaps forever, holding its listener. Ending the live queue first lets it finish.
      return: async (value?: unknown) => {
        await end();
        return events.return(value as ProcessEventRecord);
      },
      throw: async (error?: unknown) => {
        await end();
        return events.throw(error);
      },
      [Symbol.asyncIterator]() {
        return this;
      },
    };
  }

  private async *replayThenLive(
    live: AsyncQueue<ProcessEventRecord>,
    wanted: (event: ProcessEventRecord) => boolean,
    options: EventStreamOptions,
    end: () => Promise<void>,
  ): AsyncGenerator<ProcessEventRecord> {
    try {
      // Ids of replayed events that may still arrive live too. Only recent events can: an
      // event is published right after its commit, so older ones need no remembering.
      let replayed: Set<string> | undefined;
      if (options.after !== undefined) {
        replayed = new Set();
        let cursor = options.after;
        for (;;) {
          const page = await this.readAfter(cursor, REPLAY_PAGE_SIZE, options);
          for (const event of page) {
            if (!wanted(event)) continue;
            if (Date.now() - event.at.getTime() < DUPLICATE_WINDOW_MS) replayed.add(event.id!);
            yield event;
          }
          if (page.length < REPLAY_PAGE_SIZE) break;
          cursor = BigInt(page[page.length - 1]!.id!);
        }
      }
      const forgetReplayedAt = Date.now() + DUPLICATE_WINDOW_MS;
      for await (const event of live) {
        if (replayed && event.id !== null) {
          if (Date.now() > forgetReplayedAt) replayed = undefined;
          else if (replayed.has(event.id)) continue;
        }
        yield event;
      }
    } finally {
      await end();
    }
  }
}
