import type { LogRead } from "../supervisor/process-log.js";

/** A piece of a followed log, as a subscriber receives it. */
export interface FollowedChunk {
  readonly text: string;
  /** Where `text` begins in the log (supervisord's byte offsets). */
  readonly start: number;
  /** Just past `text`: resubscribe with this as `fromOffset` to go on without a gap or a repeat. */
  readonly end: number;
  /** The log's size when it was read. */
  readonly size: number;
  /** The log was rotated or cleared: `text` begins in the new log. */
  readonly rotated: boolean;
  /** Part of the log before `start` was left out (rotated away, or skipped). */
  readonly overflow: boolean;
  /** What was left out and why, when something was. */
  readonly message: string | null;
}

/** A read of the log as the follower made it, or a stretch it had to skip. */
export type FollowedRead = LogRead & {
  /** `[start, end)` was not read: written faster than it could be followed. */
  readonly skipped?: boolean;
};

/** What a subscriber does with a read. */
export type CursorStep =
  | { readonly kind: "deliver"; readonly chunk: FollowedChunk }
  /** Nothing new in it for this subscriber. */
  | { readonly kind: "nothing" }
  /** It begins after the subscriber's offset: read `[from, to)` first, then offer it again. */
  | { readonly kind: "gap"; readonly from: number; readonly to: number };

/**
 * One subscriber's place in a log, and what each read means to it. Pure.
 *
 * Reads come from the shared follower (which reads from its own offset) and from the
 * subscriber's own catch-up reads; this decides what of each the subscriber has not had:
 * a read wholly before its offset is nothing, one that overlaps it is cut at the offset
 * (offsets are always character boundaries, so the cut is too), one that begins after it
 * is a gap to read first. A rotation and a skip are delivered as such, with a message.
 */
export class LogCursor {
  constructor(private position: number) {}

  /** The next byte this subscriber wants. */
  get offset(): number {
    return this.position;
  }

  accept(read: FollowedRead, options: { readonly gapAllowed?: boolean } = {}): CursorStep {
    if (read.rotated) {
      const message =
        `the log was rotated or cleared: this chunk begins at byte 0 of the new log; what the old log held ` +
        `from byte ${this.position} on is not included`;
      return this.deliver({ ...read, overflow: true, message });
    }
    if (read.end <= this.position) return { kind: "nothing" };
    if (read.skipped) {
      const from = Math.max(read.start, this.position);
      const message = `${read.end - from} bytes (${from} to ${read.end}) were written faster than they could be followed and are left out`;
      return this.deliver({ ...read, start: from, text: "", overflow: true, message });
    }
    if (read.start > this.position) {
      if (options.gapAllowed === false) {
        const message = `bytes ${this.position} to ${read.start} could not be read and are left out`;
        return this.deliver({ ...read, overflow: true, message });
      }
      return { kind: "gap", from: this.position, to: read.start };
    }
    if (read.start < this.position) {
      const text = Buffer.from(read.text, "utf8")
        .subarray(this.position - read.start)
        .toString("utf8");
      return this.deliver({ ...read, start: this.position, text, overflow: false, message: null });
    }
    return this.deliver({ ...read, overflow: false, message: null });
  }

  /** Moves the offset to the chunk's end and hands the chunk out. */
  private deliver(chunk: Omit<FollowedChunk, "rotated"> & { readonly rotated: boolean }): CursorStep {
    this.position = chunk.end;
    return {
      kind: "deliver",
      chunk: {
        text: chunk.text,
        start: chunk.start,
        end: chunk.end,
        size: chunk.size,
        rotated: chunk.rotated,
        overflow: chunk.overflow,
        message: chunk.message,
      },
    };
  }
}
