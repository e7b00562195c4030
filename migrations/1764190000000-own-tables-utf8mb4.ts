import type { MigrationInterface, QueryRunner } from "typeorm";

/** What every table of Fleetvisor's own is stored in, whatever the database's default. */
const CHARSET = "utf8mb4";
const COLLATION = "utf8mb4_unicode_ci";

/**
 * Fleetvisor's own tables (`fleetvisor_*`) in utf8mb4.
 *
 * The earlier migrations create tables without a character set of their own, so on a
 * database whose default is latin1 (older MySQL servers, many hand-made databases) they
 * were latin1 and any event message with a character latin1 lacks (the `→` of every
 * change) failed to insert. Every `fleetvisor_*` table that is not utf8mb4 throughout is
 * converted, keeping its rows; on a utf8mb4 database this finds nothing to do.
 *
 * `kb_server_processes` belongs to the deployment and is left as it is: the names
 * Fleetvisor writes there (letters, digits, `.`, `_`, `-`; hosts; program names) are
 * ASCII by validation and fit any character set.
 */
export class OwnTablesUtf8mb41764190000000 implements MigrationInterface {
  name = "OwnTablesUtf8mb41764190000000";

  async up(queryRunner: QueryRunner): Promise<void> {
    const type = queryRunner.connection.options.type;
    if (type !== "mysql" && type !== "mariadb") return;
    const tables = (await queryRunner.query(
      `SELECT t.TABLE_NAME AS name FROM INFORMATION_SCHEMA.TABLES t
       WHERE t.TABLE_SCHEMA = DATABASE() AND t.TABLE_TYPE = 'BASE TABLE' AND t.TABLE_NAME LIKE 'fleetvisor\\_%'
         AND (t.TABLE_COLLATION NOT LIKE 'utf8mb4\\_%' OR EXISTS (
           SELECT 1 FROM INFORMATION_SCHEMA.COLUMNS c
           WHERE c.TABLE_SCHEMA = t.TABLE_SCHEMA AND c.TABLE_NAME = t.TABLE_NAME
             AND c.CHARACTER_SET_NAME IS NOT NULL AND c.CHARACTER_SET_NAME <> ?))
       ORDER BY t.TABLE_NAME`,
      [CHARSET],
    )) as { name: string }[];
    for (const { name } of tables) {
      await queryRunner.query(`ALTER TABLE \`${name}\` CONVERT TO CHARACTER SET ${CHARSET} COLLATE ${COLLATION}`);
    }
  }

  async down(): Promise<void> {
    // Nothing to undo: converting back would lose every character latin1 cannot hold.
  }
}
