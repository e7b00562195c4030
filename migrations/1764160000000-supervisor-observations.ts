import { Table, type MigrationInterface, type QueryRunner } from "typeorm";

const OBSERVATIONS = "fleetvisor_supervisor_observations";

/**
 * What supervisord last said of each registry process (from the poller or an event
 * listener). A change is recorded only by the replica whose conditional UPDATE of this
 * row changes it, so that it is recorded once however many replicas watch.
 */
export class SupervisorObservations1764160000000 implements MigrationInterface {
  name = "SupervisorObservations1764160000000";

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.createTable(
      new Table({
        name: OBSERVATIONS,
        columns: [
          { name: "process_name", type: "varchar", length: "100", isPrimary: true },
          { name: "state", type: "varchar", length: "16", isNullable: false },
          { name: "pid", type: "int", isNullable: false, default: 0 },
          { name: "observed_at", type: "datetime", precision: 3, isNullable: false },
        ],
      }),
      true,
    );
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.dropTable(OBSERVATIONS, true);
  }
}
