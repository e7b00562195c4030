import { Table, type MigrationInterface, type QueryRunner } from "typeorm";
import { createOwnTable, isMysql } from "./own-table.js";

const RETENTION = "fleetvisor_event_retention";

/**
 * One row for pruning the event log: how far it has been pruned (`pruned_through`, the
 * highest id deleted: a subscriber resuming from an id below it may have missed events,
 * and is told so), and the lease that lets one replica at a time prune.
 */
export class EventRetention1764240000000 implements MigrationInterface {
  name = "EventRetention1764240000000";

  async up(queryRunner: QueryRunner): Promise<void> {
    await createOwnTable(
      queryRunner,
      new Table({
        name: RETENTION,
        columns: [
          { name: "id", type: "int", isPrimary: true },
          { name: "pruned_through", type: "bigint", isNullable: false, default: 0 },
          { name: "pruned_at", type: "datetime", precision: 3, isNullable: true },
          { name: "lease_holder", type: "varchar", length: "64", isNullable: true },
          { name: "lease_until", type: "datetime", precision: 3, isNullable: true },
        ],
      }),
    );
    await queryRunner.query(
      `${isMysql(queryRunner) ? "INSERT IGNORE" : "INSERT OR IGNORE"} INTO ${RETENTION} (id) VALUES (1)`,
    );
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.dropTable(RETENTION, true);
  }
}
