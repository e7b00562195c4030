import { In, type DataSource, type EntityManager, type SelectQueryBuilder } from "typeorm";
import { mayTouchProcess, type Principal } from "../auth/principal.js";
import { processPatternCondition } from "../auth/process-pattern.js";
import { RolloutStepEntity } from "../db/rollout-step.entity.js";
import { RolloutEntity } from "../db/rollout.entity.js";
import type { Role } from "../domain/role.js";
import type { RolloutAction, RolloutState, StepAction, StepOutcome } from "../domain/rollout.js";
import { BadUserInputError, ForbiddenError, NotFoundError } from "../errors.js";
import type { RolloutStep, StoredRollout } from "./rollout.js";

/** The most rollouts one page holds. */
export const MAX_ROLLOUT_PAGE = 50;

/** A rollout id as clients pass it (a GraphQL ID), or the problem with it. */
export function parseRolloutId(id: string, field = "id"): number {
  if (!/^\d{1,9}$/.test(id) || Number(id) < 1) {
    throw BadUserInputError.of([{ field, message: `must be a rollout id (got "${id}")` }]);
  }
  return Number(id);
}

/** Whether `principal` may see and act on the whole rollout: every one of its processes. */
export function mayTouchRollout(principal: Principal, rollout: StoredRollout): boolean {
  return rollout.steps.every((step) => mayTouchProcess(principal, step.processName));
}

function toStep(row: RolloutStepEntity): RolloutStep {
  return {
    position: row.position,
    batch: row.batch,
    processName: row.processName,
    supervisorHost: row.supervisorHost,
    supervisorPort: row.supervisorPort === null ? null : Number(row.supervisorPort),
    program: row.program,
    action: row.action as StepAction,
    outcome: row.outcome as StepOutcome,
    pidBefore: row.pidBefore,
    startedAt: row.startedAt,
    finishedAt: row.finishedAt,
    error: row.errorCode === null ? null : { code: row.errorCode, message: row.errorMessage ?? "" },
  };
}

function toRollout(row: RolloutEntity, steps: readonly RolloutStepEntity[]): StoredRollout {
  return {
    id: Number(row.id),
    action: row.action as RolloutAction,
    state: row.state as RolloutState,
    maxUnavailable: row.maxUnavailable,
    waitForHealthy: Boolean(row.waitForHealthy),
    healthTimeoutSeconds: row.healthTimeoutSeconds,
    pauseSeconds: row.pauseSeconds,
    createdBy: row.createdBy,
    createdAt: row.createdAt,
    finishedAt: row.finishedAt,
    cancelRequestedAt: row.cancelRequestedAt,
    cancelledBy: row.cancelledBy,
    steps: steps.map(toStep),
    actor: {
      tokenId: row.createdByTokenId,
      name: row.createdBy,
      role: row.createdByRole as Role,
      processPattern: row.createdByPattern,
    },
    cancelledByTokenId: row.cancelledByTokenId,
    leaseOwner: row.leaseOwner,
  };
}

/** One rollout with its steps, in `manager`'s transaction or outside one; `null` when there is none. */
export async function loadRollout(manager: EntityManager, id: number): Promise<StoredRollout | null> {
  const row = await manager.findOne(RolloutEntity, { where: { id } });
  if (!row) return null;
  const steps = await manager.find(RolloutStepEntity, { where: { rolloutId: id }, order: { position: "ASC" } });
  return toRollout(row, steps);
}

/** Reads of rollouts, each limited to what the caller may see. */
export class RolloutReads {
  constructor(private readonly dataSource: DataSource) {}

  /** The rollout, as any replica stored it last; `null` when there is none. */
  async find(id: number): Promise<StoredRollout | null> {
    return loadRollout(this.dataSource.manager, id);
  }

  /**
   * The rollout `id` for `principal`: NOT_FOUND when there is none, FORBIDDEN when its
   * token is bound to a pattern that does not cover every process of it.
   */
  async get(id: number, principal: Principal): Promise<StoredRollout> {
    const rollout = await this.find(id);
    if (!rollout) throw new NotFoundError(`no rollout ${id}`, { rolloutId: String(id) });
    if (!mayTouchRollout(principal, rollout)) {
      throw new ForbiddenError(
        `token "${principal.name}" is bound to "${principal.processPattern}" and may not touch every process of rollout ${id}`,
      );
    }
    return rollout;
  }

  /**
   * Rollouts newest first, `first` (1 to {@link MAX_ROLLOUT_PAGE}) after the one whose
   * id is `after`; a token bound to a pattern sees those whose every process it may touch.
   */
  async page(
    first: number,
    after: number | null,
    principal: Principal,
  ): Promise<{ rollouts: StoredRollout[]; hasNextPage: boolean }> {
    if (!Number.isInteger(first) || first < 1 || first > MAX_ROLLOUT_PAGE) {
      throw BadUserInputError.of([
        { field: "first", message: `must be between 1 and ${MAX_ROLLOUT_PAGE} (got ${first})` },
      ]);
    }
    const query = this.dataSource.getRepository(RolloutEntity).createQueryBuilder("r");
    if (after !== null) query.where("r.id < :after", { after });
    restrictToPrincipal(query, principal);
    const rows = await query
      .orderBy("r.id", "DESC")
      .take(first + 1)
      .getMany();
    const shown = rows.slice(0, first);
    const steps =
      shown.length === 0
        ? []
        : await this.dataSource.getRepository(RolloutStepEntity).find({
            where: { rolloutId: In(shown.map((r) => r.id)) },
            order: { rolloutId: "ASC", position: "ASC" },
          });
    return {
      rollouts: shown.map((row) =>
        toRollout(
          row,
          steps.filter((s) => s.rolloutId === row.id),
        ),
      ),
      hasNextPage: rows.length > first,
    };
  }
}

/** A token bound to a pattern sees only rollouts with no process outside it. */
function restrictToPrincipal(query: SelectQueryBuilder<RolloutEntity>, principal: Principal): void {
  const pattern = principal.processPattern;
  if (pattern === null || pattern === "*") return;
  const inside = processPatternCondition("s.process_name", pattern, "bound");
  query.andWhere(
    `NOT EXISTS (SELECT 1 FROM fleetvisor_rollout_steps s WHERE s.rollout_id = r.id AND NOT (${inside.where}))`,
    inside.parameters,
  );
}
