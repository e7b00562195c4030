import type { Principal } from "../auth/principal.js";
import type { HealingPolicyEntity } from "../db/healing-policy.entity.js";
import type { ProcessEntity } from "../db/process.entity.js";
import { BadUserInputError, ForbiddenError, NotFoundError } from "../errors.js";
import type { ProcessReads } from "../registry/process-reads.js";
import { policyProblems, type HealingPolicy } from "./healing-policy.js";
import type { HealingStore } from "./healing-store.js";

/**
 * The healing commands callers reach through GraphQL: the policies, and clearing a
 * quarantine. The healer itself ({@link Healer}) runs in the background.
 */
export class HealingService {
  constructor(
    private readonly store: HealingStore,
    private readonly processes: ProcessReads,
  ) {}

  policies(): Promise<HealingPolicyEntity[]> {
    return this.store.policies();
  }

  /**
   * Creates or replaces the policy for `input.namePattern`. A policy can reach any process,
   * so a token bound to a pattern may not set one.
   */
  async setPolicy(input: HealingPolicy, principal: Principal): Promise<HealingPolicyEntity> {
    this.mustBeUnbound(principal, "set a healing policy");
    const problems = policyProblems(input);
    if (problems.length > 0) throw BadUserInputError.of(problems);
    return this.store.savePolicy(input, principal);
  }

  /** NOT_FOUND when no policy has exactly this pattern. */
  async deletePolicy(namePattern: string, principal: Principal): Promise<boolean> {
    this.mustBeUnbound(principal, "delete a healing policy");
    if (!(await this.store.deletePolicy(namePattern))) {
      throw new NotFoundError(`no healing policy for the pattern "${namePattern}"`);
    }
    return true;
  }

  /**
   * Ends the process's quarantine (QUARANTINE_CLEARED), so the healer may restart it again,
   * with a fresh budget. A process that is not quarantined is returned as it is.
   */
  async clearQuarantine(name: string, principal: Principal): Promise<ProcessEntity> {
    const row = await this.processes.get(name, principal);
    if (!row) throw new NotFoundError(`no process named "${name}" in the registry`, { processName: name });
    await this.store.clear(name, principal);
    return row;
  }

  /** Of `names`, those under quarantine. */
  quarantined(names: readonly string[]): Promise<Set<string>> {
    return this.store.quarantined(names);
  }

  private mustBeUnbound(principal: Principal, verb: string): void {
    if (principal.processPattern !== null) {
      throw new ForbiddenError(
        `token "${principal.name}" is bound to "${principal.processPattern}" and may not ${verb}: a policy may ` +
          "reach any process",
      );
    }
  }
}
