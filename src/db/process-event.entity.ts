import { Column, Entity, Index, PrimaryGeneratedColumn } from "typeorm";

/**
 * One recorded registry transition. The auto-increment id is the cursor that
 * `processChanged(after:)` resumes from.
 */
@Entity({ name: "fleetvisor_process_events" })
@Index("idx_fleetvisor_process_events_process", ["processName", "id"])
export class ProcessEventEntity {
  /** BIGINT comes back from mysql2 as a string (bigNumberStrings); it is only ever a cursor. */
  @PrimaryGeneratedColumn({ type: "bigint" })
  id!: string;

  @Column({ name: "process_name", type: "varchar", length: 100 })
  processName!: string;

  @Column({ name: "kind", type: "varchar", length: 40 })
  kind!: string;

  /** The name of the token that caused it, or `fleetvisor` for the service itself. */
  @Column({ name: "actor", type: "varchar", length: 100 })
  actor!: string;

  @Column({ name: "message", type: "varchar", length: 1000, nullable: true })
  message!: string | null;

  /** The registry status right after the event (NULL once the row is deleted). */
  @Column({ name: "status", type: "varchar", length: 16, nullable: true })
  status!: string | null;

  @Column({ name: "at", type: "datetime", precision: 3 })
  at!: Date;
}
