import { Column, Entity, PrimaryGeneratedColumn } from "typeorm";

/** One rollout (`fleetvisor_rollouts`); its steps are RolloutStepEntity rows. See the migration. */
@Entity({ name: "fleetvisor_rollouts" })
export class RolloutEntity {
  @PrimaryGeneratedColumn({ type: "int" })
  id!: number;

  /** A RolloutAction. */
  @Column({ name: "action", type: "varchar", length: 16 })
  action!: string;

  /** A RolloutState (never PLANNED: a plan is not stored). */
  @Column({ name: "state", type: "varchar", length: 16 })
  state!: string;

  @Column({ name: "max_unavailable", type: "int" })
  maxUnavailable!: number;

  @Column({ name: "wait_for_healthy", type: "boolean" })
  waitForHealthy!: boolean;

  @Column({ name: "health_timeout_seconds", type: "int" })
  healthTimeoutSeconds!: number;

  @Column({ name: "pause_seconds", type: "int" })
  pauseSeconds!: number;

  @Column({ name: "created_by", type: "varchar", length: 100 })
  createdBy!: string;

  @Column({ name: "created_by_token_id", type: "int", nullable: true })
  createdByTokenId!: number | null;

  /** A Role, stored lower case as tokens store it. */
  @Column({ name: "created_by_role", type: "varchar", length: 16 })
  createdByRole!: string;

  @Column({ name: "created_by_pattern", type: "varchar", length: 101, nullable: true })
  createdByPattern!: string | null;

  @Column({ name: "created_at", type: "datetime", precision: 3 })
  createdAt!: Date;

  @Column({ name: "finished_at", type: "datetime", precision: 3, nullable: true })
  finishedAt!: Date | null;

  @Column({ name: "cancel_requested_at", type: "datetime", precision: 3, nullable: true })
  cancelRequestedAt!: Date | null;

  @Column({ name: "cancelled_by", type: "varchar", length: 100, nullable: true })
  cancelledBy!: string | null;

  @Column({ name: "cancelled_by_token_id", type: "int", nullable: true })
  cancelledByTokenId!: number | null;

  /** The replica (its Replicas id) that runs it while its lease lasts. */
  @Column({ name: "lease_owner", type: "varchar", length: 36, nullable: true })
  leaseOwner!: string | null;

  @Column({ name: "lease_until", type: "datetime", precision: 3, nullable: true })
  leaseUntil!: Date | null;
}
