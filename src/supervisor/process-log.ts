import { unexpectedAnswer } from "./fault-mapping.js";
import { describeAddress, SupervisorFault, type SupervisorAddress } from "./supervisor.errors.js";

export type LogStream = "stdout" | "stderr";

/** Where a read begins: a byte offset into the log, or its end (the last `maxBytes`). */
export type LogStart = number | "end";

/** A piece of a program's log, in supervisord's byte offsets. */
export interface LogRead {
  /** The log from `start` to `end`. */
  readonly text: string;
  /** The offset of the text's first byte. */
  readonly start: number;
  /** Just past the text's last byte: where the next read begins. */
  readonly end: number;
  /** The log's size when it was read: `size - end` bytes were left for the next read. */
  readonly size: number;
  /**
   * The offset asked for lay beyond the end of the log: supervisord rotated it (past
   * `stdout_logfile_maxbytes`) or cleared it since, and this read began at 0 of the log
   * there is now. What the old log held past that offset is not in `text`.
   */
  readonly rotated: boolean;
}

/** `system.multicall`: each result is the bare value, or a {@link SupervisorFault}. */
export type Multicall = (
  address: SupervisorAddress,
  calls: readonly { readonly method: string; readonly params?: readonly unknown[] }[],
) => Promise<unknown[]>;

const METHODS: Readonly<Record<LogStream, { readonly tail: string; readonly read: string }>> = {
  stdout: { tail: "supervisor.tailProcessStdoutLog", read: "supervisor.readProcessStdoutLog" },
  stderr: { tail: "supervisor.tailProcessStderrLog", read: "supervisor.readProcessStderrLog" },
};

/** UTF-8 takes at most four bytes a character: a character boundary is never further away. */
const MAX_CHAR_BYTES = 4;

/**
 * Reads `maxBytes` of a program's log from `from`, exactly: the bytes at that offset, not
 * the end of the log, and the offset to go on from.
 *
 * supervisord's `tail…Log(offset, length)` cannot do this: whenever fewer than `length`
 * bytes follow `offset` it returns the last `length` bytes of the log, before `offset`
 * too, so a follower built on it repeats what it had. Its `read…Log(offset, length)`
 * returns the bytes at an offset, but not the log's size, so it cannot tell "nothing new"
 * from "rotated". Both go in one multicall: `tail…Log(0, 0)` returns nothing but the size.
 * supervisord runs a multicall's calls one after another in its single loop, the loop that
 * also writes the logs, so the size and the bytes agree.
 *
 * Offsets are counted, never measured on the text (which cannot say how many bytes it
 * was): the next read begins at `min(size, start + maxBytes)`.
 *
 * supervisord decodes what it reads as UTF-8 and fails (FAILED) when the range begins or
 * ends inside a character. The read is then narrowed to the nearest character boundaries
 * within it, found with reads of one to four bytes, and made again.
 */
export async function readProcessLog(
  multicall: Multicall,
  address: SupervisorAddress,
  program: string,
  stream: LogStream,
  from: LogStart,
  maxBytes: number,
): Promise<LogRead> {
  const reader = new LogReader(multicall, address, program, METHODS[stream], maxBytes);
  const read = await reader.read(from);
  if (from === "end" || from <= read.size) return read;
  return { ...(await reader.read(0)), rotated: true };
}

class LogReader {
  constructor(
    private readonly multicall: Multicall,
    private readonly address: SupervisorAddress,
    private readonly program: string,
    private readonly methods: { readonly tail: string; readonly read: string },
    private readonly maxBytes: number,
  ) {}

