import { Brackets } from "typeorm";
import { assertMayTouch, type Principal } from "../auth/principal.js";
import type { Clock } from "../clock.js";
import type { Database } from "../db/database.js";
import { ProcessEntity } from "../db/process.entity.js";
import { ProcessEventKind } from "../domain/event-kind.js";
import { ProcessStatus } from "../domain/process-status.js";
import { check, pidProblem, processNameProblem } from "../domain/validation.js";
import { beforeDeadline } from "../db/deadline.js";
import { BadUserInputError, type InvalidField } from "../errors.js";
import type { EventLogService } from "../events/event-log.service.js";
import { HEARTBEAT_STATUSES, HeartbeatWriter } from "./heartbeat-writer.js";
import { findProcess, mustFindProcess, processNotFound } from "./process-rows.js";
import type { Transitions } from "./transitions.js";

export interface Registration {
  readonly process: ProcessEntity;
  readonly port: number;
  readonly heartbeatIntervalSeconds: number;
}

export interface HeartbeatAck {
  /** `false`: the registry does not consider this pid registered; call `registerProcess` again. */
  readonly ok: boolean;
  readonly serverTime: Date;
  readonly nextHeartbeatInSeconds: number;
  readonly message: string | null;
}

export interface AgentLifecycleSettings {
  readonly heartbeatIntervalSeconds: number;
  /**
   * The most a call takes from when its request arrived, after which it answers
   * DATABASE_UNAVAILABLE (the registry clients wait 3 s, then retry).
   */
  readonly callTimeoutMs: number;
}

/**
 * What managed servers report through their registry client: register, heartbeat,
 * deregister (HeartbeatWatchdog notices when they stop beating).
 */
export class AgentLifecycle {
  private readonly heartbeats: HeartbeatWriter;

  constructor(
    private readonly database: Database,
    private readonly transitions: Transitions,
    private readonly events: EventLogService,
    private readonly settings: AgentLifecycleSettings,
    private readonly clock: Clock,
  ) {
    this.heartbeats = new HeartbeatWriter(database, clock);
  }

  /**
   * A managed server starting up: `running`, with its pid and a fresh heartbeat.
   * `receivedAt` (epoch ms) starts the call's time budget.
   */
  async register(name: string, pid: number, principal: Principal, receivedAt = Date.now()): Promise<Registration> {
    checkNameAndPid(name, pid);
    assertMayTouch(principal, name);
    return beforeDeadline(receivedAt + this.settings.callTimeoutMs, () => this.registered(name, pid, principal));
  }

  private async registered(name: string, pid: number, principal: Principal): Promise<Registration> {
    const now = this.clock.now();
    const process = await this.transitions.run(name, principal, async (manager, record) => {
      const changed = await manager
        .createQueryBuilder()
        .update(ProcessEntity)
        .set({ pid, status: ProcessStatus.RUNNING, lastHeartbeat: now, updatedAt: now })
        .where("process_name = :name", { name })
        .andWhere(
          new Brackets((w) =>
            w
              .where("status IS NULL")
              .orWhere("status <> :running", { running: ProcessStatus.RUNNING })
              .orWhere("pid IS NULL")
              .orWhere("pid <> :pid", { pid }),
          ),
        )
        .execute();
      if (changed.affected === 0) {
        // Either unknown, or this very pid registering again (a retried call): stamp it.
        const stamped = await manager
          .createQueryBuilder()
          .update(ProcessEntity)
          .set({ lastHeartbeat: now, updatedAt: () => "updated_at" })
          .where("process_name = :name", { name })
          .execute();
        if (stamped.affected === 0) throw processNotFound(name);
        return mustFindProcess(manager, name);
      }
      const row = await mustFindProcess(manager, name);
      await record({ kind: ProcessEventKind.REGISTERED, message: `registered with pid ${pid}` }, row);
      return row;
    });
    return { process, port: process.port, heartbeatIntervalSeconds: this.settings.heartbeatIntervalSeconds };
  }

