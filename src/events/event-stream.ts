import { assertMayTouch, mayTouchProcess, type Principal } from "../auth/principal.js";
import type { Clock } from "../clock.js";
import { FLEET_KINDS, INCIDENT_EVENT_KINDS, ProcessEventKind, TOKEN_KINDS } from "../domain/event-kind.js";
import { check, processNameProblem } from "../domain/validation.js";
import { BadUserInputError, CursorExpiredError, type InvalidField } from "../errors.js";
import { AsyncQueue } from "./async-queue.js";
import type { EventBus } from "./event-bus.js";
import type { EventFeed } from "./event-feed.js";
import type { EventFilter } from "./event-log-reads.js";
import { fromWire, type ProcessEventRecord } from "./process-event.js";

/** What the streams need of the event log. */
export interface StreamLog {
  lastId(): Promise<bigint>;
  /** The highest id pruned: a replay from below it may have lost events. */
  prunedThrough(): Promise<bigint>;
  readAfter(cursor: bigint, limit: number, filter?: EventFilter): Promise<ProcessEventRecord[]>;
}

export interface EventStreamOptions extends EventFilter {
  /** Replay every recorded event after this id first; without it, only what comes next. */
  readonly after?: bigint | undefined;
  /** A further test applied to every event, for example a token's binding. */
  readonly accept?: ((event: ProcessEventRecord) => boolean) | undefined;
}

/** What a caller asks for on `processChanged`. */
export interface SubscriptionRequest {
  readonly names?: readonly string[] | undefined;
  readonly kinds?: readonly ProcessEventKind[] | undefined;
  readonly after?: string | undefined;
}

/**
 * A stream that can hand its live events straight to a listener instead of queueing each
 * for `next()`: one call per event and subscriber rather than a promise and its rounds,
 * which is most of what fanning one event out to thousands of subscribers costs.
 */
export interface LiveTap<T> {
  /**
   * From now on every live event goes to `listener` as it arrives, and `next()` is not
   * called again until the stream ends. Possible once the replay is over and nothing waits
   * in the queue: `false` otherwise, and the caller goes on with `next()`.
   */
  tap(listener: (event: T) => void): boolean;
}

/** Whether `iterator` can hand its events over as a {@link LiveTap}. */
export function canTap<T>(iterator: object): iterator is LiveTap<T> {
  return typeof (iterator as Partial<LiveTap<T>>).tap === "function";
}

/** Events read from the log per query while replaying. */
const REPLAY_PAGE_SIZE = 500;
/**
 * Live events a subscriber may fall behind before it is disconnected (it can resume with
 * `after`). Bounds the memory one slow or stuck client can hold.
 */
const MAX_BUFFERED_EVENTS = 10_000;
/**
 * A replayed event may also arrive live shortly after; after this long, no such duplicate
 * can still be on its way and the replayed ids are forgotten.
 */
const DUPLICATE_WINDOW_MS = 60_000;

/**
 * Subscribers' streams: each a replay from the log (with `after`) and then the replica's
 * live feed, with no gap and no duplicate.
 */
export class EventStreams {
  constructor(
    private readonly log: StreamLog,
    private readonly feed: EventFeed,
    private readonly bus: EventBus,
    private readonly clock: Clock,
  ) {}

  /**
   * An event id to pass as `after` that misses nothing recorded from now on: the newest id,
   * or the pruning watermark when pruning took every event (a cursor below it would be
   * CURSOR_EXPIRED). Read before a list, it lets a subscriber replay every change the list
   * may not show.
   */
  async cursor(): Promise<string> {
    const [last, pruned] = await Promise.all([this.log.lastId(), this.log.prunedThrough()]);
    return String(last > pruned ? last : pruned);
  }

