import { Column, Entity, PrimaryGeneratedColumn } from "typeorm";
import type { Role } from "../domain/role.js";

/** An API token. Only the SHA-256 of the token is stored; the token is shown once. */
@Entity({ name: "fleetvisor_api_tokens" })
export class ApiTokenEntity {
  @PrimaryGeneratedColumn({ type: "int" })
  id!: number;

  @Column({ name: "name", type: "varchar", length: 100 })
  name!: string;

  @Column({ name: "role", type: "varchar", length: 16 })
  role!: Role;

  /** The process name or `prefix-*` pattern the token is bound to (always for agents). */
  @Column({ name: "process_pattern", type: "varchar", length: 101, nullable: true })
  processPattern!: string | null;

  /** CHAR(64) in MySQL (see the migration); TypeORM only needs to know it is text. */
  @Column({ name: "token_hash", type: "varchar", length: 64, unique: true })
  tokenHash!: string;

  /** The first characters of the token, to recognise it in a list. Not a secret. */
  @Column({ name: "token_prefix", type: "varchar", length: 16 })
  tokenPrefix!: string;

  @Column({ name: "created_by", type: "varchar", length: 100 })
  createdBy!: string;

  @Column({ name: "created_at", type: "datetime" })
  createdAt!: Date;

  @Column({ name: "revoked_at", type: "datetime", nullable: true })
  revokedAt!: Date | null;

  /** When the token stops being accepted; `null` for never. */
  @Column({ name: "expires_at", type: "datetime", nullable: true })
  expiresAt!: Date | null;

  /** When the token was last accepted, to the minute (see TokenUsage). */
  @Column({ name: "last_used_at", type: "datetime", nullable: true })
  lastUsedAt!: Date | null;
}
