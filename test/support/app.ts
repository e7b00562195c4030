import { startApp, type App, type AppOptions } from "../../src/app.js";
import { loadConfig } from "../../src/config/config.js";
import { createLogger } from "../../src/logger.js";
import { GraphQLHttpClient } from "./graphql-client.js";

export const ADMIN_TOKEN = "test-bootstrap-admin-token-0123456789";

export interface TestApp extends App {
  /** An HTTP client that authenticates with the bootstrap admin token. */
  readonly admin: GraphQLHttpClient;
  /** An HTTP client without a token. */
  readonly anonymous: GraphQLHttpClient;
  /** Creates a token through the API and returns a client that uses it. */
  client(role: "VIEWER" | "OPERATOR" | "ADMIN" | "AGENT", name?: string, processPattern?: string): Promise<TokenClient>;
}

export interface TokenClient {
  readonly id: string;
  readonly token: string;
  readonly http: GraphQLHttpClient;
}

/**
 * Starts the real service on a free port against `databaseUrl`, as `npm start` would.
 * With `logLines`, everything it logs (at `LOG_LEVEL`) is collected there; `options.clock`
 * is the time its services read (a ManualClock, to move time instead of waiting).
 */
export async function startTestApp(
  databaseUrl: string,
  env: Record<string, string> = {},
  logLines?: string[],
  options: Pick<AppOptions, "clock"> = {},
): Promise<TestApp> {
  const config = loadConfig({
    DATABASE_URL: databaseUrl,
    HOST: "127.0.0.1",
    PORT: "0",
    FLEETVISOR_BOOTSTRAP_ADMIN_TOKEN: ADMIN_TOKEN,
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? "silent",
    // Background watching is switched on by the tests about it, so that elsewhere nothing
    // changes the registry behind a test's back.
    SUPERVISOR_POLL_INTERVAL_SECONDS: "0",
    HEARTBEAT_CHECK_INTERVAL_SECONDS: "0",
    HEALING_CHECK_INTERVAL_MS: "0",
    ...env,
  });
  const sink = logLines ? { write: (line: string) => void logLines.push(line) } : undefined;
  const app = await startApp(config, { ...options, logger: createLogger(config.logLevel, {}, sink) });
  const admin = new GraphQLHttpClient(app.url, ADMIN_TOKEN);
  let counter = 0;
  return {
    ...app,
    stop: () => app.stop(),
    admin,
    anonymous: new GraphQLHttpClient(app.url),
    async client(role, name, processPattern) {
      const data = await admin.data<{ createApiToken: { id: string; token: string } }>(
        `mutation($input: CreateApiTokenInput!) { createApiToken(input: $input) { id token } }`,
        { input: { name: name ?? `${role.toLowerCase()}-${++counter}`, role, processPattern } },
      );
      return { ...data.createApiToken, http: new GraphQLHttpClient(app.url, data.createApiToken.token) };
    },
  };
}
