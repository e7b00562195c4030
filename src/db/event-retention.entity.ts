import { Column, Entity, PrimaryColumn } from "typeorm";

/**
 * The event log's retention, one row (id 1): how far it has been pruned, and which
 * replica may prune (a lease). See src/events/event-retention.ts.
 */
@Entity({ name: "fleetvisor_event_retention" })
export class EventRetentionEntity {
  @PrimaryColumn({ type: "int" })
  id!: number;

  /** The highest event id deleted; a cursor below it may have lost events. BIGINT: a string. */
  @Column({ name: "pruned_through", type: "bigint" })
  prunedThrough!: string;

  @Column({ name: "pruned_at", type: "datetime", precision: 3, nullable: true })
  prunedAt!: Date | null;

  /** The replica that prunes, while its lease runs. */
  @Column({ name: "lease_holder", type: "varchar", length: 64, nullable: true })
  leaseHolder!: string | null;

  @Column({ name: "lease_until", type: "datetime", precision: 3, nullable: true })
  leaseUntil!: Date | null;
}
