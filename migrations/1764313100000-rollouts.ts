import { Table, TableIndex, type MigrationInterface, type QueryRunner } from "typeorm";
import { createOwnTable, isMysql } from "./own-table.js";

const ROLLOUTS = "fleetvisor_rollouts";
const STEPS = "fleetvisor_rollout_steps";

/**
 * Rollouts as records: a rollout and its steps, in Fleetvisor's own tables. The rollout
 * row carries the lease of the replica running it (`lease_owner`, `lease_until`), taken and
 * renewed by conditional UPDATEs, so that one replica at a time runs it and another takes
 * it over when the lease lapses.
 */
export class Rollouts1764313100000 implements MigrationInterface {
  name = "Rollouts1764313100000";

  async up(queryRunner: QueryRunner): Promise<void> {
    const mysql = isMysql(queryRunner);
    await createOwnTable(
      queryRunner,
      new Table({
        name: ROLLOUTS,
        columns: [
          {
            name: "id",
            // SQLite auto-increments only an INTEGER PRIMARY KEY.
            type: mysql ? "int" : "integer",
            isPrimary: true,
            isGenerated: true,
            generationStrategy: "increment",
          },
          { name: "action", type: "varchar", length: "16", isNullable: false },
          { name: "state", type: "varchar", length: "16", isNullable: false },
          { name: "max_unavailable", type: "int", isNullable: false },
          { name: "wait_for_healthy", type: "boolean", isNullable: false },
          { name: "health_timeout_seconds", type: "int", isNullable: false },
          { name: "pause_seconds", type: "int", isNullable: false },
          // Who started it: the steps act on that token's behalf, on whichever replica runs them.
          { name: "created_by", type: "varchar", length: "100", isNullable: false },
          { name: "created_by_token_id", type: "int", isNullable: true },
          { name: "created_by_role", type: "varchar", length: "16", isNullable: false },
          { name: "created_by_pattern", type: "varchar", length: "101", isNullable: true },
          { name: "created_at", type: "datetime", precision: 3, isNullable: false },
          { name: "finished_at", type: "datetime", precision: 3, isNullable: true },
          { name: "cancel_requested_at", type: "datetime", precision: 3, isNullable: true },
          { name: "cancelled_by", type: "varchar", length: "100", isNullable: true },
          { name: "cancelled_by_token_id", type: "int", isNullable: true },
          { name: "lease_owner", type: "varchar", length: "36", isNullable: true },
          { name: "lease_until", type: "datetime", precision: 3, isNullable: true },
        ],
        indices: [new TableIndex({ name: "idx_fleetvisor_rollouts_state", columnNames: ["state", "lease_until"] })],
      }),
    );
    await createOwnTable(
      queryRunner,
      new Table({
        name: STEPS,
        columns: [
          { name: "rollout_id", type: "int", isPrimary: true },
          // The order the steps run in; steps of one batch run together.
          { name: "position", type: "int", isPrimary: true },
          { name: "batch", type: "int", isNullable: false },
          { name: "process_name", type: "varchar", length: "100", isNullable: false },
          { name: "supervisor_host", type: "varchar", length: "100", isNullable: true },
          { name: "supervisor_port", type: "int", isNullable: true },
          { name: "program", type: "varchar", length: "100", isNullable: false },
          { name: "action", type: "varchar", length: "16", isNullable: false },
          { name: "outcome", type: "varchar", length: "16", isNullable: false },
          // supervisord's pid of the program when the step began: what a replica taking the
          // rollout over compares with, to tell a restart that happened from one that did not.
          { name: "pid_before", type: "int", isNullable: true },
          { name: "started_at", type: "datetime", precision: 3, isNullable: true },
          { name: "finished_at", type: "datetime", precision: 3, isNullable: true },
          { name: "error_code", type: "varchar", length: "40", isNullable: true },
          { name: "error_message", type: "varchar", length: "1000", isNullable: true },
        ],
        indices: [new TableIndex({ name: "idx_fleetvisor_rollout_steps_process", columnNames: ["process_name"] })],
      }),
    );
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.dropTable(STEPS, true);
    await queryRunner.dropTable(ROLLOUTS, true);
  }
}
