import type { Server } from "node:http";
import {
  parse,
  specifiedRules,
  validate,
  type DocumentNode,
  type ExecutionArgs,
  type ExecutionResult,
  type FormattedExecutionResult,
  type GraphQLError,
  type GraphQLSchema,
} from "graphql";
import { CloseCode, type Context } from "graphql-ws";
import { useServer } from "graphql-ws/use/ws";
import type { Logger } from "../logger.js";
import { WebSocketServer, type WebSocket } from "ws";
import type { Principal } from "../auth/principal.js";
import { DatabaseUnavailableError, LimitExceededError, UnauthenticatedError, UnreachableCaseError } from "../errors.js";
import { createContext, type RequestContext, type Services } from "../graphql/context.js";
import { formatForClient, type ErrorFormatter } from "../graphql/format-error.js";
import type { AuthGuard, AuthVerdict } from "./auth-guard.js";
import { bearerToken, type Authenticate } from "./bearer-auth.js";
import { MAX_BODY_BYTES, MAX_TOKENS, type ArmorProtection } from "./request-limits.js";
import { LruMap } from "../lru-map.js";
import { sharedSubscribe, type DirectTarget } from "./shared-execution.js";

/**
 * graphql-ws's own keep-alive: a ping every interval, and a socket whose pong has not come
 * back one interval later is terminated, so a peer that vanished without closing (a dead
 * network path never says so) is dropped within two intervals.
 */
export const WS_KEEP_ALIVE_MS = 12_000;

/**
 * A socket with this much written and not yet taken by its peer is too far behind: its
 * subscription fed directly by the event stream ends with SUBSCRIBER_TOO_SLOW (as one
 * fed through its queue does past 10,000 events).
 */
const MIB = 1024 * 1024;
const MAX_UNSENT_BYTES = 8 * MIB;

/** Subscription documents kept parsed and validated, each at most this long. */
const VALID_DOCUMENTS = 256;
const VALID_DOCUMENT_CHARS = 8_192;

/**
 * A socket that has not sent `connection_init` this long after opening is closed with
 * 4408 (graphql-ws's `connectionInitWaitTimeout`, whose default this is too; set here so
 * that it is a decision, not an accident).
 */
export const CONNECTION_INIT_TIMEOUT_MS = 3_000;

/**
 * Closes a socket whose address failed to authenticate too often, and one over its
 * token's cap of sockets. graphql-ws's client takes it as final and does not retry
 * (it is its `TooManyInitialisationRequests`).
 */
export const TOO_MANY_CLOSE_CODE = 4429;

export interface WsTransportOptions {
  /** The server whose upgrades on `path` become graphql-ws connections. */
  readonly httpServer: Server;
  readonly path: string;
  readonly schema: GraphQLSchema;
  readonly services: Services;
  readonly logger: Logger;
  /** Checks the token of a socket that opens, within the failed-authentication limit. */
  readonly guard: AuthGuard;
  /**
   * Checks its token again for each operation and every `tokenRecheckMs`.
   * Throws `DatabaseUnavailableError` when the database cannot answer (see `withDatabaseOutage`).
   */
  readonly authenticate: Authenticate;
  readonly formatError: ErrorFormatter;
  readonly armor: ArmorProtection;
  /**
   * Operations one socket may run at once; the next is answered with a LIMIT_EXCEEDED
   * error and the socket stays open.
   */
  readonly maxSubscriptions: number;
  /** Sockets one token may hold open at once on this replica; the next is closed with 4429. */
  readonly maxConnectionsPerToken: number;
  /** How often open sockets' tokens are checked again (`WS_TOKEN_RECHECK_SECONDS`). */
  readonly tokenRecheckMs: number;
  /**
   * graphql-ws's keep-alive interval (`useServer`'s `keepAlive`); see {@link WS_KEEP_ALIVE_MS}.
   * @default WS_KEEP_ALIVE_MS
   */
  readonly keepAliveMs?: number;
}

export interface WsTransport {
  /**
   * Subscriptions streaming now, over every open WebSocket (a query or mutation sent over
   * WebSocket is not one), read from graphql-ws's own bookkeeping: it cannot drift.
   */
  openSubscriptions(): number;
  /** Stops the token re-check, closes every socket (1001) and the WebSocket server. */
  dispose(): Promise<void>;
}

/**
 * GraphQL over WebSocket (graphql-ws, subprotocol `graphql-transport-ws`) on `path`: the
 * token is checked when a socket opens, again for every operation, and every
 * `tokenRecheckMs` while it stays open. A socket must send
 * `connection_init` within {@link CONNECTION_INIT_TIMEOUT_MS}; one token holds at most
 * `maxConnectionsPerToken` sockets, and one socket runs at most `maxSubscriptions`
 * operations at once.
 */
