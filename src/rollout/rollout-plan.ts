import type { ProcessEntity } from "../db/process.entity.js";
import { StepOutcome, type StepAction } from "../domain/rollout.js";
import { addressOf, supervisorKey } from "../supervisor/host-answers.js";
import type { RolloutStep } from "./rollout.js";

/** One process to act on, and what to do to it. */
export interface RolloutTarget {
  readonly process: ProcessEntity;
  readonly action: StepAction;
}

/**
 * The steps of a rollout over `targets` (taken in their order, by name), in batches of at
 * most `maxUnavailable` steps and never two on one supervisord: each target goes into the
 * first batch that has room for it and nothing on its supervisord yet. Positions follow
 * the batches, so the steps are listed in the order they run.
 */
export function planSteps(targets: readonly RolloutTarget[], maxUnavailable: number): RolloutStep[] {
  const batches: { readonly targets: RolloutTarget[]; readonly supervisors: Set<string> }[] = [];
  for (const target of targets) {
    const address = addressOf(target.process);
    const key = address ? supervisorKey(address) : null;
    let batch = batches.find((b) => b.targets.length < maxUnavailable && (key === null || !b.supervisors.has(key)));
    if (!batch) {
      batch = { targets: [], supervisors: new Set() };
      batches.push(batch);
    }
    batch.targets.push(target);
    if (key !== null) batch.supervisors.add(key);
  }
  let position = 0;
  return batches.flatMap((batch, index) =>
    batch.targets.map(({ process, action }) => ({
      position: position++,
      batch: index,
      processName: process.name,
      supervisorHost: process.supervisorHost,
      supervisorPort: process.supervisorPort,
      program: process.program,
      action,
      outcome: StepOutcome.PENDING,
      pidBefore: null,
      startedAt: null,
      finishedAt: null,
      error: null,
    })),
  );
}
