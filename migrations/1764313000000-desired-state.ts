import { TableColumn, type MigrationInterface, type QueryRunner } from "typeorm";

const PROCESSES = "kb_server_processes";

/**
 * Desired state and drift: three nullable columns at the end of the registry (the guide's
 * columns stay as they are; an instant ALTER on MySQL 8 and MariaDB):
 *
 * - `desired_state`: RUNNING, STOPPED, or NULL while nobody has said;
 * - `drift`: how supervisord differs from it (NULL reads as NONE); a conditional UPDATE of
 *   it records each change once across replicas;
 * - `control_until`: a control action is under way until then, and drift found meanwhile is
 *   Fleetvisor's own doing, not reported.
 */
export class DesiredState1764313000000 implements MigrationInterface {
  name = "DesiredState1764313000000";

  async up(queryRunner: QueryRunner): Promise<void> {
    const columns = [
      new TableColumn({ name: "desired_state", type: "varchar", length: "16", isNullable: true }),
      new TableColumn({ name: "drift", type: "varchar", length: "20", isNullable: true }),
      new TableColumn({ name: "control_until", type: "datetime", precision: 3, isNullable: true }),
    ];
    for (const column of columns) {
      if (!(await queryRunner.hasColumn(PROCESSES, column.name))) await queryRunner.addColumn(PROCESSES, column);
    }
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    // The registry predates Fleetvisor: undo only what this migration added to it.
    for (const name of ["control_until", "drift", "desired_state"]) {
      if (await queryRunner.hasColumn(PROCESSES, name)) await queryRunner.dropColumn(PROCESSES, name);
    }
  }
}
