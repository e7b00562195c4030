import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import { IsNull, type DataSource, type EntityManager } from "typeorm";
import { systemClock, type Clock } from "../clock.js";
import { ApiTokenEntity } from "../db/api-token.entity.js";
import type { Database } from "../db/database.js";
import { beforeDeadline } from "../db/deadline.js";
import { describeDatabaseError, isDatabaseUnavailable } from "../db/db-errors.js";
import { BadUserInputError, DatabaseUnavailableError, NotFoundError, type InvalidField } from "../errors.js";
import { KnownTokenHashes } from "./known-token-hashes.js";
import type { Principal } from "./principal.js";
import { processPatternProblem } from "./process-pattern.js";
import type { TokenUsage } from "./token-usage.js";
import { Role, ROLES } from "../domain/role.js";
import { LruMap } from "../lru-map.js";

/** The actor name recorded for the bootstrap admin token. */
export const BOOTSTRAP_ADMIN_NAME = "bootstrap-admin";
const TOKEN_PREFIX = "fvt_";
/** Bounds the memory of verified tokens, and apart from them that of unknown ones. */
const CACHE_LIMIT = 10_000;
const TOKEN_NAME = /^[\x21-\x7e](?:[\x20-\x7e]{0,98}[\x21-\x7e])?$/;
/** DATETIME's last year. */
const LATEST_EXPIRY = Date.UTC(9999, 11, 31);

/** SHA-256 is right for tokens: they are 256 random bits, so there is nothing to brute-force. */
export function hashToken(token: string): string {
  return createHash("sha256").update(token, "utf8").digest("hex");
}

export interface NewToken {
  readonly name: string;
  readonly role: Role;
  readonly processPattern?: string | null | undefined;
  /** When it stops being accepted; none: never. */
  readonly expiresAt?: Date | null | undefined;
}

/** A token as listed: never the token, never its hash. */
export interface TokenInfo {
  readonly id: number;
  readonly name: string;
  readonly role: Role;
  readonly processPattern: string | null;
  readonly tokenPrefix: string;
  readonly createdBy: string;
  readonly createdAt: Date;
  readonly revokedAt: Date | null;
  readonly expiresAt: Date | null;
  /** When it was last accepted, to the minute; `null` if never. */
  readonly lastUsedAt: Date | null;
}

export interface CreatedToken extends TokenInfo {
  /** The plain token: returned once, never stored. */
  readonly token: string;
}

function toInfo(row: ApiTokenEntity): TokenInfo {
  return {
    id: row.id,
    name: row.name,
    role: row.role,
    processPattern: row.processPattern,
    tokenPrefix: row.tokenPrefix,
    createdBy: row.createdBy,
    createdAt: row.createdAt,
    revokedAt: row.revokedAt,
    expiresAt: row.expiresAt,
    lastUsedAt: row.lastUsedAt,
  };
}

/** Problems with a new token's fields, each named; `now` is when it is made. */
export function newTokenProblems(input: NewToken, now: Date = new Date()): InvalidField[] {
  const problems: InvalidField[] = [];
  if (!TOKEN_NAME.test(input.name)) {
    problems.push({
      field: "name",
      message: "must be 1–100 printable characters, not starting or ending with a space",
    });
  }
  if (!ROLES.includes(input.role)) {
    problems.push({ field: "role", message: `must be one of ${ROLES.join(", ")}` });
  }
  const pattern = input.processPattern ?? null;
  if (pattern === null) {
    if (input.role === Role.AGENT) {
      problems.push({
        field: "processPattern",
        message: "is required for an agent token (a process name or prefix-*)",
      });
    }
  } else if (input.role === Role.ADMIN) {
    // An admin makes tokens and registry rows: bound or not, it could make itself an
    // unbound token, so a binding would only look like a limit.
    problems.push({
      field: "processPattern",
      message: "cannot bind an admin token (admins manage tokens); bind an OPERATOR token instead",
    });
  } else {
    const problem = processPatternProblem(pattern);
    if (problem) problems.push({ field: "processPattern", message: problem });
  }
  const expiresAt = input.expiresAt;
  if (expiresAt && !(expiresAt.getTime() > now.getTime() && expiresAt.getTime() <= LATEST_EXPIRY)) {
    problems.push({
      field: "expiresAt",
      message: `must be in the future and before the year 10000 (got ${expiresAt.toISOString()})`,
    });
  }
  return problems;
}

