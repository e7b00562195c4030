import { unwrapResolverError } from "@apollo/server/errors";
import { GraphQLError, type GraphQLFormattedError } from "graphql";
import { describeDatabaseError, isDatabaseUnavailable } from "../db/db-errors.js";
import { AppError, DatabaseUnavailableError, ErrorCode } from "../errors.js";
import { SubscriberTooSlowError } from "../events/async-queue.js";
import type { Logger } from "../logger.js";

/**
 * Apollo's and graphql-js's own request errors, all of which are the client's to fix.
 * They keep their specific code as `extensions.reason`.
 */
const REQUEST_ERROR_CODES = new Set([
  "GRAPHQL_PARSE_FAILED",
  "GRAPHQL_VALIDATION_FAILED",
  "BAD_REQUEST",
  "BAD_USER_INPUT",
  "OPERATION_RESOLUTION_FAILURE",
  "PERSISTED_QUERY_NOT_FOUND",
  "PERSISTED_QUERY_NOT_SUPPORTED",
]);

export type ErrorFormatter = (formatted: GraphQLFormattedError, error: unknown) => GraphQLFormattedError;

/**
 * The error a resolver or a subscription's stream threw. Apollo's `unwrapResolverError`
 * takes it out of graphql-js's located errors; graphql-ws wraps an `AppError` that a
 * stream throws (CURSOR_EXPIRED) in a GraphQLError of its own, without a path, which it
 * leaves alone.
 */
function originalOf(error: unknown): unknown {
  const unwrapped = unwrapResolverError(error);
  if (unwrapped instanceof GraphQLError && unwrapped.originalError instanceof AppError) return unwrapped.originalError;
  return unwrapped;
}

/**
 * Every error leaves the server with a code from {@link ErrorCode}. `AppError`s pass
 * through as they are; request errors become `BAD_USER_INPUT`; an unreachable database
 * becomes `DATABASE_UNAVAILABLE`; anything else is logged in full and masked.
 */
export function createErrorFormatter(logger: Logger): ErrorFormatter {
  return (formatted, error) => {
    const original = originalOf(error);
    const where = { locations: formatted.locations, path: formatted.path };
    if (original instanceof AppError) {
      // `http` sets the response status (Apollo reads it before formatting); not for clients.
      const { http: _http, ...extensions } = original.extensions;
      return { ...formatted, extensions };
    }
    if (original instanceof SubscriberTooSlowError) {
      return {
        message: original.message,
        ...where,
        extensions: { code: ErrorCode.BAD_USER_INPUT, reason: "SUBSCRIBER_TOO_SLOW" },
      };
    }
    if (isDatabaseUnavailable(original)) {
      const reason = describeDatabaseError(original);
      logger.warn({ path: formatted.path, reason }, "registry database unavailable");
      const unavailable = new DatabaseUnavailableError(reason);
      return { message: unavailable.message, ...where, extensions: { code: ErrorCode.DATABASE_UNAVAILABLE } };
    }
    const code = formatted.extensions?.code;
    if (typeof code === "string" && REQUEST_ERROR_CODES.has(code)) {
      return { ...formatted, extensions: { ...formatted.extensions, code: ErrorCode.BAD_USER_INPUT, reason: code } };
    }
    logger.error({ err: original, path: formatted.path }, "unexpected error");
    return { message: "Internal server error", ...where, extensions: { code: ErrorCode.INTERNAL_SERVER_ERROR } };
  };
}

/**
 * The same formatting for errors that do not pass through Apollo (graphql-ws).
 * `requestError`: graphql-js rejected the request itself (validation, variables), which
 * Apollo would have coded for us.
 */
export function formatForClient(
  formatter: ErrorFormatter,
  error: GraphQLError,
  options: { readonly requestError: boolean },
): GraphQLFormattedError {
  const json = error.toJSON();
  const { http: _http, ...extensions } = (json.extensions ?? {}) as Record<string, unknown>;
  if (options.requestError && extensions.code === undefined && !(error.originalError instanceof Error)) {
    extensions.code = "GRAPHQL_VALIDATION_FAILED";
  }
  return formatter(
    { ...json, extensions: { ...extensions, code: extensions.code ?? ErrorCode.INTERNAL_SERVER_ERROR } },
    error,
  );
}