  /**
   * A caller's subscription, checked: names must be process names the caller may watch,
   * `after` an event id whose successors are all still in the log (CURSOR_EXPIRED
   * otherwise); a token bound to a pattern receives only its processes' events.
   */
  async subscribe(
    request: SubscriptionRequest,
    principal: Principal,
  ): Promise<AsyncIterableIterator<ProcessEventRecord>> {
    const problems: InvalidField[] = [];
    request.names?.forEach((name, i) => check(problems, `names[${i}]`, name, processNameProblem));
    request.kinds?.forEach((kind, i) => {
      if (TOKEN_KINDS.has(kind)) {
        problems.push({
          field: `kinds[${i}]`,
          message: `${kind} is not a process's change and is not delivered here; query events(kinds: [${kind}])`,
        });
      }
      if (FLEET_KINDS.has(kind)) {
        problems.push({ field: `kinds[${i}]`, message: `${kind} is no process's change; subscribe to rolloutChanged` });
      }
      if (INCIDENT_EVENT_KINDS.has(kind)) {
        problems.push({
          field: `kinds[${i}]`,
          message: `${kind} is no process's change; subscribe to incidentChanged`,
        });
      }
    });
    if (request.after !== undefined && !/^\d{1,19}$/.test(request.after)) {
      problems.push({
        field: "after",
        message: `must be an event id from a previous ProcessEvent (got "${request.after}")`,
      });
    }
    if (problems.length > 0) throw BadUserInputError.of(problems);
    for (const name of request.names ?? []) assertMayTouch(principal, name, "watch");
    const after = request.after === undefined ? undefined : BigInt(request.after);
    if (after !== undefined) {
      // Told now, as the subscription's answer; a pruning that overtakes the replay later
      // ends the stream with the same error (see replayThenLive).
      const pruned = await this.log.prunedThrough();
      if (pruned > after) throw new CursorExpiredError(after, pruned);
    }
    return this.stream({
      names: request.names,
      kinds: request.kinds,
      after,
      // Events about no single process (a rollout's start and end) are not a process's change.
      accept: (event) =>
        !FLEET_KINDS.has(event.kind) &&
        !INCIDENT_EVENT_KINDS.has(event.kind) &&
        (principal.processPattern === null || mayTouchProcess(principal, event.processName)),
    });
  }

  /**
   * A subscriber's stream: with `after`, first every recorded event after that id, then
   * the live ones; without, the events recorded after it started. Token events are the
   * audit trail's, not changes of the registry: no stream delivers them.
   *
   * It attaches to the live feed before it reads the log, so an event committed meanwhile
   * is in what the replay reads or arrives live afterwards (or both, and then the copy is
   * dropped by id). Ids are compared as a set, not as "greater than the last replayed",
   * because concurrent transactions may commit out of id order.
   */
  stream(options: EventStreamOptions): AsyncIterableIterator<ProcessEventRecord> & LiveTap<ProcessEventRecord> {
    const names = options.names ? new Set(options.names) : undefined;
    const kinds = options.kinds ? new Set(options.kinds) : undefined;
    const wanted = (event: ProcessEventRecord): boolean =>
      !TOKEN_KINDS.has(event.kind) &&
      (!names || names.has(event.processName)) &&
      (kinds ? kinds.has(event.kind) : event.kind !== ProcessEventKind.HEARTBEAT) &&
      (!options.accept || options.accept(event));

    const live = new AsyncQueue<ProcessEventRecord>(MAX_BUFFERED_EVENTS);
    const detach: (() => void)[] = [];
    let ended = false;
    let tapped: ((event: ProcessEventRecord) => void) | undefined;
    const end = async (): Promise<void> => {
      ended = true;
      tapped = undefined;
      for (const off of detach.splice(0)) off();
      await live.return();
    };
    // Until the replay is over, live events wait in the queue unjudged (the replay may yet
    // deliver them); from then on, what is not new is dropped as it arrives.
    let isNew: ((event: ProcessEventRecord) => boolean) | undefined;
    const onEvent = (event: ProcessEventRecord): void => {
      if (!wanted(event) || (isNew !== undefined && !isNew(event))) return;
      if (tapped) tapped(event);
      else live.push(event);
    };
    if (kinds?.has(ProcessEventKind.HEARTBEAT)) {
      detach.push(this.bus.on("heartbeats", (batch) => (batch as unknown[]).forEach((e) => onEvent(fromWire(e)))));
    }
    const attach = (from: bigint): void => {
      if (!ended) detach.push(this.feed.subscribe(onEvent, from));
    };
    const goLive = (judge: (event: ProcessEventRecord) => boolean): void => {
      live.retain(judge);
      isNew = judge;
    };
    const replay = this.replay(wanted, options, attach, goLive, end);
    let replaying = true;
    // Live and not tapped, each event is the queue's own next(): one promise per event and
    // subscriber (a tap, below, costs a call instead).
    const next = (): Promise<IteratorResult<ProcessEventRecord>> => {
      if (!replaying) return live.next();
      return replay.next().then((step) => {
        if (!step.done) return step;
        replaying = false;
        return live.next();
      });
    };
    return {
      next,
      tap(listener) {
        if (replaying || ended || live.size > 0) return false;
        tapped = listener;
        return true;
      },
      // A subscriber that leaves (complete, disconnect) calls return() while the stream
      // waits for the next live event: ending the live queue first lets that wait finish.
      return: async (value?: unknown) => {
        await end();
        await replay.return(undefined);
        return { value: value as ProcessEventRecord, done: true };
      },
      throw: async (error?: unknown) => {
        await end();
        await replay.return(undefined);
        throw error;
      },
      [Symbol.asyncIterator]() {
        return this;
      },
    };
  }

