import { Table, TableColumn, TableIndex, type MigrationInterface, type QueryRunner } from "typeorm";

const PROCESSES = "kb_server_processes";
const EVENTS = "fleetvisor_process_events";
const TOKENS = "fleetvisor_api_tokens";
const STATUSES = ["stopped", "starting", "running", "stopping", "error"];

function isMysql(queryRunner: QueryRunner): boolean {
  const type = queryRunner.connection.options.type;
  return type === "mysql" || type === "mariadb";
}

/**
 * The registry as the guide defined it, plus Fleetvisor's own tables.
 *
 * Many deployments already have `kb_server_processes` (created from the guide by hand):
 * it is created only when missing, and then only the `supervisor_program` column is added,
 * so existing rows and existing readers keep working.
 */
export class RegistryTables1764150000000 implements MigrationInterface {
  name = "RegistryTables1764150000000";

  async up(queryRunner: QueryRunner): Promise<void> {
    const mysql = isMysql(queryRunner);
    // SQLite auto-increments only an INTEGER PRIMARY KEY (64-bit, so events fit too).
    const idType = mysql ? "int" : "integer";
    if (!(await queryRunner.hasTable(PROCESSES))) {
      await queryRunner.createTable(
        new Table({
          name: PROCESSES,
          columns: [
            { name: "id", type: idType, isPrimary: true, isGenerated: true, generationStrategy: "increment" },
            { name: "process_name", type: "varchar", length: "100", isUnique: true, isNullable: false },
            { name: "port", type: "int", isNullable: false },
            { name: "pid", type: "int", isNullable: true, default: null },
            mysql
              ? { name: "status", type: "enum", enum: STATUSES, isNullable: true, default: "'stopped'" }
              : { name: "status", type: "varchar", length: "16", isNullable: true, default: "'stopped'" },
            { name: "supervisor_host", type: "varchar", length: "100", isNullable: true },
            { name: "supervisor_port", type: "int", isNullable: true },
            { name: "last_heartbeat", type: "datetime", isNullable: true },
            { name: "created_at", type: "datetime", isNullable: true, default: "CURRENT_TIMESTAMP" },
            {
              name: "updated_at",
              type: "datetime",
              isNullable: true,
              default: "CURRENT_TIMESTAMP",
              ...(mysql ? { onUpdate: "CURRENT_TIMESTAMP" } : {}),
            },
          ],
        }),
      );
    }
    if (!(await queryRunner.hasColumn(PROCESSES, "supervisor_program"))) {
      await queryRunner.addColumn(
        PROCESSES,
        new TableColumn({
          name: "supervisor_program",
          type: "varchar",
          length: "100",
          isNullable: false,
          default: "'python-server'",
        }),
      );
    }

    await queryRunner.createTable(
      new Table({
        name: EVENTS,
        columns: [
          {
            name: "id",
            type: mysql ? "bigint" : "integer",
            isPrimary: true,
            isGenerated: true,
            generationStrategy: "increment",
          },
          { name: "process_name", type: "varchar", length: "100", isNullable: false },
          { name: "kind", type: "varchar", length: "40", isNullable: false },
          { name: "actor", type: "varchar", length: "100", isNullable: false },
          { name: "message", type: "varchar", length: "1000", isNullable: true },
          { name: "status", type: "varchar", length: "16", isNullable: true },
          { name: "at", type: "datetime", precision: 3, isNullable: false },
        ],
      }),
      true,
    );
    await queryRunner.createIndex(
      EVENTS,
      new TableIndex({ name: "idx_fleetvisor_process_events_process", columnNames: ["process_name", "id"] }),
    );

    await queryRunner.createTable(
      new Table({
        name: TOKENS,
        columns: [
          { name: "id", type: idType, isPrimary: true, isGenerated: true, generationStrategy: "increment" },
          { name: "name", type: "varchar", length: "100", isNullable: false },
          { name: "role", type: "varchar", length: "16", isNullable: false },
          { name: "process_pattern", type: "varchar", length: "101", isNullable: true },
          { name: "token_hash", type: "char", length: "64", isNullable: false, isUnique: true },
          { name: "token_prefix", type: "varchar", length: "16", isNullable: false },
          { name: "created_by", type: "varchar", length: "100", isNullable: false },
          { name: "created_at", type: "datetime", isNullable: false },
          { name: "revoked_at", type: "datetime", isNullable: true },
        ],
      }),
      true,
    );
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.dropTable(TOKENS, true);
    await queryRunner.dropTable(EVENTS, true);
    // The registry itself predates Fleetvisor and may hold rows other tools rely on:
    // undo only what this migration added to it.
    if (await queryRunner.hasColumn(PROCESSES, "supervisor_program")) {
      await queryRunner.dropColumn(PROCESSES, "supervisor_program");
    }
  }
}
