import { Table, type MigrationInterface, type QueryRunner } from "typeorm";
import { createOwnTable } from "./own-table.js";

/**
 * Replicas announce themselves (`fleetvisor_replicas`, a row each with a heartbeat), so
 * that each supervisord is polled by one live replica and a replica alone on a database
 * can tell when it is not. What each supervisord last answered as a whole
 * (`fleetvisor_supervisor_hosts`) lets reads be served from observation instead of asking
 * production supervisords on every query.
 */
export class ReplicasAndHostObservations1764210000000 implements MigrationInterface {
  name = "ReplicasAndHostObservations1764210000000";

  async up(queryRunner: QueryRunner): Promise<void> {
    await createOwnTable(
      queryRunner,
      new Table({
        name: "fleetvisor_replicas",
        columns: [
          { name: "id", type: "varchar", length: "36", isPrimary: true },
          { name: "hostname", type: "varchar", length: "255", isNullable: false },
          { name: "started_at", type: "datetime", precision: 3, isNullable: false },
          { name: "seen_at", type: "datetime", precision: 3, isNullable: false },
        ],
      }),
    );
    await createOwnTable(
      queryRunner,
      new Table({
        name: "fleetvisor_supervisor_hosts",
        columns: [
          { name: "host", type: "varchar", length: "100", isPrimary: true },
          { name: "port", type: "int", isPrimary: true },
          // When the answer below was read; NULL until it has answered once.
          { name: "observed_at", type: "datetime", precision: 3, isNullable: true },
          // getAllProcessInfo as it answered (JSON), or NULL when the last ask failed.
          { name: "programs", type: "text", isNullable: true },
          { name: "error", type: "varchar", length: "1000", isNullable: true },
          { name: "error_code", type: "varchar", length: "40", isNullable: true },
          // When its event listener last reported: such a host needs polling less often.
          { name: "listener_at", type: "datetime", precision: 3, isNullable: true },
        ],
      }),
    );
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.dropTable("fleetvisor_supervisor_hosts", true);
    await queryRunner.dropTable("fleetvisor_replicas", true);
  }
}
