import { In, type EntityManager } from "typeorm";
import type { Principal } from "../auth/principal.js";
import type { Clock } from "../clock.js";
import type { Database } from "../db/database.js";
import { RolloutStepEntity } from "../db/rollout-step.entity.js";
import { RolloutEntity } from "../db/rollout.entity.js";
import { ProcessEventKind } from "../domain/event-kind.js";
import { RolloutState, StepOutcome, type RolloutAction } from "../domain/rollout.js";
import { ConflictError } from "../errors.js";
import type { EventLogService } from "../events/event-log.service.js";
import type { ProcessEventRecord } from "../events/process-event.js";
import { findProcess } from "../registry/process-rows.js";
import { finishedMessage, finishReason, startedMessage, stepMessage } from "./rollout-events.js";
import { holdLease } from "./rollout-leases.js";
import { loadRollout } from "./rollout-reads.js";
import type { RolloutOptions, RolloutStep, StoredRollout } from "./rollout.js";

/** The replica lost its lease on a rollout (another replica took it over): it must stop running it. */

/** A rollout to store: its plan, and who asked for it. */
export interface NewRollout extends RolloutOptions {
  readonly action: RolloutAction;
  readonly steps: readonly RolloutStep[];
  readonly actor: Principal;
}

type RecordEvent = (draft: {
  readonly kind: Exclude<ProcessEventKind, ProcessEventKind.HEARTBEAT>;
  readonly processName: string;
  readonly message: string;
  /** The token acting: its name, and its id when it has a row. */
  readonly actor: { readonly name: string; readonly tokenId: number | null };
}) => Promise<void>;

/** Rows inserted per statement. */
const INSERT_CHUNK = 200;

/**
 * Writes of rollouts and their steps. Every write is one transaction with the rollout
 * event it causes (published after the commit), as registry transitions are.
 *
 * Each write made while running a rollout first renews the running replica's lease (see
 * {@link holdLease}): a replica whose lease was taken over finds out there and writes
 * nothing, so a rollout's steps are never written by two replicas.
 */
export class RolloutStore {
  constructor(
    private readonly database: Database,
    private readonly events: EventLogService,
    private readonly clock: Clock,
  ) {}

  /**
   * Stores a new rollout, running and held by `owner`, and records ROLLOUT_STARTED.
   * CONFLICT when one of its processes is in a rollout still running.
   */
  async create(plan: NewRollout, owner: string, leaseMs: number): Promise<StoredRollout> {
    return this.write(async (manager, record) => {
      await this.serialiseCreation(manager);
      await this.refuseBusy(
        manager,
        plan.steps.map((s) => s.processName),
      );
      const now = this.clock.now();
      const inserted = await manager.insert(RolloutEntity, {
        action: plan.action,
        state: RolloutState.RUNNING,
        maxUnavailable: plan.maxUnavailable,
        waitForHealthy: plan.waitForHealthy,
        healthTimeoutSeconds: plan.healthTimeoutSeconds,
        pauseSeconds: plan.pauseSeconds,
        createdBy: plan.actor.name.slice(0, 100),
        createdByTokenId: plan.actor.tokenId,
        createdByRole: plan.actor.role,
        createdByPattern: plan.actor.processPattern,
        createdAt: now,
        finishedAt: null,
        cancelRequestedAt: null,
        cancelledBy: null,
        cancelledByTokenId: null,
        leaseOwner: owner,
        leaseUntil: new Date(now.getTime() + leaseMs),
      });
      const id = Number(inserted.identifiers[0]?.id);
      if (!Number.isInteger(id)) throw new Error("the rollouts table returned no id");
      const rows = plan.steps.map((step) => ({
        rolloutId: id,
        position: step.position,
        batch: step.batch,
        processName: step.processName,
        supervisorHost: step.supervisorHost,
        supervisorPort: step.supervisorPort,
        program: step.program,
        action: step.action,
        outcome: StepOutcome.PENDING,
        pidBefore: null,
        startedAt: null,
        finishedAt: null,
        errorCode: null,
        errorMessage: null,
      }));
      for (let i = 0; i < rows.length; i += INSERT_CHUNK) {
        await manager.insert(RolloutStepEntity, rows.slice(i, i + INSERT_CHUNK));
      }
      const rollout = (await loadRollout(manager, id))!;
      await record({
        kind: ProcessEventKind.ROLLOUT_STARTED,
        processName: "",
        message: startedMessage(rollout),
        actor: rollout.actor,
      });
      return rollout;
    });
  }

  /**
   * Saves `step` (moved from outcome `from`) under `owner`'s lease, and records
   * ROLLOUT_STEP for its process. LeaseLost when `owner` no longer holds it.
   */
  async saveStep(
    rollout: StoredRollout,
    owner: string,
    leaseMs: number,
    step: RolloutStep,
    from: StepOutcome,
  ): Promise<void> {
    await this.write(async (manager, record) => {
      await holdLease(manager, rollout.id, owner, new Date(this.clock.now().getTime() + leaseMs));
      const saved = await manager.update(
        RolloutStepEntity,
        { rolloutId: rollout.id, position: step.position, outcome: from },
        {
          outcome: step.outcome,
          pidBefore: step.pidBefore,
          startedAt: step.startedAt,
          finishedAt: step.finishedAt,
          errorCode: step.error?.code.slice(0, 40) ?? null,
          errorMessage: step.error?.message.slice(0, 1000) ?? null,
        },
      );
      if (saved.affected === 0) throw new Error(`step ${step.position} of rollout ${rollout.id} was not ${from}`);
      await record({
        kind: ProcessEventKind.ROLLOUT_STEP,
        processName: step.processName,
        message: stepMessage(rollout.id, rollout.steps.length, step),
        actor: rollout.actor,
      });
    });
  }

