import type { EntityManager } from "typeorm";
import { describe, expect, it } from "vitest";
import { ManualClock } from "../clock.js";
import type { ProcessEntity } from "../db/process.entity.js";
import { DesiredState } from "../domain/desired-state.js";
import { ProcessEventKind as K } from "../domain/event-kind.js";
import { ProcessStatus } from "../domain/process-status.js";
import type { ProcessEventRecord } from "../events/process-event.js";
import { IncidentTracker } from "./incident-tracker.js";

/**
 * A manager that answers every read with nothing (no incident open, no earlier state
 * change) and keeps the name of each call: what the hook asks of the database.
 */
function recordingManager(): { manager: EntityManager; calls: string[] } {
  const calls: string[] = [];
  const chain: object = new Proxy(
    {},
    {
      get: (_, prop) =>
        prop === "then" ? undefined : prop === "getRawMany" || prop === "getMany" ? async () => [] : () => chain,
    },
  );
  const manager = new Proxy(
    {},
    {
      get: (_, prop) => {
        if (prop === "then") return undefined;
        return (...args: unknown[]) => {
          calls.push(String(prop));
          if (prop === "find") return Promise.resolve([]);
          if (prop === "createQueryBuilder") return chain;
          throw new Error(`unexpected ${String(prop)}(${args.length} arguments)`);
        };
      },
    },
  ) as EntityManager;
  return { manager, calls };
}

const process = {
  name: "web-1",
  supervisorHost: "10.0.0.5",
  supervisorPort: 9101,
  desiredState: DesiredState.RUNNING,
} as ProcessEntity;

function event(kind: K, status: ProcessStatus | null, message: string | null = null): ProcessEventRecord {
  return { id: "7", kind, processName: "web-1", at: new Date(), actor: "t", message, status, process };
}

async function queriesFor(recorded: ProcessEventRecord): Promise<string[]> {
  const tracker = new IncidentTracker(new ManualClock(), { threshold: 5, windowSeconds: 300 }, "mysql");
  const { manager, calls } = recordingManager();
  await tracker.hook(manager, recorded, () => Promise.reject(new Error("nothing to record")));
  return calls;
}

describe("what recording an event costs in incident queries (none open)", () => {
  it.each<[string, ProcessEventRecord]>([
    ["a status move to STARTING", event(K.STATUS_CHANGED, ProcessStatus.STARTING)],
    ["a status move to ERROR", event(K.STATUS_CHANGED, ProcessStatus.ERROR)],
    ["an update", event(K.UPDATED, ProcessStatus.RUNNING)],
    ["a creation", event(K.CREATED, null)],
    ["a status move to STOPPING", event(K.STATUS_CHANGED, ProcessStatus.STOPPING)],
    ["a rollout step", event(K.ROLLOUT_STEP, ProcessStatus.RUNNING)],
  ])("%s: no query at all", async (_, recorded) => {
    expect(await queriesFor(recorded)).toEqual([]);
  });

  it("an event that may end incidents: one plain read of their keys, no lock", async () => {
    expect(await queriesFor(event(K.REGISTERED, ProcessStatus.RUNNING))).toEqual(["find"]);
    expect(await queriesFor(event(K.DELETED, null))).toEqual(["find"]);
    expect(await queriesFor(event(K.QUARANTINE_CLEARED, null))).toEqual(["find"]);
    expect(await queriesFor(event(K.STATUS_CHANGED, ProcessStatus.STOPPED))).toEqual(["find"]);
  });

  it("a supervisord state change: only the flap count, unless it is a return from UNREACHABLE", async () => {
    expect(await queriesFor(event(K.SUPERVISOR_STATE_CHANGED, null, "STARTING → RUNNING (pid 4) (poll)"))).toEqual([
      "createQueryBuilder",
    ]);
    expect(await queriesFor(event(K.SUPERVISOR_STATE_CHANGED, null, "UNREACHABLE → RUNNING (pid 4) (poll)"))).toEqual([
      "find",
      "createQueryBuilder",
    ]);
  });
});