  /**
   * The hot path: one conditional UPDATE (shared with the heartbeats that arrive at the
   * same moment) stamps the heartbeat of the registered pid. Only when it matches nothing
   * do further statements look at why.
   */
  async heartbeat(name: string, pid: number, principal: Principal, receivedAt = Date.now()): Promise<HeartbeatAck> {
    checkNameAndPid(name, pid);
    assertMayTouch(principal, name);
    return beforeDeadline(receivedAt + this.settings.callTimeoutMs, () => this.beat(name, pid, principal));
  }

  private async beat(name: string, pid: number, principal: Principal): Promise<HeartbeatAck> {
    const ack = (ok: boolean, message: string | null = null, serverTime = this.clock.now()): HeartbeatAck => ({
      ok,
      serverTime,
      nextHeartbeatInSeconds: this.settings.heartbeatIntervalSeconds,
      message,
    });

    const stamped = await this.heartbeats.stamp(name, pid);
    if (stamped.matched) {
      this.events.publishHeartbeat(name, principal.name, stamped.at, null);
      return ack(true, null, stamped.at);
    }

    // A process in `error` that still beats is alive again.
    const now = this.clock.now();
    const restored = await this.transitions.run(name, principal, async (manager, record) => {
      const changed = await manager
        .createQueryBuilder()
        .update(ProcessEntity)
        .set({ status: ProcessStatus.RUNNING, lastHeartbeat: now, updatedAt: now })
        .where("process_name = :name AND pid = :pid AND status = :error", { name, pid, error: ProcessStatus.ERROR })
        .execute();
      if (changed.affected === 0) return null;
      const row = await mustFindProcess(manager, name);
      await record({ kind: ProcessEventKind.HEARTBEAT_RESTORED, message: `heartbeat from pid ${pid}` }, row);
      return row;
    });
    if (restored) {
      this.events.publishHeartbeat(name, principal.name, now, restored.status);
      return ack(true);
    }

    const row = await findProcess(this.database.dataSource.manager, name);
    if (!row) throw processNotFound(name);
    if (row.status !== null && !HEARTBEAT_STATUSES.includes(row.status) && row.status !== ProcessStatus.ERROR) {
      return ack(false, `${name} is ${row.status} in the registry; call registerProcess`);
    }
    return ack(false, `pid ${pid} is not the registered pid of ${name} (${row.pid ?? "none"}); call registerProcess`);
  }

  /** A managed server shutting down cleanly: `stopped`, pid cleared. */
  async deregister(name: string, principal: Principal, receivedAt = Date.now()): Promise<ProcessEntity> {
    const problems: InvalidField[] = [];
    check(problems, "name", name, processNameProblem);
    if (problems.length > 0) throw BadUserInputError.of(problems);
    assertMayTouch(principal, name);
    return beforeDeadline(receivedAt + this.settings.callTimeoutMs, () => this.deregistered(name, principal));
  }

  private async deregistered(name: string, principal: Principal): Promise<ProcessEntity> {
    const now = this.clock.now();
    return this.transitions.run(name, principal, async (manager, record) => {
      const changed = await manager
        .createQueryBuilder()
        .update(ProcessEntity)
        .set({ pid: null, status: ProcessStatus.STOPPED, updatedAt: now })
        .where("process_name = :name", { name })
        .andWhere(
          new Brackets((w) =>
            w
              .where("status IS NULL")
              .orWhere("status <> :stopped", { stopped: ProcessStatus.STOPPED })
              .orWhere("pid IS NOT NULL"),
          ),
        )
        .execute();
      const row = await findProcess(manager, name);
      if (!row) throw processNotFound(name);
      if (changed.affected !== 0) await record({ kind: ProcessEventKind.DEREGISTERED, message: null }, row);
      return row;
    });
  }
}

function checkNameAndPid(name: string, pid: number): void {
  const problems: InvalidField[] = [];
  check(problems, "name", name, processNameProblem);
  check(problems, "pid", pid, pidProblem);
  if (problems.length > 0) throw BadUserInputError.of(problems);
}