interface CacheEntry {
  readonly principal: Principal | null;
  readonly expiresAt: number;
}

/**
 * A token query that reached the database (see `TokenService`'s `onLookup`): one token
 * found valid, unknown, or not answered; or the `list` of known hashes read.
 */
export type TokenLookupOutcome = "valid" | "unknown" | "unavailable" | "list";

/** How long a token lookup may take before the database counts as unavailable for it. */
const LOOKUP_TIMEOUT_MS = 1_000;
/**
 * While the database cannot be asked, a token's last verdict stands for this long after
 * it expired: nothing can be revoked while the database is away, and the callers that
 * keep a fleet alive (agents' heartbeats) should not fail on the check of a token they
 * used a moment ago.
 */
const STALE_IF_UNAVAILABLE_MS = 15 * 60_000;

/** A token created or revoked, as the audit trail records it. */
export interface TokenChange {
  readonly change: "created" | "revoked";
  readonly token: TokenInfo;
  /** Who did it. */
  readonly actor: Principal;
}

/**
 * Where token changes are recorded (the event log): inside the transaction that makes
 * them, so that a change and its record commit together. `record` returns what to run
 * after the commit (the publish).
 */
export interface TokenAudit {
  record(manager: EntityManager, change: TokenChange): Promise<() => Promise<void>>;
}

export interface TokenServiceOptions {
  /** Accepted as an admin token as is; never stored. */
  readonly bootstrapAdminToken: string | undefined;
  readonly cacheTtlMs: number;
  /** Told of every lookup that reached the database (a metric of token SELECTs). */
  readonly onLookup?: ((outcome: TokenLookupOutcome) => void) | undefined;
  /** Where accepted tokens' last use is recorded; none (the CLI): not recorded. */
  readonly usage?: TokenUsage | undefined;
}

/**
 * API tokens: creation (the plain token is shown once), listing, revocation, and the
 * check of every request's bearer token.
 *
 * Verified tokens are remembered for `cacheTtlMs` so that the heartbeat path does not pay
 * a lookup per call; revoking on this replica takes effect at once, on another replica
 * within `cacheTtlMs`. Unknown tokens are remembered as long, apart, so that a flood of
 * wrong tokens neither costs a lookup per repeat nor pushes verified tokens out (each
 * side holds at most {@link CACHE_LIMIT}, least recently used forgotten first). A token's
 * expiry travels with its principal, so that one is refused from the moment it expires,
 * remembered or not.
 */
export class TokenService {
  private readonly verified = new LruMap<string, CacheEntry>(CACHE_LIMIT);
  private readonly unknown = new LruMap<string, CacheEntry>(CACHE_LIMIT);
  /** Lookups under way, shared by every request that carries the same token. */
  private readonly lookups = new Map<string, Promise<Principal | null>>();
  private readonly bootstrapHash: Buffer | undefined;
  private readonly cacheTtlMs: number;
  private readonly onLookup: (outcome: TokenLookupOutcome) => void;
  private readonly knownHashes: KnownTokenHashes;
  private readonly dataSource: DataSource;
  private readonly usage: TokenUsage | undefined;