export function startWsTransport(options: WsTransportOptions): WsTransport {
  const { schema, services, logger, authenticate, formatError, armor, maxSubscriptions, maxConnectionsPerToken } =
    options;
  const wsServer = new WebSocketServer({ server: options.httpServer, path: options.path, maxPayload: MAX_BODY_BYTES });
  /** The token of every open, authenticated WebSocket. */
  const socketTokens = new Map<WebSocket, string>();
  /** Documents that parsed and validated, by their text (bounded: clients choose the text). */
  const validDocuments = new LruMap<string, DocumentNode>(VALID_DOCUMENTS);
  /** Every open, authenticated connection, whose `subscriptions` graphql-ws keeps current. */
  const connections = new Set<Context>();
  /** How many of those each token holds. */
  const socketsPerToken = new Map<string, number>();
  /** Where each subscription's results may be sent directly, by its context (see sharedSubscribe). */
  const directTargets = new WeakMap<object, DirectTarget>();
  /** What a result is sent as (errors formatted), once per result however many subscribers share it. */
  const payloads = new WeakMap<ExecutionResult, string>();
  /** `result` with its `errors` as clients are shown them. */
  const withClientErrors = (result: ExecutionResult, errors: readonly GraphQLError[]): FormattedExecutionResult => {
    const requestError = !("data" in result) || result.data === undefined;
    return { ...result, errors: errors.map((e) => formatForClient(formatError, e, { requestError })) };
  };
  const payloadOf = (result: ExecutionResult): string => {
    let payload = payloads.get(result);
    if (payload === undefined) {
      payload = JSON.stringify(result.errors ? withClientErrors(result, result.errors) : result);
      payloads.set(result, payload);
    }
    return payload;
  };

  const wsHandle = useServer<Record<string, unknown>, Record<string, never>>(
    {
      schema,
      // One execution per event for all subscribers asking the same, and the event streams'
      // results sent without graphql-ws's loop once they are live (see sharedSubscribe).
      subscribe: sharedSubscribe((args) => directTargets.get(args.contextValue as object)),
      connectionInitWaitTimeout: CONNECTION_INIT_TIMEOUT_MS,
      onConnect: async (ctx) => {
        const { socket, request } = ctx.extra;
        const token = bearerToken(ctx.connectionParams?.authorization ?? ctx.connectionParams?.Authorization);
        let check: AuthVerdict;
        try {
          check = await options.guard.check(token, request);
        } catch (error) {
          // 1013 "try again later": clients retry, instead of taking it for a bad token.
          socket.close(
            1013,
            error instanceof DatabaseUnavailableError
              ? "Try Again Later: the registry database is unavailable"
              : "Try Again Later",
          );
          return false;
        }
        const refusal = refusalOf(check);
        if (refusal) {
          socket.close(...refusal);
          return false;
        }
        // Gone while its token was checked: it never reaches "close" again to be counted out.
        if (socket.readyState !== socket.OPEN) return false;
        const open = socketsPerToken.get(token!) ?? 0;
        if (open >= maxConnectionsPerToken) {
          socket.close(TOO_MANY_CLOSE_CODE, `Too many connections: this token has ${open} open`);
          return false;
        }
        socketsPerToken.set(token!, open + 1);
        socketTokens.set(socket, token!);
        connections.add(ctx);
        socket.once("close", () => {
          socketTokens.delete(socket);
          connections.delete(ctx);
          const left = (socketsPerToken.get(token!) ?? 1) - 1;
          if (left > 0) socketsPerToken.set(token!, left);
          else socketsPerToken.delete(token!);
        });
        return true;
      },
      onSubscribe: async (ctx, id, payload) => {
        // graphql-ws has already listed this operation among the socket's.
        if (Object.keys(ctx.subscriptions).length > maxSubscriptions) {
          return [LimitExceededError.subscriptionsPerSocket(maxSubscriptions)];
        }
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
        // Thousands of dashboards subscribe with the same few documents: each is parsed and
        // validated once, and every subscription holds the same one.
        let document = validDocuments.get(payload.query);
        if (!document) {
          try {
            document = parse(payload.query, { maxTokens: MAX_TOKENS });
          } catch (error) {
            return [error as GraphQLError];
          }
          const errors = validate(schema, document, [...specifiedRules, ...armor.validationRules]);
          if (errors.length > 0) return [...errors];
          if (payload.query.length <= VALID_DOCUMENT_CHARS) validDocuments.set(payload.query, document);
        }
        const contextValue = createContext(principal, services, { longLived: true }) satisfies RequestContext;
        directTargets.set(contextValue, directTarget(ctx.extra.socket, id, payloadOf));
        const args: ExecutionArgs = {
          schema,
          document,
          operationName: payload.operationName,
          variableValues: payload.variables,
          contextValue,
        };
        return args;
      },
      onError: (_ctx, _id, _payload, errors) =>
        errors.map((error) => formatForClient(formatError, error, { requestError: true })),
      onNext: (_ctx, _id, _payload, _args, result) =>
        result.errors ? withClientErrors(result, result.errors) : undefined,
    },
    wsServer,
    options.keepAliveMs ?? WS_KEEP_ALIVE_MS,
  );

  // A socket error is a peer's doing (a frame over maxPayload, a broken frame), not the
  // service's: graphql-ws's own handler prints it with its stack to stderr and answers
  // 1011 "Internal Error". Registered after useServer's, this handler runs after it on
  // each connection and replaces its error listener with one that logs a line and closes
  // with the code ws chose (1009 for a frame too large, 1002 for a protocol error) as ws
  // does on its own.
  wsServer.on("connection", (socket) => {
    for (const listener of socket.listeners("error")) socket.off("error", listener as (error: Error) => void);
    socket.on("error", (error: Error & { code?: string }) => {
      logger.warn({ reason: error.message, code: error.code }, "a WebSocket peer sent what the protocol refuses");
    });
  });

  // Open subscriptions outlive any one request: every so often, each socket's token is
  // checked again, and a socket whose token was revoked is closed.
  const rechecker = setInterval(() => void recheckOpenSockets(socketTokens, authenticate), options.tokenRecheckMs);
  rechecker.unref();

  return {
    openSubscriptions() {
      let open = 0;
      for (const connection of connections) {
        // An entry is null while an operation is being prepared or answers once; an
        // iterator once it streams (graphql-ws's Context.subscriptions).
        for (const subscription of Object.values(connection.subscriptions)) if (subscription) open += 1;
      }
      return open;
    },
    async dispose() {
      clearInterval(rechecker);
      await wsHandle.dispose();
    },
  };
}

