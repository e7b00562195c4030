import { Column, Entity, Index, PrimaryGeneratedColumn } from "typeorm";

/**
 * One recorded registry transition, or a token created or revoked (process_name empty).
 * The auto-increment id is the cursor that `processChanged(after:)` resumes from and
 * `events` pages by.
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

  /** The id of the token that caused it; NULL for Fleetvisor, the bootstrap token and the CLI. */
  @Column({ name: "actor_token_id", type: "int", nullable: true })
  actorTokenId!: number | null;

  @Column({ name: "message", type: "varchar", length: 1000, nullable: true })
  message!: string | null;

  /** The registry status right after the event (NULL once the row is deleted, and for token events). */
  @Column({ name: "status", type: "varchar", length: 16, nullable: true })
  status!: string | null;

  @Column({ name: "at", type: "datetime", precision: 3 })
  at!: Date;
}
