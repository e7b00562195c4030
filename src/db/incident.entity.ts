import { Column, Entity, PrimaryGeneratedColumn } from "typeorm";

/** One incident (`fleetvisor_incidents`); see the incidents migration for `open_key`. */
@Entity({ name: "fleetvisor_incidents" })
export class IncidentEntity {
  @PrimaryGeneratedColumn({ type: "int" })
  id!: number;

  /** An IncidentKind. */
  @Column({ name: "kind", type: "varchar", length: 32 })
  kind!: string;

  /** NULL for a supervisord's incident (SUPERVISOR_UNREACHABLE). */
  @Column({ name: "process_name", type: "varchar", length: 100, nullable: true })
  processName!: string | null;

  @Column({ name: "supervisor_host", type: "varchar", length: 100, nullable: true })
  supervisorHost!: string | null;

  @Column({ name: "supervisor_port", type: "int", nullable: true })
  supervisorPort!: number | null;

  /** An IncidentState. */
  @Column({ name: "state", type: "varchar", length: 16 })
  state!: string;

  /** The kind and subject while OPEN, NULL once resolved: unique, so one open incident per key. */
  @Column({ name: "open_key", type: "varchar", length: 191, nullable: true })
  openKey!: string | null;

  @Column({ name: "occurrences", type: "int" })
  occurrences!: number;

  @Column({ name: "opened_at", type: "datetime", precision: 3 })
  openedAt!: Date;

  @Column({ name: "last_seen_at", type: "datetime", precision: 3 })
  lastSeenAt!: Date;

  @Column({ name: "resolved_at", type: "datetime", precision: 3, nullable: true })
  resolvedAt!: Date | null;

  @Column({ name: "acknowledged_by", type: "varchar", length: 100, nullable: true })
  acknowledgedBy!: string | null;

  @Column({ name: "acknowledged_by_token_id", type: "int", nullable: true })
  acknowledgedByTokenId!: number | null;

  @Column({ name: "acknowledged_at", type: "datetime", precision: 3, nullable: true })
  acknowledgedAt!: Date | null;

  @Column({ name: "note", type: "varchar", length: 1000, nullable: true })
  note!: string | null;

  @Column({ name: "silenced", type: "boolean" })
  silenced!: boolean;

  /** Whether "firing" was sent: "resolved" is sent only after it. */
  @Column({ name: "notified", type: "boolean" })
  notified!: boolean;

  /** The message of the event that opened it. */
  @Column({ name: "reason", type: "varchar", length: 1000, nullable: true })
  reason!: string | null;
}
