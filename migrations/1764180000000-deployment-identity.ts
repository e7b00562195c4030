import { randomBytes } from "node:crypto";
import { Table, type MigrationInterface, type QueryRunner } from "typeorm";

const DEPLOYMENT = "fleetvisor_deployment";

/**
 * One row naming this deployment: every replica on this database reads the same id, so
 * that deployments sharing a Redis keep their events apart (the channels are prefixed
 * with it) without anyone configuring anything.
 */
export class DeploymentIdentity1764180000000 implements MigrationInterface {
  name = "DeploymentIdentity1764180000000";

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.createTable(
      new Table({
        name: DEPLOYMENT,
        columns: [
          { name: "id", type: "varchar", length: "32", isPrimary: true },
          { name: "created_at", type: "datetime", isNullable: false },
        ],
      }),
      true,
    );
    await queryRunner.query(`INSERT INTO ${DEPLOYMENT} (id, created_at) VALUES (?, ?)`, [
      randomBytes(16).toString("hex"),
      // Plain text: every driver binds it (SQLite binds no Date).
      new Date().toISOString().slice(0, 19).replace("T", " "),
    ]);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.dropTable(DEPLOYMENT, true);
  }
}
