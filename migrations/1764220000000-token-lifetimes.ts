import { TableColumn, type MigrationInterface, type QueryRunner } from "typeorm";

const TOKENS = "fleetvisor_api_tokens";

/**
 * When a token stops being accepted (`expires_at`, NULL for never) and when it was last
 * accepted (`last_used_at`, written at most once a minute per token). Both are nullable
 * DATETIME columns at the end of the table: an instant ALTER on MySQL 8 and MariaDB.
 */
export class TokenLifetimes1764220000000 implements MigrationInterface {
  name = "TokenLifetimes1764220000000";

  async up(queryRunner: QueryRunner): Promise<void> {
    for (const name of ["expires_at", "last_used_at"]) {
      if (await queryRunner.hasColumn(TOKENS, name)) continue;
      await queryRunner.addColumn(TOKENS, new TableColumn({ name, type: "datetime", isNullable: true }));
    }
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    for (const name of ["last_used_at", "expires_at"]) {
      if (await queryRunner.hasColumn(TOKENS, name)) await queryRunner.dropColumn(TOKENS, name);
    }
  }
}
