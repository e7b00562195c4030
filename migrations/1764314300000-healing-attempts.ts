import { TableColumn, TableIndex, type MigrationInterface, type QueryRunner } from "typeorm";

const ACTIONS = "fleetvisor_healing_actions";
const OLD_UNIQUE = "uq_fleetvisor_healing_actions_run";
const NEW_UNIQUE = "uq_fleetvisor_healing_actions_attempt";

/**
 * Healing actions get an attempt number: a restart that failed (RESTART_FAILED) leaves the
 * run as it was, hung, and a later pass must be able to claim the same run again. The
 * unique key becomes (process, run, attempt): each attempt is still claimed by exactly one
 * replica, and every attempt counts against the restart budget, so a restart that keeps
 * failing ends in a quarantine.
 */
export class HealingAttempts1764314300000 implements MigrationInterface {
  name = "HealingAttempts1764314300000";

  async up(queryRunner: QueryRunner): Promise<void> {
    if (!(await queryRunner.hasColumn(ACTIONS, "attempt"))) {
      await queryRunner.addColumn(
        ACTIONS,
        new TableColumn({ name: "attempt", type: "int", isNullable: false, default: 1 }),
      );
    }
    // Idempotent, like the others: a run over a database that has it all already changes nothing.
    const indices = new Set((await queryRunner.getTable(ACTIONS))?.indices.map((index) => index.name));
    if (!indices.has(NEW_UNIQUE)) {
      await queryRunner.createIndex(
        ACTIONS,
        new TableIndex({ name: NEW_UNIQUE, columnNames: ["process_name", "run", "attempt"], isUnique: true }),
      );
    }
    if (indices.has(OLD_UNIQUE)) await queryRunner.dropIndex(ACTIONS, OLD_UNIQUE);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    // The old key allows one row per run: the first attempt of each stays.
    await queryRunner.query(`DELETE FROM ${ACTIONS} WHERE attempt > 1`);
    await queryRunner.createIndex(
      ACTIONS,
      new TableIndex({ name: OLD_UNIQUE, columnNames: ["process_name", "run"], isUnique: true }),
    );
    await queryRunner.dropIndex(ACTIONS, NEW_UNIQUE);
    await queryRunner.dropColumn(ACTIONS, "attempt");
  }
}
