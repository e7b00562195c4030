import { Column, Entity, PrimaryGeneratedColumn } from "typeorm";

/** One silence (`fleetvisor_silences`): incidents it matches send no webhook until `until`. */
@Entity({ name: "fleetvisor_silences" })
export class SilenceEntity {
  @PrimaryGeneratedColumn({ type: "int" })
  id!: number;

  /** A process pattern (`name`, `prefix-*`, `*`); a supervisord's incident is matched on `host:port`. */
  @Column({ name: "name_pattern", type: "varchar", length: 101 })
  namePattern!: string;

  /** Comma-separated IncidentKinds; empty for every kind. */
  @Column({ name: "kinds", type: "varchar", length: 200 })
  kinds!: string;

  @Column({ name: "until", type: "datetime", precision: 3 })
  until!: Date;

  @Column({ name: "comment", type: "varchar", length: 1000 })
  comment!: string;

  @Column({ name: "created_by", type: "varchar", length: 100 })
  createdBy!: string;

  @Column({ name: "created_by_token_id", type: "int", nullable: true })
  createdByTokenId!: number | null;

  @Column({ name: "created_at", type: "datetime", precision: 3 })
  createdAt!: Date;

  /** Set by expireSilence: it ended before `until`. */
  @Column({ name: "expired_at", type: "datetime", precision: 3, nullable: true })
  expiredAt!: Date | null;
}
