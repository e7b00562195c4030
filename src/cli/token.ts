import "reflect-metadata";
import { parseArgs } from "node:util";
import { pino } from "pino";
import { Role, ROLES } from "../domain/role.js";
import type { Principal } from "../auth/principal.js";
import { TokenService, type TokenInfo } from "../auth/token.service.js";
import { ConfigError, loadConfig } from "../config/config.js";
import { initializeWithRetry } from "../db/connect.js";
import { createDataSource } from "../db/data-source.js";
import { Database } from "../db/database.js";
import { pendingMigrations } from "../db/migrate.js";
import { AppError } from "../errors.js";
import { MemoryEventBus } from "../events/event-bus.js";
import { EventLogService } from "../events/event-log.service.js";
import { tokenEvents } from "../events/token-events.js";
import { createLogger } from "../logger.js";
import { parseDuration } from "./duration.js";

const USAGE = `usage:
  npm run token -- create --role viewer|operator|admin|agent --name NAME [--process PATTERN] [--expires-in DURATION]
  npm run token -- list [--all]
  npm run token -- revoke ID

create prints the new token once, alone on stdout (the details go to stderr), so that
  TOKEN=$(npm run -s token -- create --role agent --name domaeka-agent --process 'domaeka-*')
captures it. Only its hash is stored.

--process binds the token to a process name or prefix-* (required for agents, optional for
  viewers and operators, not for admins): it sees and acts on those processes only.
--expires-in makes it stop working after a whole number of s, m, h or d (e.g. 30d).
list shows each token's expiry and when it was last used (to the minute); --all adds the
  revoked ones.`;

/** The actor recorded for what is done from the command line (it holds no token). */
const CLI_ACTOR: Principal = { tokenId: null, name: "cli", role: Role.ADMIN, processPattern: null };

class UsageError extends Error {}

function describe(token: TokenInfo, now: Date): string {
  const pattern = token.processPattern ? ` process=${token.processPattern}` : "";
  const expiry = token.expiresAt
    ? ` ${token.expiresAt.getTime() <= now.getTime() ? "expired" : "expires"}=${token.expiresAt.toISOString()}`
    : "";
  const revoked = token.revokedAt ? ` revoked=${token.revokedAt.toISOString()}` : "";
  const used = `last-used=${token.lastUsedAt?.toISOString() ?? "never"}`;
  return `${token.id}\t${token.name}\t${token.role.toUpperCase()}${pattern}\t${token.tokenPrefix}…\tcreated=${token.createdAt.toISOString()} by ${token.createdBy}${expiry}${revoked}\t${used}`;
}

async function main(argv: string[]): Promise<void> {
  const [command, ...rest] = argv;
  if (!command || command === "help" || command === "--help") {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  const { values, positionals } = parseArgs({
    args: rest,
    allowPositionals: true,
    options: {
      role: { type: "string" },
      name: { type: "string" },
      process: { type: "string" },
      "expires-in": { type: "string" },
      all: { type: "boolean", default: false },
    },
  });
  if (!["create", "list", "revoke"].includes(command)) throw new UsageError(`unknown command "${command}"`);

  const config = loadConfig();
  // On stderr: stdout carries the created token alone, and `TOKEN=$(…)` must not capture
  // the lines of a wait for the database.
  const logger = createLogger(config.logLevel === "info" ? "warn" : config.logLevel, {}, pino.destination(2));
  const dataSource = await initializeWithRetry(createDataSource(config.database), config.database, logger);
  try {
    const pending = await pendingMigrations(dataSource);
    if (pending.length > 0) throw new Error(`the database needs migrations first: run "npm run migrate"`);
    // Token events go to the log; running replicas' feeds read them from there.
    const events = new EventLogService(new MemoryEventBus(logger), logger);
    const tokens = new TokenService(new Database(dataSource, config.database.dialect), tokenEvents(events), {
      bootstrapAdminToken: undefined,
      cacheTtlMs: 0,
    });
    const now = new Date();
    switch (command) {
      case "create": {
        const role = values.role?.toLowerCase() as Role | undefined;
        if (!role || !ROLES.includes(role)) throw new UsageError(`--role must be one of ${ROLES.join(", ")}`);
        if (!values.name) throw new UsageError("--name is required");
        const lifetime = values["expires-in"];
        const lifetimeMs = lifetime === undefined ? undefined : parseDuration(lifetime);
        if (lifetime !== undefined && lifetimeMs === undefined) {
          throw new UsageError(`--expires-in must be a whole number of s, m, h or d, e.g. 30d (got "${lifetime}")`);
        }
        const created = await tokens.create(
          {
            name: values.name,
            role,
            processPattern: values.process ?? null,
            expiresAt: lifetimeMs === undefined ? null : new Date(now.getTime() + lifetimeMs),
          },
          CLI_ACTOR,
        );
        process.stderr.write(`created token ${describe(created, now)}\nthe token is shown only now:\n`);
        process.stdout.write(`${created.token}\n`);
        return;
      }
      case "list": {
        const list = await tokens.list({ includeRevoked: values.all });
        const lines = list.map((token) => describe(token, now));
        process.stdout.write(lines.length > 0 ? `${lines.join("\n")}\n` : "no tokens\n");
        return;
      }
      case "revoke": {
        const id = positionals[0];
        if (!id || !/^\d+$/.test(id)) throw new UsageError("revoke needs a token id (see list)");
        process.stdout.write(`revoked ${describe(await tokens.revoke(id, CLI_ACTOR), now)}\n`);
        return;
      }
    }
  } finally {
    await dataSource.destroy();
  }
}

main(process.argv.slice(2)).catch((error: unknown) => {
  if (error instanceof UsageError) {
    process.stderr.write(`fleetvisor token: ${error.message}\n\n${USAGE}\n`);
    process.exit(2);
  }
  const message = error instanceof ConfigError || error instanceof AppError ? error.message : (error as Error).message;
  process.stderr.write(`fleetvisor token: ${message}\n`);
  process.exit(error instanceof ConfigError ? 2 : 1);
});