  async read(from: LogStart): Promise<LogRead> {
    const [sizeAnswer, textAnswer] = await this.multicall(this.address, [
      this.sizeCall(),
      // A negative offset with length 0 reads that many bytes from the end.
      from === "end" ? this.readCall(-this.maxBytes, 0) : this.readCall(from, this.maxBytes),
    ]);
    const size = this.sizeOf(sizeAnswer);
    const start = from === "end" ? Math.max(0, size - this.maxBytes) : from;
    const end = Math.max(start, Math.min(size, start + this.maxBytes));
    const read = { start, end, size, rotated: false };
    if (typeof textAnswer === "string") return { ...read, text: textAnswer };
    if (!(textAnswer instanceof SupervisorFault)) throw unexpectedAnswer(this.address, this.methods.read, "text");
    // No log file (yet, or `stdout_logfile=NONE`): an empty log, as `tail…Log` says.
    if (textAnswer.faultName === "NO_FILE") return { ...read, end: start, text: "" };
    if (textAnswer.faultName !== "FAILED") throw textAnswer;
    return { ...(await this.readWholeCharacters(start, end, size, textAnswer)), size, rotated: false };
  }

  /**
   * `[start, end)` narrowed to whole characters. A probe `read(p, n)` of one to four bytes
   * decodes only when a character begins at `p` and one ends at `p + n` (or at the end of
   * the log, when that comes first). Probes near `start` find where the first character
   * begins; probes over the last eight bytes before `end` find where the last one ends,
   * also when the log ends inside a character that its program has not finished writing
   * (a block-buffered program flushes in the middle of one): that one is left for later.
   */
  private async readWholeCharacters(
    start: number,
    end: number,
    size: number,
    failure: SupervisorFault,
  ): Promise<{ text: string; start: number; end: number }> {
    const span = (from: number, count: number) => Array.from({ length: count }, (_, i) => from + i);
    const positions = [
      ...new Set([...span(start, MAX_CHAR_BYTES), ...span(end - 2 * MAX_CHAR_BYTES, 2 * MAX_CHAR_BYTES)]),
    ].filter((offset) => offset >= start && offset < end);
    const probes = positions.flatMap((offset) => span(1, MAX_CHAR_BYTES).map((length) => ({ offset, length })));
    const answers = await this.multicall(
      this.address,
      probes.map(({ offset, length }) => this.readCall(offset, length)),
    );
    const starts = new Set<number>();
    const ends = new Set<number>();
    probes.forEach(({ offset, length }, i) => {
      if (typeof answers[i] !== "string") return;
      starts.add(offset);
      ends.add(Math.min(offset + length, size));
    });

    const first = span(start, MAX_CHAR_BYTES).find((offset) => offset < end && starts.has(offset));
    // Nothing whole begins near `start`: the rest of the log is one character still being written.
    if (first === undefined && end === size && size - start < MAX_CHAR_BYTES) return { text: "", start, end: start };
    if (first === undefined) throw this.undecodable(start, end, failure);
    const last = span(first + 1, end - first)
      .reverse()
      .find((offset) => ends.has(offset) || (offset < end && starts.has(offset)));
    if (last === undefined) {
      // Only a character still being written follows `first`; otherwise no whole one fits.
      if (end === size) return { text: "", start: first, end: first };
      throw this.undecodable(first, end, failure);
    }
    const [text] = await this.multicall(this.address, [this.readCall(first, last - first)]);
    if (typeof text === "string") return { text, start: first, end: last };
    throw text instanceof SupervisorFault
      ? this.undecodable(first, last, text)
      : unexpectedAnswer(this.address, this.methods.read, "text");
  }

  private undecodable(start: number, end: number, failure: SupervisorFault): SupervisorFault {
    return new SupervisorFault(
      this.address,
      failure.faultName,
      failure.faultCode,
      failure.detail,
      `supervisord at ${describeAddress(this.address)} cannot send bytes ${start} to ${end} of the log of ` +
        `"${this.program}": it answered ${failure.faultName} (they are not whole UTF-8 characters, or the log ` +
        "cannot be read)",
    );
  }

  private sizeCall() {
    return { method: this.methods.tail, params: [this.program, 0, 0] };
  }

  private readCall(offset: number, length: number) {
    return { method: this.methods.read, params: [this.program, offset, length] };
  }

  /** The log's size from `tail…Log(0, 0)`: `[text, size, overflow]`. */
  private sizeOf(answer: unknown): number {
    if (answer instanceof SupervisorFault) throw answer;
    if (!Array.isArray(answer) || typeof answer[1] !== "number")
      throw unexpectedAnswer(this.address, this.methods.tail, "[text, offset, overflow]");
    return answer[1];
  }
}
