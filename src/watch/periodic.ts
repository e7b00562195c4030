import type { Logger } from "../logger.js";

/**
 * Runs `work` every `intervalMs`, never twice at once: the next run is scheduled when the
 * previous one ends. A failing run is logged and the loop goes on.
 */
export class Periodic {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private stopped = true;

  constructor(
    private readonly name: string,
    private readonly intervalMs: number,
    private readonly work: () => Promise<unknown>,
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

  /** One run now (for tests and tools); it does not overlap a scheduled one. */
  async runOnce(): Promise<void> {
    while (this.running) await this.running;
    this.running = this.work()
      .then(() => undefined)
      .catch((error: unknown) => this.logger.error({ err: error, task: this.name }, `${this.name} failed`))
      .finally(() => {
        this.running = undefined;
      });
    await this.running;
  }

  private schedule(): void {
    this.timer = setTimeout(() => {
      void this.runOnce().then(() => {
        if (!this.stopped) this.schedule();
      });
    }, this.intervalMs);
    this.timer.unref();
  }
}
