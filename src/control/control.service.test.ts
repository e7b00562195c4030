import { describe, expect, it, vi } from "vitest";
import type { Principal } from "../auth/principal.js";
import type { ProcessEntity } from "../db/process.entity.js";
import { ProcessStatus } from "../domain/process-status.js";
import { Role } from "../domain/role.js";
import { BadUserInputError, DatabaseUnavailableError, ErrorCode } from "../errors.js";
import { createLogger } from "../logger.js";
import type { ProcessFilter, ProcessReads } from "../registry/process-reads.js";
import type { DesiredStates } from "../registry/desired-states.js";
import type { Transitions } from "../registry/transitions.js";
import type { SupervisorClient } from "../supervisor/supervisor-client.js";
import { SupervisorFault } from "../supervisor/supervisor.errors.js";
import { ControlService, MAX_PARALLEL } from "./control.service.js";

const operator: Principal = { tokenId: 7, name: "ops", role: Role.OPERATOR, processPattern: null };
const byPrefix: ProcessFilter = { namePrefix: "web-" };

function row(name: string, supervisorHost: string | null = `host-of-${name}`, supervisorPort = 9001): ProcessEntity {
  return {
    id: 1,
    name,
    port: 8000,
    pid: 100,
    status: ProcessStatus.RUNNING,
    supervisorHost,
    supervisorPort: supervisorHost === null ? null : supervisorPort,
    program: name,
    lastHeartbeat: null,
    createdAt: null,
    updatedAt: null,
    desiredState: null,
    drift: null,
  };
}

/**
 * The service over fakes of the registry reads; the work on one process (what `restart`
 * does against supervisord and the registry) is the test's.
 */
function control(rows: readonly ProcessEntity[]) {
  const lines: string[] = [];
  const reads = {
    list: vi.fn(async () => [...rows]),
    get: vi.fn(async (name: string) => rows.find((r) => r.name === name) ?? null),
  };
  const service = new ControlService(
    reads as unknown as ProcessReads,
    {} as Transitions,
    {} as DesiredStates,
    {} as SupervisorClient,
    createLogger("error", {}, { write: (line) => lines.push(line) }),
    { controlTimeoutMs: 60_000 },
  );
  return { service, reads, lines, restart: vi.spyOn(service, "restart") };
}

const settle = () => new Promise((resolve) => setImmediate(resolve));

