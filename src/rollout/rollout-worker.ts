import type { Logger } from "../logger.js";
import { Periodic } from "../watch/periodic.js";
import type { RolloutLeases } from "./rollout-leases.js";
import { RolloutRunner, type RunEnd, type RunnerDeps } from "./rollout-runner.js";

/**
 * The rollouts this replica runs: those started here, and those it takes over. Every
 * `sweepEveryMs` it looks for running rollouts whose lease lapsed (their replica died)
 * or was let go (their replica stopped), claims them (one replica wins each), and runs
 * them on from where they were.
 */
export class RolloutWorker {
  private readonly runners = new Map<number, { readonly runner: RolloutRunner; readonly done: Promise<void> }>();
  private readonly sweeper: Periodic<void>;
  private stopping = false;

  constructor(
    private readonly deps: RunnerDeps,
    private readonly leases: RolloutLeases,
    sweepEveryMs: number,
    private readonly logger: Logger,
  ) {
    this.sweeper = new Periodic("rollout takeover", sweepEveryMs, () => this.takeOver(), logger);
  }

  start(): void {
    this.sweeper.start();
  }

  /** Stops every runner before its next step, waits for the steps under way, and lets their leases go. */
  async stop(): Promise<void> {
    this.stopping = true;
    await this.sweeper.stop();
    for (const { runner } of this.runners.values()) runner.stop();
    await Promise.all([...this.runners.values()].map(({ done }) => done));
  }

  /** Runs a rollout whose lease this replica holds (just created here, or just claimed). */
  run(id: number): void {
    if (this.stopping || this.runners.has(id)) return;
    const runner = new RolloutRunner(this.deps, id);
    const done = runner
      .run()
      .then(
        (end) => this.ended(id, end),
        (error: unknown) => {
          // The lease lapses, and another replica (or this one) takes it over and goes on.
          this.logger.error({ err: error, rollout: id }, `rollout ${id} stopped on an error; it will be taken over`);
        },
      )
      .finally(() => this.runners.delete(id));
    this.runners.set(id, { runner, done });
  }

  /** A cancel asked for here reaches the runner at once when this replica runs the rollout. */
  nudge(id: number): void {
    this.runners.get(id)?.runner.nudge();
  }

  /** Claims the rollouts whose lease lapsed and runs them. */
  async takeOver(): Promise<void> {
    if (this.stopping) return;
    for (const { id, leaseOwner } of await this.leases.lapsed()) {
      if (this.stopping || this.runners.has(id)) continue;
      if (!(await this.leases.claim(id, this.deps.owner, this.deps.leaseMs))) continue;
      this.logger.warn(
        { rollout: id, from: leaseOwner },
        `taking over rollout ${id}${leaseOwner ? ` from replica ${leaseOwner}, whose lease lapsed` : ""}`,
      );
      this.run(id);
    }
  }

  private async ended(id: number, end: RunEnd): Promise<void> {
    if (end === "lost") this.logger.warn({ rollout: id }, `rollout ${id} was taken over by another replica`);
    if (end !== "stopped") return;
    // Another replica goes on at its next look, instead of after the lease.
    await this.leases
      .release(id, this.deps.owner)
      .catch((error: unknown) =>
        this.logger.warn({ reason: (error as Error).message, rollout: id }, "could not let a rollout's lease go"),
      );
  }
}
