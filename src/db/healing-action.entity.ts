import { Column, Entity, PrimaryGeneratedColumn } from "typeorm";

/**
 * What the healer did to one run of a process (`fleetvisor_healing_actions`): restarted it,
 * or quarantined the process instead, or tried to restart it and failed (RESTART_FAILED).
 * Unique per process, run and attempt; see the migrations.
 */
@Entity({ name: "fleetvisor_healing_actions" })
export class HealingActionEntity {
  @PrimaryGeneratedColumn({ type: "int" })
  id!: number;

  @Column({ name: "process_name", type: "varchar", length: 100 })
  processName!: string;

  /** The registry row's id (`kb_server_processes.id`): actions on a deleted namesake do not count. */
  @Column({ name: "process_id", type: "int" })
  processId!: number;

  /** The run acted on: `<pid>@<start epoch ms>`, as supervisord reported it. */
  @Column({ name: "run", type: "varchar", length: 40 })
  run!: string;

  /** Which claim of this run it is: 1, then one more after each RESTART_FAILED. */
  @Column({ name: "attempt", type: "int" })
  attempt!: number;

  /** RESTART, RESTART_FAILED or QUARANTINE. */
  @Column({ name: "action", type: "varchar", length: 16 })
  action!: string;

  @Column({ name: "acted_at", type: "datetime", precision: 3 })
  actedAt!: Date;

  /** The replica that acted. */
  @Column({ name: "replica_id", type: "varchar", length: 36 })
  replicaId!: string;

  /** When an operator cleared the quarantine that followed: off the restart budget since. */
  @Column({ name: "cleared_at", type: "datetime", precision: 3, nullable: true })
  clearedAt!: Date | null;
}
