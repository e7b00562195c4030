import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { ApolloServer, HeaderMap, type ApolloServerPlugin, type HTTPGraphQLRequest } from "@apollo/server";
import { ApolloServerPluginCacheControlDisabled } from "@apollo/server/plugin/disabled";
import { ApolloServerPluginDrainHttpServer } from "@apollo/server/plugin/drainHttpServer";
import { ApolloArmor } from "@escape.tech/graphql-armor";
import { GraphQLError, parse, specifiedRules, validate, type ExecutionArgs, type GraphQLSchema } from "graphql";
import { CloseCode } from "graphql-ws";
import { useServer } from "graphql-ws/use/ws";
import type { Registry } from "prom-client";
import { WebSocketServer, type WebSocket } from "ws";
import type { Principal } from "../auth/principal.js";
import { describeDatabaseError, isDatabaseUnavailable } from "../db/db-errors.js";
import { DatabaseUnavailableError, UnauthenticatedError } from "../errors.js";
import { createContext, type RequestContext, type Services } from "../graphql/context.js";
import { createErrorFormatter, formatForClient } from "../graphql/format-error.js";
import type { Logger } from "../logger.js";
import { dashboardFiles } from "./static-files.js";

/** Requests with larger bodies are refused with 413. */
const MAX_BODY_BYTES = 1024 * 1024;
/** A WebSocket that does not answer a ping within this interval is dropped. */
const WS_PING_INTERVAL_MS = 30_000;
/** How often open WebSockets' tokens are checked again. */
const TOKEN_RECHECK_INTERVAL_MS = 10_000;
const GRAPHQL_PATH = "/graphql";
/** Longer documents are refused before they are parsed in full. */
const MAX_TOKENS = 2_000;

export interface Readiness {
  readonly ready: boolean;
  readonly checks: Readonly<Record<string, string>>;
}

export interface HttpServerOptions {
  readonly host: string;
  readonly port: number;
  readonly schema: GraphQLSchema;
  readonly services: Services;
  /** The principal for a bearer token, `null` when the token is unknown. */
  readonly authenticate: (token: string) => Promise<Principal | null>;
  readonly readiness: () => Promise<Readiness>;
  /** Served at `/metrics` (Prometheus text format). */
  readonly metrics: Registry;
  readonly production: boolean;
  readonly logger: Logger;
}

export interface RunningHttpServer {
  /** e.g. `http://127.0.0.1:4000` */
  readonly url: string;
  readonly port: number;
  /** Stops accepting, lets running requests finish (bounded), closes every WebSocket. */
  stop(): Promise<void>;
}

/** The token in `Bearer <token>` (or a bare token, as some WebSocket clients send it). */
export function bearerToken(value: unknown): string | undefined {
  if (typeof value !== "string") return undefined;
  const match = /^\s*(?:Bearer\s+)?(\S+)\s*$/i.exec(value);
  return match?.[1];
}

/**
 * One `node:http` server for everything: GraphQL over HTTP (Apollo) and over WebSocket
 * (graphql-ws) on `/graphql`, `/healthz`, `/readyz`, `/metrics`, and the dashboard at `/`.
 */
