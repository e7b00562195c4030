import { Table, TableIndex, type MigrationInterface, type QueryRunner } from "typeorm";
import { createOwnTable, isMysql } from "./own-table.js";

const POLICIES = "fleetvisor_healing_policies";
const ACTIONS = "fleetvisor_healing_actions";

/**
 * Self-healing: the policies (one per process name pattern) and what the healer did.
 *
 * An action is keyed by the process and the run it acted on (`run`: supervisord's pid and
 * start time of that run), unique: whichever replica inserts it first decides the run's fate
 * (RESTART or QUARANTINE), so a run is restarted once however many replicas see it hang.
 * RESTART rows are the restart budget; a QUARANTINE row is the quarantine itself, deleted
 * when an operator clears it (which also takes the restarts before it off the budget).
 */
export class Healing1764314100000 implements MigrationInterface {
  name = "Healing1764314100000";

  async up(queryRunner: QueryRunner): Promise<void> {
    const mysql = isMysql(queryRunner);
    await createOwnTable(
      queryRunner,
      new Table({
        name: POLICIES,
        columns: [
          { name: "name_pattern", type: "varchar", length: "101", isPrimary: true },
          { name: "restart_after_seconds", type: "int", isNullable: false },
          { name: "grace_after_start_seconds", type: "int", isNullable: false },
          { name: "max_restarts", type: "int", isNullable: false },
          { name: "per_seconds", type: "int", isNullable: false },
          { name: "updated_at", type: "datetime", precision: 3, isNullable: false },
          { name: "updated_by", type: "varchar", length: "100", isNullable: false },
        ],
      }),
    );
    await createOwnTable(
      queryRunner,
      new Table({
        name: ACTIONS,
        columns: [
          {
            name: "id",
            // SQLite auto-increments only an INTEGER PRIMARY KEY.
            type: mysql ? "int" : "integer",
            isPrimary: true,
            isGenerated: true,
            generationStrategy: "increment",
          },
          { name: "process_name", type: "varchar", length: "100", isNullable: false },
          // The registry row's id: a process deleted and created again under its name starts clean.
          { name: "process_id", type: "int", isNullable: false },
          { name: "run", type: "varchar", length: "40", isNullable: false },
          { name: "action", type: "varchar", length: "16", isNullable: false },
          { name: "acted_at", type: "datetime", precision: 3, isNullable: false },
          { name: "replica_id", type: "varchar", length: "36", isNullable: false },
          // Set when an operator clears a quarantine: the restart no longer counts against the budget.
          { name: "cleared_at", type: "datetime", precision: 3, isNullable: true },
        ],
        indices: [
          new TableIndex({
            name: "uq_fleetvisor_healing_actions_run",
            columnNames: ["process_name", "run"],
            isUnique: true,
          }),
          new TableIndex({ name: "idx_fleetvisor_healing_actions_action", columnNames: ["action", "process_name"] }),
        ],
      }),
    );
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.dropTable(ACTIONS, true);
    await queryRunner.dropTable(POLICIES, true);
  }
}
