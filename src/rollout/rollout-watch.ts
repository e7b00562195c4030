import type { Principal } from "../auth/principal.js";
import { ProcessEventKind, ROLLOUT_KINDS } from "../domain/event-kind.js";
import { FINISHED_ROLLOUT_STATES } from "../domain/rollout.js";
import { derivedStream } from "../events/derived-stream.js";
import type { EventStreams } from "../events/event-stream.js";
import type { ProcessEventRecord } from "../events/process-event.js";
import { rolloutIdIn } from "./rollout-events.js";
import { parseRolloutId, type RolloutReads } from "./rollout-reads.js";
import type { StoredRollout } from "./rollout.js";

/** Where the event log ends now. */
export interface LogEnd {
  lastId(): Promise<bigint>;
}

/**
 * `rolloutChanged`: the whole rollout, first as it is, then again after each of its
 * events (ROLLOUT_STARTED, ROLLOUT_STEP, ROLLOUT_FINISHED), until it has finished.
 *
 * It follows the event log through this replica's feed, not the replica running the
 * rollout: whichever replica writes a step, its event reaches every replica's feed (over
 * Redis, or from the log), and the rollout is read again from the database.
 */
export class RolloutWatch {
  constructor(
    private readonly reads: RolloutReads,
    private readonly streams: EventStreams,
    private readonly log: LogEnd,
  ) {}

  /** NOT_FOUND / FORBIDDEN before anything is delivered when the rollout cannot be watched. */
  async watch(id: string, principal: Principal): Promise<AsyncIterableIterator<StoredRollout>> {
    const rolloutId = parseRolloutId(id);
    // The cursor is taken before the first read: a change after it is in the stream.
    const cursor = await this.log.lastId();
    const first = await this.reads.get(rolloutId, principal);
    const events = this.streams.stream({ kinds: [...ROLLOUT_KINDS], after: cursor });
    const changes = this.follow(first, events, rolloutId);
    return derivedStream(changes, events);
  }

  private async *follow(
    first: StoredRollout,
    events: AsyncIterableIterator<ProcessEventRecord>,
    id: number,
  ): AsyncGenerator<StoredRollout> {
    try {
      let last = JSON.stringify(first);
      yield first;
      if (FINISHED_ROLLOUT_STATES.has(first.state)) return;
      for await (const event of events) {
        if (!ROLLOUT_KINDS.has(event.kind) || rolloutIdIn(event.message) !== id) continue;
        const now = await this.reads.find(id);
        if (!now) return;
        const shown = JSON.stringify(now);
        if (shown !== last) {
          last = shown;
          yield now;
        }
        if (event.kind === ProcessEventKind.ROLLOUT_FINISHED || FINISHED_ROLLOUT_STATES.has(now.state)) return;
      }
    } finally {
      await events.return?.();
    }
  }
}