describe("ControlService.bulk", () => {
  it("acts on the registry's selection in its order; after a supervisord fault the rest are SKIPPED, each with its row", async () => {
    const rows = [row("web-01"), row("web-02"), row("web-03")];
    const { service, restart } = control(rows);
    const fault = new SupervisorFault({ host: "host-of-web-02", port: 9001 }, "SPAWN_ERROR", 50, "web-02");
    restart.mockImplementation(async (name) => {
      if (name === "web-02") throw fault;
      return rows.find((r) => r.name === name)!;
    });

    const results = await service.bulk("restart", byPrefix, { maxParallel: 1, continueOnError: false }, operator);

    expect(restart.mock.calls).toEqual([
      ["web-01", operator],
      ["web-02", operator],
    ]);
    expect(results).toEqual([
      { name: "web-01", outcome: "DONE", process: rows[0], error: null },
      {
        name: "web-02",
        outcome: "FAILED",
        process: rows[1],
        error: { code: ErrorCode.SUPERVISOR_FAULT, message: fault.message, faultName: "SPAWN_ERROR" },
      },
      { name: "web-03", outcome: "SKIPPED", process: rows[2], error: null },
    ]);
  });

  it("with continueOnError, every selected process is tried", async () => {
    const rows = [row("web-01"), row("web-02"), row("web-03")];
    const { service, restart } = control(rows);
    restart.mockRejectedValueOnce(new SupervisorFault({ host: "h", port: 1 }, "SPAWN_ERROR", 50, ""));
    restart.mockImplementation(async (name) => rows.find((r) => r.name === name)!);
    const results = await service.bulk("restart", byPrefix, { maxParallel: 1, continueOnError: true }, operator);
    expect(results.map((r) => r.outcome)).toEqual(["FAILED", "DONE", "DONE"]);
  });

  it("an unexpected error is FAILED as INTERNAL_SERVER_ERROR, its message masked and logged", async () => {
    const rows = [row("web-01")];
    const { service, restart, lines } = control(rows);
    restart.mockRejectedValue(new Error("socket hang up at 10.0.0.7"));
    const [result] = await service.bulk("restart", byPrefix, { maxParallel: 1, continueOnError: false }, operator);
    expect(result!.error).toEqual({
      code: ErrorCode.INTERNAL_SERVER_ERROR,
      message: "Internal server error",
      faultName: null,
    });
    expect(lines.map((line) => JSON.parse(line) as Record<string, unknown>)).toEqual([
      expect.objectContaining({ msg: "control failed", process: "web-01", action: "restart" }),
    ]);
  });

  it("never two at once on one supervisord, named as the registry names it (host case aside)", async () => {
    const rows = [
      row("web-01", "Node-A"),
      row("web-02", "node-a"),
      row("web-03", "node-b"),
      row("web-04", "node-a", 9002),
    ];
    const { service, restart } = control(rows);
    const underWay = new Set<ProcessEntity>();
    const overlaps: string[] = [];
    let most = 0;
    restart.mockImplementation(async (name) => {
      const mine = rows.find((r) => r.name === name)!;
      for (const other of underWay) {
        if (
          other.supervisorHost!.toLowerCase() === mine.supervisorHost!.toLowerCase() &&
          other.supervisorPort === mine.supervisorPort
        ) {
          overlaps.push(`${other.name} with ${name}`);
        }
      }
      underWay.add(mine);
      most = Math.max(most, underWay.size);
      await settle();
      underWay.delete(mine);
      return mine;
    });
    const results = await service.bulk("restart", byPrefix, { maxParallel: 10, continueOnError: false }, operator);
    expect(results.map((r) => r.outcome)).toEqual(["DONE", "DONE", "DONE", "DONE"]);
    expect(overlaps).toEqual([]);
    // web-01, web-03 and web-04 (another port) together; web-02 after web-01.
    expect(most).toBe(3);
    expect(restart.mock.calls.map(([name]) => name)).toEqual(["web-01", "web-03", "web-04", "web-02"]);
  });

  it.each([
    ["maxParallel 0", { maxParallel: 0 }, byPrefix, "maxParallel"],
    [`maxParallel ${MAX_PARALLEL + 1}`, { maxParallel: MAX_PARALLEL + 1 }, byPrefix, "maxParallel"],
    ["maxParallel 1.5", { maxParallel: 1.5 }, byPrefix, "maxParallel"],
    ["a filter that selects everything", { maxParallel: 1 }, {}, "filter"],
  ])("refuses %s before reading the registry", async (_label, { maxParallel }, filter, field) => {
    const { service, reads, restart } = control([row("web-01")]);
    const refusal = await service
      .bulk("stop", filter, { maxParallel, continueOnError: false }, operator)
      .catch((error: unknown) => error);
    expect(refusal).toBeInstanceOf(BadUserInputError);
    expect((refusal as BadUserInputError).invalidFields).toEqual([expect.objectContaining({ field })]);
    expect(reads.list).not.toHaveBeenCalled();
    expect(restart).not.toHaveBeenCalled();
  });
});

describe("ControlService.stop", () => {
  /** The service over fakes that note, in order, the registry mark and the call to supervisord. */
  function marking(beginAction: () => Promise<{ changed: boolean }>) {
    const steps: string[] = [];
    const target = row("web-01");
    const service = new ControlService(
      { get: vi.fn(async () => target) } as unknown as ProcessReads,
      {
        moveAndRecord: vi.fn(async () => {
          steps.push("settled");
          return { process: target };
        }),
      } as unknown as Transitions,
      {
        beginAction: vi.fn(async () => {
          const marked = await beginAction();
          steps.push("marked");
          return marked;
        }),
        endAction: vi.fn(async () => undefined),
      } as unknown as DesiredStates,
      {
        stopProcess: vi.fn(async () => {
          steps.push("supervisord");
          return true;
        }),
      } as unknown as SupervisorClient,
      createLogger("error", {}, { write: () => undefined }),
      { controlTimeoutMs: 60_000 },
    );
    return { service, steps };
  }

  it("commits the mark before supervisord is asked: the server's deregistration comes after it", async () => {
    const { service, steps } = marking(async () => {
      await settle();
      return { changed: true };
    });
    await service.stop("web-01", operator);
    expect(steps).toEqual(["marked", "supervisord", "settled"]);
  });

  it("a mark the database refuses ends the stop before supervisord is asked", async () => {
    const down = new DatabaseUnavailableError("the database did not answer within 4000 ms");
    const { service, steps } = marking(async () => {
      throw down;
    });
    await expect(service.stop("web-01", operator)).rejects.toBe(down);
    expect(steps).toEqual([]);
  });
});
