import { TableColumn, type MigrationInterface, type QueryRunner } from "typeorm";

const EVENTS = "fleetvisor_process_events";

/**
 * `actor_token_id` on every event: the token that caused it. The actor's name alone does
 * not tell tokens apart (names need not be unique), and the audit trail must say which
 * token did what. NULL for Fleetvisor itself, the bootstrap admin token and the command
 * line, and for events recorded before. A nullable column at the end of the table: an
 * instant ALTER on MySQL 8 and MariaDB, however many events there are.
 */
export class EventActorToken1764230000000 implements MigrationInterface {
  name = "EventActorToken1764230000000";

  async up(queryRunner: QueryRunner): Promise<void> {
    if (await queryRunner.hasColumn(EVENTS, "actor_token_id")) return;
    await queryRunner.addColumn(EVENTS, new TableColumn({ name: "actor_token_id", type: "int", isNullable: true }));
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    if (await queryRunner.hasColumn(EVENTS, "actor_token_id")) await queryRunner.dropColumn(EVENTS, "actor_token_id");
  }
}
