import type { IncomingMessage, ServerResponse } from "node:http";
import { ApolloServer, HeaderMap, type ApolloServerPlugin, type HTTPGraphQLRequest } from "@apollo/server";
import { ApolloServerPluginCacheControlDisabled } from "@apollo/server/plugin/disabled";
import { getOperationAST, OperationTypeNode, parse, type GraphQLSchema } from "graphql";
import type { Principal } from "../auth/principal.js";
import { AppError, ErrorCode, LimitExceededError, UnauthenticatedError, UnreachableCaseError } from "../errors.js";
import { createContext, type RequestContext, type Services } from "../graphql/context.js";
import type { ErrorFormatter } from "../graphql/format-error.js";
import type { AuthGuard, AuthVerdict } from "./auth-guard.js";
import { bearerToken } from "./bearer-auth.js";
import { compiledQueries } from "./compiled-queries.js";
import { MAX_BODY_BYTES, MAX_TOKENS, type ArmorProtection } from "./request-limits.js";
import { sendJson } from "./send-json.js";

/**
 * A subscription sent over HTTP. Apollo would run its resolvers as if it were a query and
 * fail inside them; subscriptions need graphql-ws on the same path.
 */
export class SubscriptionOverHttpError extends AppError<ErrorCode.BAD_USER_INPUT> {
  readonly code = ErrorCode.BAD_USER_INPUT;
  constructor(path: string) {
    super(
      `subscriptions are served over WebSocket only: connect a graphql-ws client (subprotocol ` +
        `"graphql-transport-ws") to ${path} on this server; HTTP GET and POST carry queries and mutations`,
      ErrorCode.BAD_USER_INPUT,
      { reason: "SUBSCRIPTION_NEEDS_WEBSOCKET" },
      400,
    );
  }
}

export interface GraphQLHttpOptions {
  readonly schema: GraphQLSchema;
  readonly services: Services;
  /** Checks each request's token, within the failed-authentication limit. */
  readonly guard: AuthGuard;
  readonly formatError: ErrorFormatter;
  readonly armor: ArmorProtection;
  /** Turns introspection off. */
  readonly production: boolean;
  /** Apollo plugins of the server around this handler (draining it, closing other transports). */
  readonly plugins: readonly ApolloServerPlugin<RequestContext>[];
}

export interface GraphQLHttp {
  /** Answers one request to the GraphQL path (GET or POST). */
  handle(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void>;
  /** Stops Apollo, which runs the plugins' `drainServer` first. */
  stop(): Promise<void>;
}

/**
 * GraphQL over HTTP: Apollo Server behind a small `node:http` handler (body size limit,
 * JSON parsing, bearer-token authentication, `WWW-Authenticate` on 401, 429 with
 * `Retry-After` for an address that failed too often).
 */
export async function startGraphQLHttp(options: GraphQLHttpOptions): Promise<GraphQLHttp> {
  const { schema, services, guard, armor } = options;
  const apollo = new ApolloServer<RequestContext>({
    gateway: compiledQueries(schema),
    introspection: !options.production,
    includeStacktraceInErrorResponses: false,
    // Authentication is by bearer token only (no cookies), so a cross-site request cannot
    // carry credentials: Apollo's CSRF guard would only refuse plain GET queries.
    csrfPrevention: false,
    formatError: options.formatError,
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
      // Nothing here is cacheable by HTTP caches; the cache-control plugin would still wrap
      // every field of every row (a thousand processes are ~10,000 field resolutions).
      ApolloServerPluginCacheControlDisabled(),
      ...options.plugins,
    ],
  });
  await apollo.start();

  async function handle(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
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
      // Runs before Apollo parses anything: who is asking comes first, then whether the
      // operation can be served over HTTP at all (Apollo's own check answers a GET
      // subscription with "use POST", which would not work either).
      context: async () => {
        const principal = principalOf(await guard.check(bearerToken(headers.get("authorization")), req));
        if (isSubscription(httpGraphQLRequest)) throw new SubscriptionOverHttpError(url.pathname);
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

  return { handle, stop: () => apollo.stop() };
}

/** The principal of an authenticated request; the error to answer with otherwise. */
function principalOf(check: AuthVerdict): Principal {
  switch (check.verdict) {
    case "authenticated":
      return check.principal;
    case "missing":
      throw new UnauthenticatedError("a valid API token is required (Authorization: Bearer <token>)");
    case "rejected":
      throw new UnauthenticatedError("unknown or revoked API token");
    case "refused":
      throw LimitExceededError.authFailures(check.retryAfterSeconds);
    default:
      throw new UnreachableCaseError(check);
  }
}

/**
 * Whether the operation a GET or POST asks to run is a subscription. Only documents that
 * mention the keyword are parsed here; one that does not parse is left to Apollo to reject.
 */
function isSubscription(request: HTTPGraphQLRequest): boolean {
  let query: unknown;
  let operationName: unknown;
  if (request.method === "GET") {
    const params = new URLSearchParams(request.search);
    query = params.get("query");
    operationName = params.get("operationName");
  } else if (typeof request.body === "object" && request.body !== null && !Array.isArray(request.body)) {
    ({ query, operationName } = request.body as Record<string, unknown>);
  }
  if (typeof query !== "string" || !/\bsubscription\b/.test(query)) return false;
  try {
    const document = parse(query, { maxTokens: MAX_TOKENS });
    const operation = getOperationAST(document, typeof operationName === "string" ? operationName : undefined);
    return operation?.operation === OperationTypeNode.SUBSCRIPTION;
  } catch {
    return false;
  }
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

function sendGraphQLError(res: ServerResponse, status: number, message: string): void {
  sendJson(res, status, { errors: [{ message, extensions: { code: "BAD_USER_INPUT" } }] });
}
