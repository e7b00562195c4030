import type { QueryRunner, Table } from "typeorm";

export function isMysql(queryRunner: QueryRunner): boolean {
  const type = queryRunner.connection.options.type;
  return type === "mysql" || type === "mariadb";
}

/**
 * Creates one of Fleetvisor's own tables; on MySQL it is utf8mb4 whatever the database's
 * default (see the own-tables-utf8mb4 migration for why).
 */
export async function createOwnTable(queryRunner: QueryRunner, table: Table): Promise<void> {
  await queryRunner.createTable(table, true);
  if (isMysql(queryRunner)) {
    await queryRunner.query(
      `ALTER TABLE \`${table.name}\` CONVERT TO CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci`,
    );
  }
}
