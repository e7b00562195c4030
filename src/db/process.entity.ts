import { Column, Entity, PrimaryGeneratedColumn } from "typeorm";
import type { DesiredState, Drift } from "../domain/desired-state.js";
import { ProcessStatus } from "../domain/process-status.js";

/** Default program name inside a managed container, as the guide hard-coded it. */
export const DEFAULT_PROGRAM = "python-server";

/**
 * One row of `kb_server_processes`, the registry the guide defined. Column names and types
 * stay as the guide's DDL has them so that existing readers keep working.
 */
@Entity({ name: "kb_server_processes" })
export class ProcessEntity {
  @PrimaryGeneratedColumn({ type: "int" })
  id!: number;

  @Column({ name: "process_name", type: "varchar", length: 100, unique: true })
  name!: string;

  @Column({ name: "port", type: "int" })
  port!: number;

  @Column({ name: "pid", type: "int", nullable: true })
  pid!: number | null;

  /** NULL is possible in the guide's DDL and reads as `stopped`. */
  @Column({ name: "status", type: "varchar", length: 16, nullable: true })
  status!: ProcessStatus | null;

  @Column({ name: "supervisor_host", type: "varchar", length: 100, nullable: true })
  supervisorHost!: string | null;

  @Column({ name: "supervisor_port", type: "int", nullable: true })
  supervisorPort!: number | null;

  @Column({ name: "supervisor_program", type: "varchar", length: 100, default: DEFAULT_PROGRAM })
  program!: string;

  @Column({ name: "last_heartbeat", type: "datetime", nullable: true })
  lastHeartbeat!: Date | null;

  @Column({ name: "created_at", type: "datetime", nullable: true })
  createdAt!: Date | null;

  @Column({ name: "updated_at", type: "datetime", nullable: true })
  updatedAt!: Date | null;

  /** Fleetvisor's column: what the process is meant to be doing; NULL while nobody has said. */
  @Column({ name: "desired_state", type: "varchar", length: 16, nullable: true })
  desiredState!: DesiredState | null;

  /** Fleetvisor's column: how supervisord differs from `desiredState`; NULL reads as NONE. */
  @Column({ name: "drift", type: "varchar", length: 20, nullable: true })
  drift!: Drift | null;

  /**
   * Fleetvisor's column: a control action under way holds new drift off until then (see
   * DesiredStates). Not read with the row.
   */
  @Column({ name: "control_until", type: "datetime", precision: 3, nullable: true, select: false })
  controlUntil?: Date | null;
}
