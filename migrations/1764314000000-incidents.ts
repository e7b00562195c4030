import { Table, TableIndex, type MigrationInterface, type QueryRunner } from "typeorm";
import { createOwnTable, isMysql } from "./own-table.js";

const INCIDENTS = "fleetvisor_incidents";
const SILENCES = "fleetvisor_silences";

/**
 * Incidents and silences. An open incident carries `open_key` (its kind and subject), unique:
 * two replicas recording the same alert at once cannot both open one, the second one's insert
 * collides and counts an occurrence instead. Resolving sets it back to NULL, which a unique
 * index allows any number of times.
 */
export class Incidents1764314000000 implements MigrationInterface {
  name = "Incidents1764314000000";

  async up(queryRunner: QueryRunner): Promise<void> {
    const mysql = isMysql(queryRunner);
    await createOwnTable(
      queryRunner,
      new Table({
        name: INCIDENTS,
        columns: [
          {
            name: "id",
            // SQLite auto-increments only an INTEGER PRIMARY KEY.
            type: mysql ? "int" : "integer",
            isPrimary: true,
            isGenerated: true,
            generationStrategy: "increment",
          },
          { name: "kind", type: "varchar", length: "32", isNullable: false },
          { name: "process_name", type: "varchar", length: "100", isNullable: true },
          { name: "supervisor_host", type: "varchar", length: "100", isNullable: true },
          { name: "supervisor_port", type: "int", isNullable: true },
          { name: "state", type: "varchar", length: "16", isNullable: false },
          { name: "open_key", type: "varchar", length: "191", isNullable: true, isUnique: true },
          { name: "occurrences", type: "int", isNullable: false },
          { name: "opened_at", type: "datetime", precision: 3, isNullable: false },
          { name: "last_seen_at", type: "datetime", precision: 3, isNullable: false },
          { name: "resolved_at", type: "datetime", precision: 3, isNullable: true },
          { name: "acknowledged_by", type: "varchar", length: "100", isNullable: true },
          { name: "acknowledged_by_token_id", type: "int", isNullable: true },
          { name: "acknowledged_at", type: "datetime", precision: 3, isNullable: true },
          { name: "note", type: "varchar", length: "1000", isNullable: true },
          { name: "silenced", type: "boolean", isNullable: false },
          // Whether "firing" went to the webhook: only then does "resolved" follow.
          { name: "notified", type: "boolean", isNullable: false },
          { name: "reason", type: "varchar", length: "1000", isNullable: true },
        ],
        indices: [new TableIndex({ name: "idx_fleetvisor_incidents_state", columnNames: ["state", "id"] })],
      }),
    );
    await createOwnTable(
      queryRunner,
      new Table({
        name: SILENCES,
        columns: [
          {
            name: "id",
            type: mysql ? "int" : "integer",
            isPrimary: true,
            isGenerated: true,
            generationStrategy: "increment",
          },
          { name: "name_pattern", type: "varchar", length: "101", isNullable: false },
          // Comma-separated IncidentKinds; empty for every kind.
          { name: "kinds", type: "varchar", length: "200", isNullable: false },
          { name: "until", type: "datetime", precision: 3, isNullable: false },
          { name: "comment", type: "varchar", length: "1000", isNullable: false },
          { name: "created_by", type: "varchar", length: "100", isNullable: false },
          { name: "created_by_token_id", type: "int", isNullable: true },
          { name: "created_at", type: "datetime", precision: 3, isNullable: false },
          { name: "expired_at", type: "datetime", precision: 3, isNullable: true },
        ],
        indices: [new TableIndex({ name: "idx_fleetvisor_silences_until", columnNames: ["until"] })],
      }),
    );
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.dropTable(SILENCES, true);
    await queryRunner.dropTable(INCIDENTS, true);
  }
}
