import type { Logger } from "../logger.js";

export interface PeriodicOptions {
  /**
   * Runs start every interval, counted from the previous run's start, rather than an
   * interval after it ended: a poll of 500 supervisords that takes a second still polls
   * each once per interval. A run longer than the interval is followed at once by the
   * next, never overlapped. @default false
   */
  readonly fixedRate?: boolean;
}

/**
 * Runs `work` every `intervalMs`, never twice at once: by default the next run is
 * scheduled when the previous one ends (see {@link PeriodicOptions.fixedRate}). A failing
 * scheduled run is logged and the loop goes on.
 */
export class Periodic<T = unknown> {
  private timer: NodeJS.Timeout | undefined;
  /** The run under way, settled (it never rejects) once the run has ended. */
  private running: Promise<void> | undefined;
  private stopped = true;

  constructor(
    private readonly name: string,
    private readonly intervalMs: number,
    private readonly work: () => Promise<T>,
    private readonly logger: Logger,
    private readonly options: PeriodicOptions = {},
  ) {}

  start(): void {
    if (!this.stopped || this.intervalMs <= 0) return;
    this.stopped = false;
    this.schedule();
  }

  /** Stops scheduling, and waits for a run under way to end. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.running;
  }

  /**
   * One run now, after the one under way if any (never beside it), whether or not the
   * schedule is on. Resolves with what the work returned and rejects when it fails, so
   * that a test or a tool driving a pass sees the pass it asked for, not a logged error.
   */
  async runOnce(): Promise<T> {
    while (this.running) await this.running;
    const run = this.work();
    this.running = run
      .then(
        () => undefined,
        () => undefined,
      )
      .finally(() => {
        this.running = undefined;
      });
    return run;
  }

  private schedule(delayMs = this.intervalMs): void {
    this.timer = setTimeout(() => {
      const startedAt = Date.now();
      void this.runOnce()
        .catch((error: unknown) => this.logger.error({ err: error, task: this.name }, `${this.name} failed`))
        .then(() => {
          if (this.stopped) return;
          const took = Date.now() - startedAt;
          this.schedule(this.options.fixedRate ? Math.max(0, this.intervalMs - took) : this.intervalMs);
        });
    }, delayMs);
    this.timer.unref();
  }
}