  /**
   * Ends the rollout in `state` under `owner`'s lease: the steps not begun become SKIPPED
   * (or CANCELLED), the lease is let go, and ROLLOUT_FINISHED says why.
   */
  async finish(rollout: StoredRollout, owner: string, leaseMs: number, state: RolloutState): Promise<StoredRollout> {
    return this.write(async (manager, record) => {
      await holdLease(manager, rollout.id, owner, new Date(this.clock.now().getTime() + leaseMs));
      const notBegun = state === RolloutState.CANCELLED ? StepOutcome.CANCELLED : StepOutcome.SKIPPED;
      await manager.update(
        RolloutStepEntity,
        { rolloutId: rollout.id, outcome: In([StepOutcome.PENDING]) },
        { outcome: notBegun },
      );
      await manager.update(
        RolloutEntity,
        { id: rollout.id },
        { state, finishedAt: this.clock.now(), leaseOwner: null, leaseUntil: null },
      );
      const finished = (await loadRollout(manager, rollout.id))!;
      const why = finishReason(state, finished.steps, finished.cancelledBy);
      await record({
        kind: ProcessEventKind.ROLLOUT_FINISHED,
        processName: "",
        message: finishedMessage(rollout.id, state, finished.steps, why),
        // A cancelled rollout ends by its canceller's word.
        actor:
          state === RolloutState.CANCELLED && finished.cancelledBy
            ? { name: finished.cancelledBy, tokenId: finished.cancelledByTokenId }
            : rollout.actor,
      });
      return finished;
    });
  }

  /** Asks the replica running it to cancel; false when it is not running or already asked. */
  async requestCancel(id: number, by: Principal): Promise<boolean> {
    const updated = await this.database.write(() =>
      this.database.dataSource
        .createQueryBuilder()
        .update(RolloutEntity)
        .set({
          cancelRequestedAt: this.clock.now(),
          cancelledBy: by.name.slice(0, 100),
          cancelledByTokenId: by.tokenId,
        })
        .where("id = :id AND state = :running AND cancel_requested_at IS NULL", {
          id,
          running: RolloutState.RUNNING,
        })
        .execute(),
    );
    return updated.affected !== 0;
  }

  /** Whether a cancel was asked for (a cheap read while a rollout pauses). */
  async cancelRequested(id: number): Promise<boolean> {
    const row = await this.database.dataSource
      .getRepository(RolloutEntity)
      .findOne({ where: { id }, select: { id: true, cancelRequestedAt: true } });
    return row?.cancelRequestedAt != null;
  }

  /**
   * Rollouts are created one at a time across replicas, so that two cannot both find a
   * process free and both take it: on MySQL the deployment's one row is locked for the
   * transaction; SQLite runs one transaction at a time anyway.
   */
  private async serialiseCreation(manager: EntityManager): Promise<void> {
    if (this.database.dialect === "mysql") await manager.query("SELECT id FROM fleetvisor_deployment FOR UPDATE");
  }

  /** CONFLICT naming the processes that a running rollout holds. */
  private async refuseBusy(manager: EntityManager, names: readonly string[]): Promise<void> {
    const busy = (await manager
      .getRepository(RolloutStepEntity)
      .createQueryBuilder("s")
      .innerJoin(RolloutEntity, "r", "r.id = s.rollout_id")
      .select("s.process_name", "name")
      .addSelect("r.id", "rolloutId")
      .where("r.state = :running", { running: RolloutState.RUNNING })
      .andWhere("s.process_name IN (:...names)", { names: [...names] })
      .getRawMany()) as { name: string; rolloutId: number | string }[];
    if (busy.length === 0) return;
    const named = busy
      .slice(0, 10)
      .map((b) => `${b.name} (rollout ${b.rolloutId})`)
      .join(", ");
    throw new ConflictError(
      `${busy.length} of these processes are in a rollout still running: ${named}${busy.length > 10 ? ", …" : ""}; cancel it or wait for it`,
    );
  }

  /** A transaction whose rollout events are recorded in it and published after the commit. */
  private async write<T>(work: (manager: EntityManager, record: RecordEvent) => Promise<T>): Promise<T> {
    const recorded: ProcessEventRecord[] = [];
    const result = await this.database.transaction(async (manager) =>
      work(manager, async (draft) => {
        const process = draft.processName ? await findProcess(manager, draft.processName) : null;
        recorded.push(
          await this.events.record(
            manager,
            {
              kind: draft.kind,
              processName: draft.processName,
              actor: draft.actor.name,
              actorTokenId: draft.actor.tokenId,
              message: draft.message,
              status: process?.status ?? null,
            },
            process,
          ),
        );
      }),
    );
    await this.events.publish(recorded);
    return result;
  }
}
