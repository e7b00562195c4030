import { Column, Entity, PrimaryColumn } from "typeorm";

/** One step of a rollout (`fleetvisor_rollout_steps`): one process, in the order they run. */
@Entity({ name: "fleetvisor_rollout_steps" })
export class RolloutStepEntity {
  @PrimaryColumn({ name: "rollout_id", type: "int" })
  rolloutId!: number;

  @PrimaryColumn({ name: "position", type: "int" })
  position!: number;

  /** Steps of one batch run together (never two on one supervisord). */
  @Column({ name: "batch", type: "int" })
  batch!: number;

  @Column({ name: "process_name", type: "varchar", length: 100 })
  processName!: string;

  @Column({ name: "supervisor_host", type: "varchar", length: 100, nullable: true })
  supervisorHost!: string | null;

  @Column({ name: "supervisor_port", type: "int", nullable: true })
  supervisorPort!: number | null;

  @Column({ name: "program", type: "varchar", length: 100 })
  program!: string;

  /** A StepAction. */
  @Column({ name: "action", type: "varchar", length: 16 })
  action!: string;

  /** A StepOutcome. */
  @Column({ name: "outcome", type: "varchar", length: 16 })
  outcome!: string;

  /** supervisord's pid of the program when the step began (0: not running). */
  @Column({ name: "pid_before", type: "int", nullable: true })
  pidBefore!: number | null;

  @Column({ name: "started_at", type: "datetime", precision: 3, nullable: true })
  startedAt!: Date | null;

  @Column({ name: "finished_at", type: "datetime", precision: 3, nullable: true })
  finishedAt!: Date | null;

  @Column({ name: "error_code", type: "varchar", length: 40, nullable: true })
  errorCode!: string | null;

  @Column({ name: "error_message", type: "varchar", length: 1000, nullable: true })
  errorMessage!: string | null;
}
