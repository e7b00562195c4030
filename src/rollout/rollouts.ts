import type { Clock } from "../clock.js";
import type { ControlService } from "../control/control.service.js";
import type { Database } from "../db/database.js";
import type { EventLogService } from "../events/event-log.service.js";
import type { EventStreams } from "../events/event-stream.js";
import type { Logger } from "../logger.js";
import type { ProcessReads } from "../registry/process-reads.js";
import type { SupervisorClient } from "../supervisor/supervisor-client.js";
import { leaseTimings, RolloutLeases } from "./rollout-leases.js";
import { RolloutReads } from "./rollout-reads.js";
import { RolloutStore } from "./rollout-store.js";
import { RolloutWatch, type LogEnd } from "./rollout-watch.js";
import { RolloutWorker } from "./rollout-worker.js";
import { RolloutService } from "./rollout.service.js";
import { StepRunner } from "./step-runner.js";

/** What the rollouts are built from (app.ts has them all). */
export interface RolloutDependencies {
  readonly database: Database;
  readonly events: EventLogService;
  readonly streams: EventStreams;
  readonly log: LogEnd;
  readonly processes: ProcessReads;
  readonly control: ControlService;
  readonly client: SupervisorClient;
  readonly clock: Clock;
  readonly logger: Logger;
  /** This replica's id (Replicas.id): the owner of the leases it holds. */
  readonly replicaId: string;
  readonly settings: {
    /** ROLLOUT_LEASE_SECONDS: a dead replica's rollouts are taken over within this (see leaseTimings). */
    readonly leaseSeconds: number;
    readonly heartbeatStaleSeconds: number;
    readonly controlTimeoutMs: number;
  };
}

/** The rollouts' parts, wired: the service and the watch that requests use, the worker that runs them. */
export interface Rollouts {
  readonly service: RolloutService;
  readonly watch: RolloutWatch;
  readonly worker: RolloutWorker;
}

export function createRollouts(deps: RolloutDependencies): Rollouts {
  const { database, clock, logger } = deps;
  const timings = leaseTimings(deps.settings.leaseSeconds);
  const leaseMs = timings.termMs;
  const reads = new RolloutReads(database.dataSource);
  const store = new RolloutStore(database, deps.events, clock);
  const leases = new RolloutLeases(database, clock);
  const steps = new StepRunner(deps.control, deps.client, deps.processes, clock, logger, {
    heartbeatStaleSeconds: deps.settings.heartbeatStaleSeconds,
    controlTimeoutMs: deps.settings.controlTimeoutMs,
  });
  const worker = new RolloutWorker(
    { store, leases, reads, steps, clock, logger, owner: deps.replicaId, leaseMs, renewEveryMs: timings.renewEveryMs },
    leases,
    timings.sweepEveryMs,
    logger,
  );
  return {
    service: new RolloutService(deps.processes, reads, store, worker, clock, { owner: deps.replicaId, leaseMs }),
    watch: new RolloutWatch(reads, deps.streams, deps.log),
    worker,
  };
}
