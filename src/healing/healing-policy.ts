import { matchesProcessPattern, processPatternProblem } from "../auth/process-pattern.js";
import type { InvalidField } from "../errors.js";

/** When and how often the healer may restart the processes a pattern matches. */
export interface HealingPolicy {
  /** A process name, or a prefix followed by `*` (`domaeka-*`; `*` alone for every process). */
  readonly namePattern: string;
  /** Restart once the run has sent no heartbeat for this long while supervisord runs it. */
  readonly restartWhenUnresponsiveAfterSeconds: number;
  /** Never restart a run younger than this (whoever started it). */
  readonly graceAfterStartSeconds: number;
  /** At most this many automatic restarts … */
  readonly maxRestarts: number;
  /** … in any window this long; one more is a quarantine instead. */
  readonly perSeconds: number;
}

/** The bounds of each field, inclusive. */
export const POLICY_LIMITS = {
  restartWhenUnresponsiveAfterSeconds: { min: 1, max: 86_400 },
  graceAfterStartSeconds: { min: 0, max: 86_400 },
  maxRestarts: { min: 1, max: 1_000 },
  perSeconds: { min: 1, max: 7 * 86_400 },
} as const;

/** Every problem with `input`, each naming its field; empty when it is a valid policy. */
export function policyProblems(input: HealingPolicy): InvalidField[] {
  const problems: InvalidField[] = [];
  const pattern = processPatternProblem(input.namePattern);
  if (pattern) problems.push({ field: "namePattern", message: pattern });
  for (const [field, { min, max }] of Object.entries(POLICY_LIMITS)) {
    const value = input[field as keyof typeof POLICY_LIMITS];
    if (!Number.isInteger(value) || value < min || value > max) {
      const kind = min === 0 ? "a whole number" : "a positive whole number";
      problems.push({ field, message: `must be ${kind} between ${min} and ${max} (got ${value})` });
    }
  }
  return problems;
}

/**
 * The policy that governs `name`: the most specific one that matches. An exact name beats
 * every pattern; among prefixes, the longest wins (`domaeka-live-*` over `domaeka-*` over
 * `*`). Patterns are unique, so at most one of each length can match a name.
 */
export function policyFor<P extends HealingPolicy>(name: string, policies: readonly P[]): P | undefined {
  let best: P | undefined;
  for (const policy of policies) {
    if (!matchesProcessPattern(name, policy.namePattern)) continue;
    if (!best || specificity(policy.namePattern) > specificity(best.namePattern)) best = policy;
  }
  return best;
}

/** Exact names rank above every prefix; longer prefixes above shorter ones. */
function specificity(pattern: string): number {
  return pattern.endsWith("*") ? pattern.length - 1 : Number.MAX_SAFE_INTEGER;
}