  constructor(
    private readonly database: Database,
    private readonly audit: TokenAudit,
    options: TokenServiceOptions,
    private readonly clock: Clock = systemClock,
  ) {
    this.dataSource = database.dataSource;
    this.bootstrapHash = options.bootstrapAdminToken
      ? Buffer.from(hashToken(options.bootstrapAdminToken), "hex")
      : undefined;
    this.cacheTtlMs = options.cacheTtlMs;
    this.onLookup = options.onLookup ?? (() => undefined);
    this.knownHashes = new KnownTokenHashes(this.dataSource, () => this.onLookup("list"));
    this.usage = options.usage;
  }

  /** The principal for a bearer token, or `null` when the token is unknown, revoked or expired. */
  async authenticate(token: string): Promise<Principal | null> {
    const hash = hashToken(token);
    if (this.isBootstrap(hash)) {
      return { tokenId: null, name: BOOTSTRAP_ADMIN_NAME, role: Role.ADMIN, processPattern: null };
    }
    const cached = this.verified.get(hash) ?? this.unknown.get(hash);
    if (cached && cached.expiresAt > Date.now()) return this.admit(cached.principal);
    let lookup = this.lookups.get(hash);
    if (!lookup) {
      lookup = this.lookUp(hash, cached).finally(() => this.lookups.delete(hash));
      this.lookups.set(hash, lookup);
    }
    return this.admit(await lookup);
  }

  /** `principal` unless its token has expired; an accepted token's use is noted. */
  private admit(principal: Principal | null): Principal | null {
    if (!principal) return null;
    const now = this.clock.now();
    if (principal.expiresAt && principal.expiresAt.getTime() <= now.getTime()) return null;
    if (principal.tokenId !== null) this.usage?.note(principal.tokenId, now);
    return principal;
  }

  /** Resolves once the uses being recorded are (see {@link TokenUsage}). */
  async usageRecorded(): Promise<void> {
    await this.usage?.settled();
  }

  /**
   * One token's row, bounded in time. When the database cannot answer, the last verdict
   * (if recent enough) stands; otherwise DATABASE_UNAVAILABLE, as HTTP 503.
   */
  private async lookUp(hash: string, stale: CacheEntry | undefined): Promise<Principal | null> {
    let row: ApiTokenEntity | null;
    try {
      row = await beforeDeadline(Date.now() + LOOKUP_TIMEOUT_MS, () =>
        this.dataSource.getRepository(ApiTokenEntity).findOne({ where: { tokenHash: hash, revokedAt: IsNull() } }),
      );
    } catch (error) {
      const unavailable = error instanceof DatabaseUnavailableError || isDatabaseUnavailable(error);
      if (!unavailable) throw error;
      this.onLookup("unavailable");
      if (stale && stale.expiresAt + STALE_IF_UNAVAILABLE_MS > Date.now()) return stale.principal;
      throw new DatabaseUnavailableError(
        error instanceof DatabaseUnavailableError
          ? "the token check got no answer in time"
          : describeDatabaseError(error),
        503,
      );
    }
    const principal: Principal | null = row
      ? {
          tokenId: row.id,
          name: row.name,
          role: row.role,
          processPattern: row.processPattern,
          expiresAt: row.expiresAt,
        }
      : null;
    this.onLookup(principal ? "valid" : "unknown");
    this.remember(hash, principal);
    return principal;
  }

  /**
   * Keeps a verdict, fresh for `cacheTtlMs` and standing for the stale period after that
   * while the database cannot answer. A token's verdict lives on one side only, so a token
   * revoked elsewhere stops counting as verified here.
   */
  private remember(hash: string, principal: Principal | null): void {
    const entry: CacheEntry = { principal, expiresAt: Date.now() + this.cacheTtlMs };
    if (principal) {
      this.unknown.delete(hash);
      this.verified.set(hash, entry);
    } else {
      this.verified.delete(hash);
      this.unknown.set(hash, entry);
    }
  }

  /** Compared in constant time, like every token: hashes of the same length, never `===`. */
  private isBootstrap(hash: string): boolean {
    return this.bootstrapHash !== undefined && timingSafeEqual(Buffer.from(hash, "hex"), this.bootstrapHash);
  }

