import { deriveHealth, ProcessHealth, type RegistryView } from "../health/health.js";
import { SupervisorState, type SupervisorProcessInfo } from "../supervisor/supervisor-state.js";
import type { HealingPolicy } from "./healing-policy.js";

/** What the healer makes of one run of a process, before it looks at the budget. */
export type RunJudgement =
  /** supervisord does not say RUNNING: starting, stopping, crashed, stopped — not the healer's business. */
  | { readonly kind: "not-running" }
  /** Started less than the grace period ago: never restarted, whatever its heartbeat. */
  | { readonly kind: "in-grace"; readonly uptimeSeconds: number }
  | { readonly kind: "responsive" }
  /** RUNNING, past its grace, and no heartbeat from this run for the policy's limit. */
  | { readonly kind: "unresponsive"; readonly run: string; readonly reason: string };

/**
 * Whether a run is to be restarted under `policy`. Pure.
 *
 * Unresponsive is health's UNRESPONSIVE ({@link deriveHealth}) with the policy's limit as the
 * stale limit: supervisord runs it, and this run has sent no heartbeat for that long (a
 * heartbeat older than the run's start came from a run before). The grace period counts on
 * supervisord's clock, from the run's start, so it holds for any start: an operator's, a
 * rollout's, supervisord's own autorestart, or the healer's last restart.
 */
export function judgeRun(
  policy: HealingPolicy,
  registry: RegistryView,
  info: SupervisorProcessInfo,
  now: Date,
): RunJudgement {
  if (info.state !== SupervisorState.RUNNING || info.startedAt === null || info.pid === 0) {
    return { kind: "not-running" };
  }
  const uptimeSeconds = (info.now.getTime() - info.startedAt.getTime()) / 1000;
  if (uptimeSeconds < policy.graceAfterStartSeconds) return { kind: "in-grace", uptimeSeconds };
  const health = deriveHealth(registry, { kind: "info", info }, now, policy.restartWhenUnresponsiveAfterSeconds);
  if (health.health !== ProcessHealth.UNRESPONSIVE) return { kind: "responsive" };
  return { kind: "unresponsive", run: runKey(info), reason: health.reasons[0] ?? "unresponsive" };
}

/** One run of a program: its pid and when supervisord started it (a pid alone may come back). */
export function runKey(info: Pick<SupervisorProcessInfo, "pid" | "startedAt">): string {
  return `${info.pid}@${info.startedAt?.getTime() ?? 0}`;
}

/** RESTART while fewer than `maxRestarts` were made in the window, QUARANTINE after. */
export function budgetDecision(restartsInWindow: number, policy: HealingPolicy): "RESTART" | "QUARANTINE" {
  return restartsInWindow < policy.maxRestarts ? "RESTART" : "QUARANTINE";
}