  /**
   * The replay: attaches to the live feed, then yields every recorded event the stream
   * wants from where it starts, and finally tells `goLive` which live events are new (after
   * the start, and not replayed). Ends the stream when it fails.
   */
  private async *replay(
    wanted: (event: ProcessEventRecord) => boolean,
    options: EventStreamOptions,
    attach: (from: bigint) => void,
    goLive: (isNew: (event: ProcessEventRecord) => boolean) => void,
    end: () => Promise<void>,
  ): AsyncGenerator<ProcessEventRecord, void> {
    try {
      // Where the log ends now: an idle feed starts there, and a stream without `after`
      // replays what was recorded between this read and attaching to the feed.
      const last = await this.log.lastId();
      attach(last);
      const start = options.after ?? last;
      // Ids of replayed events that may still arrive live too. Only recent events can: an
      // event is published right after its commit, so older ones need no remembering.
      const replayed = new Set<string>();
      const now = () => this.clock.now().getTime();
      let cursor = start;
      for (;;) {
        const page = await this.log.readAfter(cursor, REPLAY_PAGE_SIZE, options);
        if (options.after !== undefined) {
          // Pruning raises the watermark before it deletes: read after the page, it tells
          // whether rows after the cursor could have gone before the page was read.
          const pruned = await this.log.prunedThrough();
          if (pruned > cursor) throw new CursorExpiredError(options.after, pruned);
        }
        for (const event of page) {
          if (!wanted(event)) continue;
          if (now() - event.at.getTime() < DUPLICATE_WINDOW_MS) replayed.add(event.id!);
          yield event;
        }
        if (page.length < REPLAY_PAGE_SIZE) break;
        cursor = BigInt(page[page.length - 1]!.id!);
      }
      const startId = String(start);
      const forgetReplayedAt = now() + DUPLICATE_WINDOW_MS;
      goLive((event) => {
        if (event.id === null) return true;
        // The feed may deliver what came before this stream's start (it started earlier).
        if (!idAfter(event.id, startId)) return false;
        if (replayed.size === 0) return true;
        if (now() > forgetReplayedAt) {
          replayed.clear();
          return true;
        }
        return !replayed.has(event.id);
      });
    } catch (error) {
      await end();
      throw error;
    }
  }
}

/** Whether event id `a` comes after `b` (decimal ids without leading zeros, compared as text). */
function idAfter(a: string, b: string): boolean {
  return a.length !== b.length ? a.length > b.length : a > b;
}