export async function startHttpServer(options: HttpServerOptions): Promise<RunningHttpServer> {
  const { schema, services, logger } = options;
  const formatError = createErrorFormatter(logger);
  const armor = new ApolloArmor({
    maxDepth: { n: 10 },
    maxAliases: { n: 30 },
    costLimit: { maxCost: 10_000 },
    // armor's token limit re-parses in a plugin hook, which turns a syntax error into a 500;
    // graphql-js's own `maxTokens` parse option (below) does the same job with a proper 400.
    maxTokens: { enabled: false },
  }).protect();

  const httpServer = createServer();
  const dashboard = dashboardFiles();
  const wsServer = new WebSocketServer({ server: httpServer, path: GRAPHQL_PATH, maxPayload: MAX_BODY_BYTES });
  /** The token of every open WebSocket, checked again now and then: a revoked one is closed. */
  const socketTokens = new Map<WebSocket, string>();

  /**
   * The principal of a token; `null` when it is unknown or revoked. A database that cannot
   * answer is not a verdict on the token: it becomes DATABASE_UNAVAILABLE.
   */
  const authenticate = async (token: string): Promise<Principal | null> => {
    try {
      return await options.authenticate(token);
    } catch (error) {
      if (isDatabaseUnavailable(error)) throw new DatabaseUnavailableError(describeDatabaseError(error), 503);
      throw error;
    }
  };

  const wsHandle = useServer<Record<string, unknown>, Record<string, never>>(
    {
      schema,
      onConnect: async (ctx) => {
        const token = bearerToken(ctx.connectionParams?.authorization ?? ctx.connectionParams?.Authorization);
        let principal: Principal | null = null;
        try {
          principal = token ? await authenticate(token) : null;
        } catch (error) {
          // 1013 "try again later": clients retry, instead of taking it for a bad token.
          ctx.extra.socket.close(
            1013,
            error instanceof DatabaseUnavailableError
              ? "Try Again Later: the registry database is unavailable"
              : "Try Again Later",
          );
          return false;
        }
        if (!principal) {
          ctx.extra.socket.close(
            CloseCode.Unauthorized,
            token ? "Unauthorized: unknown or revoked token" : "Unauthorized: token required",
          );
          return false;
        }
        socketTokens.set(ctx.extra.socket, token!);
        ctx.extra.socket.once("close", () => socketTokens.delete(ctx.extra.socket));
        return true;
      },
      onSubscribe: async (ctx, _id, payload) => {
        // The token again (a cache hit): a token revoked since the connection opened runs nothing.
        const token = socketTokens.get(ctx.extra.socket);
        let principal: Principal | null;
        try {
          principal = token ? await authenticate(token) : null;
        } catch (error) {
          return [error as GraphQLError];
        }
        if (!principal) {
          ctx.extra.socket.close(CloseCode.Unauthorized, "Unauthorized: unknown or revoked token");
          return [new UnauthenticatedError("the token was revoked")];
        }
        let document;
        try {
          document = parse(payload.query, { maxTokens: MAX_TOKENS });
        } catch (error) {
          return [error as GraphQLError];
        }
        const errors = validate(schema, document, [...specifiedRules, ...armor.validationRules]);
        if (errors.length > 0) return [...errors];
        const args: ExecutionArgs = {
          schema,
          document,
          operationName: payload.operationName,
          variableValues: payload.variables,
          contextValue: createContext(principal, services, { longLived: true }) satisfies RequestContext,
        };
        return args;
      },
      onError: (_ctx, _id, _payload, errors) =>
        errors.map((error) => formatForClient(formatError, error, { requestError: true })),
      onNext: (_ctx, _id, _payload, _args, result) => {
        if (!result.errors) return undefined;
        const requestError = !("data" in result) || result.data === undefined;
        return { ...result, errors: result.errors.map((e) => formatForClient(formatError, e, { requestError })) };
      },
    },
    wsServer,
  );

  // Drop WebSockets whose peer vanished without closing (a dead network path never says so).
  const alive = new WeakSet<WebSocket>();
  wsServer.on("connection", (socket) => {
    alive.add(socket);
    socket.on("pong", () => alive.add(socket));
  });
  const pinger = setInterval(() => {
    for (const socket of wsServer.clients) {
      if (!alive.has(socket)) {
        socket.terminate();
        continue;
      }
      alive.delete(socket);
      socket.ping();
    }
  }, WS_PING_INTERVAL_MS);
  pinger.unref();

  // Open subscriptions outlive any one request: every so often, each socket's token is
  // checked again (a cache hit mostly), and a socket whose token was revoked is closed.
  const rechecker = setInterval(() => {
    for (const [socket, token] of socketTokens) {
      authenticate(token).then(
        (principal) => {
          if (!principal) socket.close(CloseCode.Unauthorized, "Unauthorized: the token was revoked");
        },
        () => undefined, // the database is down: no verdict on the token
      );
    }
  }, TOKEN_RECHECK_INTERVAL_MS);
  rechecker.unref();

  const apollo = new ApolloServer<RequestContext>({
    schema,
    introspection: !options.production,
    includeStacktraceInErrorResponses: false,
    // Authentication is by bearer token only (no cookies), so a cross-site request cannot
    // carry credentials: Apollo's CSRF guard would only refuse plain GET queries.
    csrfPrevention: false,
    formatError,
    validationRules: armor.validationRules,
    allowBatchedHttpRequests: false,
    // main.ts owns the process's signals and stops everything in order; Apollo's own
    // handler would stop only itself and then re-send the signal.
    stopOnTerminationSignals: false,
    parseOptions: { maxTokens: MAX_TOKENS },
    plugins: [
      // graphql-armor's typings resolve @apollo/server's CJS declarations; the plugins are
      // plain objects and fit the ESM ones exactly.
      ...(armor.plugins as ApolloServerPlugin<RequestContext>[]),
      ApolloServerPluginDrainHttpServer({ httpServer, stopGracePeriodMillis: 10_000 }),
      // Nothing here is cacheable by HTTP caches; the cache-control plugin would still wrap
      // every field of every row (a thousand processes are ~10,000 field resolutions).
      ApolloServerPluginCacheControlDisabled(),
      {
        async serverWillStart() {
          return {
            async drainServer() {
              clearInterval(pinger);
              clearInterval(rechecker);
              await wsHandle.dispose();
            },
          };
        },
      },
    ],
  });
  await apollo.start();

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
        return handleGraphQL(req, res, url);
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
        res.setHeader("content-type", options.metrics.contentType);
        res.end(await options.metrics.metrics());
        return;
      default:
        if (req.method === "GET" && (await dashboard.serve(url.pathname, res))) return;
        return sendJson(res, 404, { error: `no such path: ${url.pathname}` });
    }
  }

  async function handleGraphQL(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    const receivedAt = Date.now();
    const headers = new HeaderMap();
    for (const [key, value] of Object.entries(req.headers)) {
      if (value !== undefined) headers.set(key, Array.isArray(value) ? value.join(", ") : value);
    }
    const body = await readBody(req);
    if (body === "too large") {
      return sendGraphQLError(res, 413, `request body exceeds ${MAX_BODY_BYTES} bytes`);
    }
    let parsedBody: unknown = body;
    if (req.method === "POST" && /^application\/(?:[\w.+-]*\+)?json\b/i.test(headers.get("content-type") ?? "")) {
      try {
        parsedBody = body.length > 0 ? JSON.parse(body) : {};
      } catch {
        return sendGraphQLError(res, 400, "the request body is not valid JSON");
      }
    }
    const httpGraphQLRequest: HTTPGraphQLRequest = {
      method: (req.method ?? "GET").toUpperCase(),
      headers,
      search: url.search,
      body: parsedBody,
    };
    const response = await apollo.executeHTTPGraphQLRequest({
      httpGraphQLRequest,
      context: async () => {
        const token = bearerToken(headers.get("authorization"));
        const principal = token ? await authenticate(token) : null;
        if (!principal) {
          throw new UnauthenticatedError(
            token ? "unknown or revoked API token" : "a valid API token is required (Authorization: Bearer <token>)",
          );
        }
        return createContext(principal, services, { longLived: false, receivedAt });
      },
    });
    res.statusCode = response.status ?? 200;
    for (const [key, value] of response.headers) res.setHeader(key, value);
    if (res.statusCode === 401) res.setHeader("www-authenticate", 'Bearer realm="fleetvisor"');
    if (response.body.kind === "complete") {
      res.end(response.body.string);
      return;
    }
    for await (const chunk of response.body.asyncIterator) res.write(chunk);
    res.end();
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
    stop: () => apollo.stop(),
  };
}

function readBody(req: IncomingMessage): Promise<string | "too large"> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let tooLarge = false;
    req.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) tooLarge = true;
      else chunks.push(chunk);
    });
    req.on("end", () => resolve(tooLarge ? "too large" : Buffer.concat(chunks).toString("utf8")));
    req.on("error", reject);
  });
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  res.statusCode = status;
  res.setHeader("content-type", "application/json; charset=utf-8");
  res.setHeader("cache-control", "no-store");
  res.end(JSON.stringify(body));
}

function sendGraphQLError(res: ServerResponse, status: number, message: string): void {
  sendJson(res, status, { errors: [{ message, extensions: { code: "BAD_USER_INPUT" } }] });
}