  private forget(hash: string): void {
    this.verified.delete(hash);
    this.unknown.delete(hash);
  }

  /** A token created here works at once, even if its hash was met (and found unknown) before. */
  private noteCreated(hash: string): void {
    this.forget(hash);
    this.knownHashes.add(hash);
  }

  /**
   * Whether `token` may be valid, without a lookup of its own: the bootstrap token, one
   * verified here, or one whose hash is among those of the unrevoked tokens (read at most
   * every few seconds, see {@link KnownTokenHashes}). The failed-authentication limit asks
   * this about the tokens of an address it refuses, and looks up only those.
   */
  async mayBeValid(token: string): Promise<boolean> {
    const hash = hashToken(token);
    if (this.isBootstrap(hash) || this.verified.peek(hash)) return true;
    const unknown = this.unknown.peek(hash);
    if (unknown && unknown.expiresAt > Date.now()) return false;
    return this.knownHashes.has(hash);
  }

  /** Creates a token for `creator` (the audit trail records it, in the same transaction). */
  async create(input: NewToken, creator: Principal): Promise<CreatedToken> {
    const problems = newTokenProblems(input, this.clock.now());
    if (problems.length > 0) throw BadUserInputError.of(problems);
    const token = TOKEN_PREFIX + randomBytes(32).toString("base64url");
    const tokenHash = hashToken(token);
    const row: Omit<ApiTokenEntity, "id"> = {
      name: input.name,
      role: input.role,
      processPattern: input.processPattern ?? null,
      tokenHash,
      tokenPrefix: token.slice(0, TOKEN_PREFIX.length + 6),
      createdBy: creator.name.slice(0, 100),
      createdAt: this.clock.now(),
      revokedAt: null,
      // DATETIME keeps whole seconds: what is stored is what is returned, never later.
      expiresAt: input.expiresAt ? new Date(Math.floor(input.expiresAt.getTime() / 1000) * 1000) : null,
      lastUsedAt: null,
    };
    const { created, afterCommit } = await this.database.transaction(async (manager) => {
      const result = await manager.insert(ApiTokenEntity, row);
      const created = toInfo({ ...row, id: Number(result.identifiers[0]?.id) });
      return {
        created,
        afterCommit: await this.audit.record(manager, { change: "created", token: created, actor: creator }),
      };
    });
    await afterCommit();
    this.noteCreated(tokenHash);
    return { ...created, token };
  }

  async list(options: { readonly includeRevoked?: boolean } = {}): Promise<TokenInfo[]> {
    const rows = await this.dataSource.getRepository(ApiTokenEntity).find({
      where: options.includeRevoked ? {} : { revokedAt: IsNull() },
      order: { id: "ASC" },
    });
    return rows.map(toInfo);
  }

  /**
   * Revokes a token by id, for `revoker` (the audit trail records it). Revoking a
   * revoked token changes nothing, records nothing, and succeeds.
   */
  async revoke(tokenId: string, revoker: Principal): Promise<TokenInfo> {
    if (!/^\d{1,9}$/.test(tokenId)) {
      throw BadUserInputError.of([{ field: "id", message: `must be a token id (got "${tokenId}")` }]);
    }
    const id = Number(tokenId);
    const { row, afterCommit } = await this.database.transaction(async (manager) => {
      const revoked = await manager.update(
        ApiTokenEntity,
        { id, revokedAt: IsNull() },
        { revokedAt: this.clock.now() },
      );
      const row = await manager.findOne(ApiTokenEntity, { where: { id } });
      if (!row) throw new NotFoundError(`no API token with id ${id}`);
      if ((revoked.affected ?? 0) === 0) return { row, afterCommit: undefined };
      const change: TokenChange = { change: "revoked", token: toInfo(row), actor: revoker };
      return { row, afterCommit: await this.audit.record(manager, change) };
    });
    this.forget(row.tokenHash);
    await afterCommit?.();
    return toInfo(row);
  }
}
