import { TableColumn, type MigrationInterface, type QueryRunner } from "typeorm";

const REPLICAS = "fleetvisor_replicas";

/**
 * Replicas say whether they poll supervisords: one started with polling off
 * (SUPERVISOR_POLL_INTERVAL_SECONDS=0) takes no share of the hosts, which the polling
 * replicas divide among themselves. Rows from before count as polling, as they did.
 */
export class ReplicaPolls1764314400000 implements MigrationInterface {
  name = "ReplicaPolls1764314400000";

  async up(queryRunner: QueryRunner): Promise<void> {
    if (await queryRunner.hasColumn(REPLICAS, "polls")) return;
    await queryRunner.addColumn(
      REPLICAS,
      new TableColumn({ name: "polls", type: "boolean", isNullable: false, default: true }),
    );
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.dropColumn(REPLICAS, "polls");
  }
}
