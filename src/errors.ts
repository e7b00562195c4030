import { GraphQLError } from "graphql";

/** Every `extensions.code` a client of Fleetvisor can see. */
export enum ErrorCode {
  UNAUTHENTICATED = "UNAUTHENTICATED",
  FORBIDDEN = "FORBIDDEN",
  NOT_FOUND = "NOT_FOUND",
  BAD_USER_INPUT = "BAD_USER_INPUT",
  CONFLICT = "CONFLICT",
  SUPERVISOR_UNAVAILABLE = "SUPERVISOR_UNAVAILABLE",
  SUPERVISOR_FAULT = "SUPERVISOR_FAULT",
  /** The registry database did not answer in time; retrying later is safe. */
  DATABASE_UNAVAILABLE = "DATABASE_UNAVAILABLE",
  /** A limit was reached; `extensions.reason` says which (see {@link LimitExceededError}). */
  LIMIT_EXCEEDED = "LIMIT_EXCEEDED",
  /**
   * A subscription resumed from an event id whose successors may have been pruned
   * (EVENT_RETENTION_DAYS): what it missed cannot be replayed. Subscribe again without
   * `after` (and reload what it shows).
   */
  CURSOR_EXPIRED = "CURSOR_EXPIRED",
  INTERNAL_SERVER_ERROR = "INTERNAL_SERVER_ERROR",
}

/**
 * The base of every error Fleetvisor means a client to read. Anything that is not an
 * `AppError` is logged and masked before it leaves the server.
 */
export abstract class AppError<C extends ErrorCode = ErrorCode> extends GraphQLError {
  abstract readonly code: C;

  protected constructor(message: string, code: C, extensions: Record<string, unknown> = {}, httpStatus?: number) {
    super(message, {
      extensions: { code, ...extensions, ...(httpStatus ? { http: { status: httpStatus } } : {}) },
    });
    this.name = new.target.name;
  }
}

export class UnauthenticatedError extends AppError<ErrorCode.UNAUTHENTICATED> {
  readonly code = ErrorCode.UNAUTHENTICATED;
  constructor(message = "a valid API token is required (Authorization: Bearer <token>)") {
    super(message, ErrorCode.UNAUTHENTICATED, {}, 401);
  }
}

export class ForbiddenError extends AppError<ErrorCode.FORBIDDEN> {
  readonly code = ErrorCode.FORBIDDEN;
  constructor(message: string) {
    super(message, ErrorCode.FORBIDDEN);
  }
}

export class NotFoundError extends AppError<ErrorCode.NOT_FOUND> {
  readonly code = ErrorCode.NOT_FOUND;
  constructor(message: string, extensions: Record<string, unknown> = {}) {
    super(message, ErrorCode.NOT_FOUND, extensions);
  }
}

/** One invalid argument or input field, named by its path (`input.port`). */
export interface InvalidField {
  readonly field: string;
  readonly message: string;
}

export class BadUserInputError extends AppError<ErrorCode.BAD_USER_INPUT> {
  readonly code = ErrorCode.BAD_USER_INPUT;
  constructor(
    message: string,
    readonly invalidFields: readonly InvalidField[] = [],
  ) {
    super(message, ErrorCode.BAD_USER_INPUT, invalidFields.length > 0 ? { invalidFields } : {});
  }

  /** One error naming every invalid field at once. */
  static of(fields: readonly InvalidField[]): BadUserInputError {
    return new BadUserInputError(fields.map((f) => `${f.field} ${f.message}`).join("; "), fields);
  }
}

export class ConflictError extends AppError<ErrorCode.CONFLICT> {
  readonly code = ErrorCode.CONFLICT;
  constructor(message: string) {
    super(message, ErrorCode.CONFLICT);
  }
}

export class DatabaseUnavailableError extends AppError<ErrorCode.DATABASE_UNAVAILABLE> {
  readonly code = ErrorCode.DATABASE_UNAVAILABLE;
  /** `httpStatus` only where the whole request fails (for example, checking its token). */
  constructor(reason: string, httpStatus?: number) {
    super(`the registry database is unavailable: ${reason}`, ErrorCode.DATABASE_UNAVAILABLE, {}, httpStatus);
  }
}

/**
 * A limit on what one client may do was reached: too many failed authentications from its
 * address (HTTP 429 with `Retry-After`, also in `extensions.retryAfterSeconds`), or too
 * many operations at once on one WebSocket (the socket stays usable).
 */
export class LimitExceededError extends AppError<ErrorCode.LIMIT_EXCEEDED> {
  readonly code = ErrorCode.LIMIT_EXCEEDED;

  private constructor(message: string, extensions: Record<string, unknown>) {
    super(message, ErrorCode.LIMIT_EXCEEDED, extensions);
  }

  static authFailures(retryAfterSeconds: number): LimitExceededError {
    return new LimitExceededError(
      `too many failed authentications from this address; retry after ${retryAfterSeconds} s`,
      {
        reason: "AUTH_FAILURES",
        retryAfterSeconds,
        // Apollo takes the response's status and headers from here (formatError drops it).
        http: { status: 429, headers: new Map([["retry-after", String(retryAfterSeconds)]]) },
      },
    );
  }

  static subscriptionsPerSocket(limit: number): LimitExceededError {
    return new LimitExceededError(
      `this WebSocket already runs ${limit} operations, the most it may; complete one before starting another`,
      { reason: "SUBSCRIPTIONS_PER_SOCKET", limit },
    );
  }
}

export class CursorExpiredError extends AppError<ErrorCode.CURSOR_EXPIRED> {
  readonly code = ErrorCode.CURSOR_EXPIRED;
  /** `after`: the id resumed from; `prunedThrough`: the highest id pruned. */
  constructor(after: bigint, prunedThrough: bigint) {
    super(
      `events after ${after} may have been pruned (the log is pruned through event ${prunedThrough}); ` +
        "subscribe without after, and reload what the missed events would have changed",
      ErrorCode.CURSOR_EXPIRED,
      { prunedThrough: prunedThrough.toString() },
    );
  }
}

/** Closes a `switch` over a union: the compiler proves `value` cannot happen. */
export class UnreachableCaseError extends Error {
  constructor(value: never) {
    super(`unreachable case: ${JSON.stringify(value)}`);
  }
}