/**
 * Sends results of operation `id` on `socket` as graphql-ws's `next` messages, each
 * result's payload as `payloadOf` gives it. Refuses (`false`, nothing sent) while the
 * socket holds more than `maxUnsentBytes` its peer has not taken; a socket no longer
 * open takes nothing and refuses nothing.
 */
export function directTarget(
  socket: Pick<WebSocket, "readyState" | "OPEN" | "bufferedAmount" | "send">,
  id: string,
  payloadOf: (result: ExecutionResult) => string,
  maxUnsentBytes = MAX_UNSENT_BYTES,
): DirectTarget {
  const head = `{"id":${JSON.stringify(id)},"type":"next","payload":`;
  return {
    limit: maxUnsentBytes % MIB === 0 ? `${maxUnsentBytes / MIB} MiB of events` : `${maxUnsentBytes} bytes of events`,
    send: (result) => {
      if (socket.readyState !== socket.OPEN) return true;
      if (socket.bufferedAmount > maxUnsentBytes) return false;
      socket.send(`${head}${payloadOf(result)}}`);
      return true;
    },
  };
}

/** The close code and reason for a socket whose token check failed; none when it passed. */
function refusalOf(check: AuthVerdict): [code: number, reason: string] | undefined {
  switch (check.verdict) {
    case "authenticated":
      return undefined;
    case "missing":
      return [CloseCode.Unauthorized, "Unauthorized: token required"];
    case "rejected":
      return [CloseCode.Unauthorized, "Unauthorized: unknown or revoked token"];
    case "refused":
      return [TOO_MANY_CLOSE_CODE, `Too many failed authentications: retry in ${check.retryAfterSeconds} s`];
    default:
      throw new UnreachableCaseError(check);
  }
}

/**
 * One pass of the open-socket token re-check: each distinct token is authenticated again
 * once (a cache hit mostly; hundreds of dashboards often share one token), one token after
 * another so that a pass never floods the pool, and the sockets of a token that is unknown
 * or revoked are closed with 4401. A database that cannot answer is no verdict on a
 * token: those sockets stay open.
 */
export async function recheckOpenSockets(
  socketTokens: ReadonlyMap<Pick<WebSocket, "close">, string>,
  authenticate: Authenticate,
): Promise<void> {
  const byToken = new Map<string, Pick<WebSocket, "close">[]>();
  for (const [socket, token] of socketTokens) {
    const sockets = byToken.get(token);
    if (sockets) sockets.push(socket);
    else byToken.set(token, [socket]);
  }
  for (const [token, sockets] of byToken) {
    const principal = await authenticate(token).catch(() => undefined);
    if (principal === null) {
      for (const socket of sockets) socket.close(CloseCode.Unauthorized, "Unauthorized: the token was revoked");
    }
  }
}
