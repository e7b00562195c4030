import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { ApolloServerPlugin } from "@apollo/server";
import { ApolloServerPluginDrainHttpServer } from "@apollo/server/plugin/drainHttpServer";
import type { GraphQLSchema } from "graphql";
import type { Registry } from "prom-client";
import type { RequestContext, Services } from "../graphql/context.js";
import { createErrorFormatter } from "../graphql/format-error.js";
import type { Logger } from "../logger.js";
import { AuthGuard, type AuthFailureAnswer } from "./auth-guard.js";
import { withDatabaseOutage, type Authenticate } from "./bearer-auth.js";
import { startGraphQLHttp } from "./graphql-http.js";
import { protectWithArmor } from "./request-limits.js";
import { serveMetrics } from "./metrics-endpoint.js";
import { sendJson } from "./send-json.js";
import { dashboardFiles } from "./static-files.js";
import { startWsTransport, type WsTransport } from "./ws-transport.js";

const GRAPHQL_PATH = "/graphql";
/** How long running requests may take to finish once stopping. */
const STOP_GRACE_PERIOD_MS = 10_000;

export interface Readiness {
  readonly ready: boolean;
  readonly checks: Readonly<Record<string, string>>;
}

/** Limits on what one client may do, from the configuration. */
export interface ClientLimits {
  /** Failed authentications per client address and minute (`AUTH_FAILURES_PER_MINUTE`); 0 turns it off. */
  readonly authFailuresPerMinute: number;
  /** Proxies that may name the client in `X-Forwarded-For` (`TRUST_PROXY`); `Infinity`: all. */
  readonly trustedProxyHops: number;
  /** Operations at once on one WebSocket (`WS_MAX_SUBSCRIPTIONS`). */
  readonly wsMaxSubscriptions: number;
  /** WebSockets at once per token (`WS_MAX_CONNECTIONS_PER_TOKEN`). */
  readonly wsMaxConnectionsPerToken: number;
  /** How often open WebSockets' tokens are checked again (`WS_TOKEN_RECHECK_SECONDS`). */
  readonly wsTokenRecheckMs: number;
}

export interface HttpServerOptions {
  readonly host: string;
  readonly port: number;
  readonly schema: GraphQLSchema;
  readonly services: Services;
  /** The principal for a bearer token, `null` when the token is unknown. */
  readonly authenticate: Authenticate;
  /** Whether a token may be valid, without a lookup of its own (`TokenService.mayBeValid`). */
  readonly mayBeValid: (token: string) => Promise<boolean>;
  readonly limits: ClientLimits;
  /** Told of every failed authentication and how it was answered (metrics). */
  readonly onAuthFailure?: (answer: AuthFailureAnswer, trackedAddresses: number) => void;
  readonly readiness: () => Promise<Readiness>;
  /** Served at `/metrics` (Prometheus text format). */
  readonly metrics: Registry;
  /** When set, `/metrics` requires `Authorization: Bearer <metricsToken>`. */
  readonly metricsToken?: string | undefined;
  readonly production: boolean;
  readonly logger: Logger;
  /** More Apollo plugins for GraphQL over HTTP (shared observed answers). */
  readonly graphqlPlugins?: readonly ApolloServerPlugin<RequestContext>[];
  /**
   * How often graphql-ws pings each WebSocket; one that has not answered by the next
   * interval is dropped.
   * @default 12_000 (`WS_KEEP_ALIVE_MS`)
   */
  readonly webSocketKeepAliveMs?: number;
}

export interface RunningHttpServer {
  /** e.g. `http://127.0.0.1:4000` */
  readonly url: string;
  readonly port: number;
  /** Subscriptions open over WebSocket now; see {@link WsTransport.openSubscriptions}. */
  openSubscriptions(): number;
  /** Stops accepting, lets running requests finish (bounded), closes every WebSocket. */
  stop(): Promise<void>;
}

/**
 * One `node:http` server for everything: GraphQL over HTTP (Apollo) and over WebSocket
 * (graphql-ws) on `/graphql`, `/healthz`, `/readyz`, `/metrics`, and the dashboard at `/`.
 */
export async function startHttpServer(options: HttpServerOptions): Promise<RunningHttpServer> {
  const { schema, services, logger } = options;
  const formatError = createErrorFormatter(logger);
  const authenticate = withDatabaseOutage(options.authenticate);
  const { limits } = options;
  const guard = new AuthGuard({
    authenticate,
    mayBeValid: options.mayBeValid,
    failuresPerMinute: limits.authFailuresPerMinute,
    trustedProxyHops: limits.trustedProxyHops,
    onFailure: options.onAuthFailure,
  });
  const armor = protectWithArmor();
  const httpServer = createServer();
  const dashboard = dashboardFiles();

  const ws = startWsTransport({
    httpServer,
    path: GRAPHQL_PATH,
    schema,
    services,
    logger,
    guard,
    authenticate,
    formatError,
    armor,
    maxSubscriptions: limits.wsMaxSubscriptions,
    maxConnectionsPerToken: limits.wsMaxConnectionsPerToken,
    tokenRecheckMs: limits.wsTokenRecheckMs,
    keepAliveMs: options.webSocketKeepAliveMs,
  });
  const graphql = await startGraphQLHttp({
    schema,
    services,
    guard,
    formatError,
    armor,
    production: options.production,
    plugins: [
      ApolloServerPluginDrainHttpServer({ httpServer, stopGracePeriodMillis: STOP_GRACE_PERIOD_MS }),
      {
        async serverWillStart() {
          return { drainServer: () => ws.dispose() };
        },
      },
      ...(options.graphqlPlugins ?? []),
    ],
  });

  httpServer.on("request", (req, res) => {
    handle(req, res).catch((error: unknown) => {
      logger.error({ err: error, url: req.url }, "request failed");
      if (!res.headersSent)
        sendJson(res, 500, {
          errors: [{ message: "Internal server error", extensions: { code: "INTERNAL_SERVER_ERROR" } }],
        });
      else res.destroy();
    });
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", "http://localhost");
    switch (url.pathname) {
      case GRAPHQL_PATH:
        return graphql.handle(req, res, url);
      case "/healthz":
        return sendJson(res, 200, { status: "ok" });
      case "/readyz": {
        const readiness = await options.readiness();
        return sendJson(res, readiness.ready ? 200 : 503, {
          status: readiness.ready ? "ready" : "not ready",
          ...readiness.checks,
        });
      }
      case "/metrics":
        return serveMetrics(req, res, options.metrics, options.metricsToken);
      default:
        if (req.method === "GET" && (await dashboard.serve(url.pathname, res))) return;
        return sendJson(res, 404, { error: `no such path: ${url.pathname}` });
    }
  }

  await new Promise<void>((resolve, reject) => {
    httpServer.once("error", reject);
    httpServer.listen(options.port, options.host, () => {
      httpServer.off("error", reject);
      resolve();
    });
  });
  const { port } = httpServer.address() as AddressInfo;
  const host = options.host === "0.0.0.0" || options.host === "::" ? "127.0.0.1" : options.host;
  return {
    url: `http://${host.includes(":") ? `[${host}]` : host}:${port}`,
    port,
    openSubscriptions: () => ws.openSubscriptions(),
    // Apollo's drain plugins close the WebSockets and let running requests finish.
    stop: () => graphql.stop(),
  };
}
