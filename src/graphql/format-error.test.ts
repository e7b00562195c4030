import { GraphQLError } from "graphql";
import { QueryFailedError } from "typeorm";
import { describe, expect, it, vi } from "vitest";
import { BadUserInputError, CursorExpiredError, ForbiddenError, UnauthenticatedError } from "../errors.js";
import type { Logger } from "../logger.js";
import { createErrorFormatter } from "./format-error.js";

function setup() {
  const logger = { error: vi.fn(), warn: vi.fn() } as unknown as Logger & {
    error: ReturnType<typeof vi.fn>;
    warn: ReturnType<typeof vi.fn>;
  };
  return { logger, format: createErrorFormatter(logger) };
}

function located(original: Error): GraphQLError {
  return new GraphQLError(original.message, { path: ["processes"], originalError: original });
}

describe("createErrorFormatter", () => {
  it("passes Fleetvisor's own errors through with their code, without the http hint", () => {
    const { format } = setup();
    const error = new UnauthenticatedError();
    expect(format({ message: error.message, extensions: { code: "UNAUTHENTICATED" } }, error)).toEqual({
      message: error.message,
      extensions: { code: "UNAUTHENTICATED" },
    });
    const bad = located(BadUserInputError.of([{ field: "input.port", message: "must be between 1 and 65535" }]));
    expect(format({ message: bad.message, path: ["processes"] }, bad).extensions).toEqual({
      code: "BAD_USER_INPUT",
      invalidFields: [{ field: "input.port", message: "must be between 1 and 65535" }],
    });
    const forbidden = located(new ForbiddenError("no"));
    expect(format({ message: "no" }, forbidden).extensions?.code).toBe("FORBIDDEN");
  });

  it("passes through an AppError that a subscription's stream threw, as graphql-ws wraps it", () => {
    const { format, logger } = setup();
    const expired = new CursorExpiredError(41n, 99n);
    // graphql-ws: new GraphQLError(message, { originalError }), no path.
    const wrapped = new GraphQLError(expired.message, { originalError: expired });
    expect(format({ message: expired.message, extensions: { code: "CURSOR_EXPIRED" } }, wrapped)).toEqual({
      message: expired.message,
      extensions: { code: "CURSOR_EXPIRED", prunedThrough: "99" },
    });
    expect(logger.error).not.toHaveBeenCalled();
  });

  it("masks anything unexpected (its text may say too much), and logs it for the operator", () => {
    const { format, logger } = setup();
    const leak = located(new Error("Cannot read properties of undefined (reading 'pid')"));
    const formatted = format(
      { message: leak.message, path: ["processes"], extensions: { code: "INTERNAL_SERVER_ERROR" } },
      leak,
    );
    expect(formatted).toEqual({
      message: "Internal server error",
      path: ["processes"],
      extensions: { code: "INTERNAL_SERVER_ERROR" },
    });
    expect(logger.error).toHaveBeenCalledOnce();
  });

  it("turns an unreachable database into DATABASE_UNAVAILABLE", () => {
    const { format } = setup();
    const driverError = Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:3306"), { code: "ECONNREFUSED" });
    const error = located(new QueryFailedError("SELECT 1", [], driverError));
    expect(format({ message: error.message, path: ["processes"] }, error)).toEqual({
      message: "the registry database is unavailable: connection refused",
      path: ["processes"],
      extensions: { code: "DATABASE_UNAVAILABLE" },
    });
  });

  it("codes the server's own request errors BAD_USER_INPUT and keeps the specific reason", () => {
    const { format } = setup();
    const error = new GraphQLError("Cannot query field", { extensions: { code: "GRAPHQL_VALIDATION_FAILED" } });
    expect(
      format({ message: error.message, extensions: { code: "GRAPHQL_VALIDATION_FAILED" } }, error).extensions,
    ).toEqual({
      code: "BAD_USER_INPUT",
      reason: "GRAPHQL_VALIDATION_FAILED",
    });
  });
});
