import type { Logger } from "../logger.js";

/**
 * Runs `work` every `intervalMs`, never twice at once: the next run is scheduled when the
 * previous one ends. A failing scheduled run is logged and the loop goes on.
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

  private schedule(): void {
    this.timer = setTimeout(() => {
      void this.runOnce()
        .catch((error: unknown) => this.logger.error({ err: error, task: this.name }, `${this.name} failed`))
        .then(() => {
          if (!this.stopped) this.schedule();
        });
    }, this.intervalMs);
    this.timer.unref();
  }
}
