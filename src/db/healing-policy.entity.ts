import { Column, Entity, PrimaryColumn } from "typeorm";

/** One self-healing policy (`fleetvisor_healing_policies`), for the processes its pattern matches. */
@Entity({ name: "fleetvisor_healing_policies" })
export class HealingPolicyEntity {
  /** A process name, or a prefix followed by `*`. */
  @PrimaryColumn({ name: "name_pattern", type: "varchar", length: 101 })
  namePattern!: string;

  @Column({ name: "restart_after_seconds", type: "int" })
  restartWhenUnresponsiveAfterSeconds!: number;

  @Column({ name: "grace_after_start_seconds", type: "int" })
  graceAfterStartSeconds!: number;

  @Column({ name: "max_restarts", type: "int" })
  maxRestarts!: number;

  @Column({ name: "per_seconds", type: "int" })
  perSeconds!: number;

  @Column({ name: "updated_at", type: "datetime", precision: 3 })
  updatedAt!: Date;

  @Column({ name: "updated_by", type: "varchar", length: 100 })
  updatedBy!: string;
}
