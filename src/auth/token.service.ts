import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import { IsNull, type DataSource } from "typeorm";
import { ApiTokenEntity } from "../db/api-token.entity.js";
import { BadUserInputError, NotFoundError, type InvalidField } from "../errors.js";
import type { Principal } from "./principal.js";
import { processPatternProblem } from "./process-pattern.js";
import { Role, ROLES } from "../domain/role.js";

/** The actor name recorded for the bootstrap admin token. */
export const BOOTSTRAP_ADMIN_NAME = "bootstrap-admin";
const TOKEN_PREFIX = "fvt_";
/** Bounds the memory of verified tokens (and of rejected ones). */
const CACHE_LIMIT = 10_000;
const TOKEN_NAME = /^[\x21-\x7e](?:[\x20-\x7e]{0,98}[\x21-\x7e])?$/;

/** SHA-256 is right for tokens: they are 256 random bits, so there is nothing to brute-force. */
export function hashToken(token: string): string {
  return createHash("sha256").update(token, "utf8").digest("hex");
}

export interface NewToken {
  readonly name: string;
  readonly role: Role;
  readonly processPattern?: string | null | undefined;
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
  };
}

/** Problems with a new token's fields, each named. */
export function newTokenProblems(input: NewToken): InvalidField[] {
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
  if (input.role === Role.AGENT) {
    if (pattern === null) {
      problems.push({
        field: "processPattern",
        message: "is required for an agent token (a process name or prefix-*)",
      });
    } else {
      const problem = processPatternProblem(pattern);
      if (problem) problems.push({ field: "processPattern", message: problem });
    }
  } else if (pattern !== null) {
    problems.push({ field: "processPattern", message: "applies only to agent tokens" });
  }
  return problems;
}

interface CacheEntry {
  readonly principal: Principal | null;
  readonly expiresAt: number;
}

/**
 * API tokens: creation (the plain token is shown once), listing, revocation, and the
 * check of every request's bearer token.
 *
 * Verified tokens are remembered for `cacheTtlMs` so that the heartbeat path does not pay
 * a lookup per call; revoking on this replica takes effect at once, on another replica
 * within `cacheTtlMs`.
 */
export class TokenService {
  private readonly cache = new Map<string, CacheEntry>();
  private readonly bootstrapHash: Buffer | undefined;
  private readonly cacheTtlMs: number;

  constructor(
    private readonly dataSource: DataSource,
    options: { readonly bootstrapAdminToken: string | undefined; readonly cacheTtlMs: number },
    private readonly now: () => Date = () => new Date(),
  ) {
    this.bootstrapHash = options.bootstrapAdminToken
      ? Buffer.from(hashToken(options.bootstrapAdminToken), "hex")
      : undefined;
    this.cacheTtlMs = options.cacheTtlMs;
  }

  /** The principal for a bearer token, or `null` when the token is unknown or revoked. */
  async authenticate(token: string): Promise<Principal | null> {
    const hash = hashToken(token);
    if (this.bootstrapHash && timingSafeEqual(Buffer.from(hash, "hex"), this.bootstrapHash)) {
      return { tokenId: null, name: BOOTSTRAP_ADMIN_NAME, role: Role.ADMIN, processPattern: null };
    }
    const cached = this.cache.get(hash);
    if (cached && cached.expiresAt > Date.now()) return cached.principal;

    const row = await this.dataSource
      .getRepository(ApiTokenEntity)
      .findOne({ where: { tokenHash: hash, revokedAt: IsNull() } });
    const principal: Principal | null = row
      ? { tokenId: row.id, name: row.name, role: row.role, processPattern: row.processPattern }
      : null;
    if (this.cacheTtlMs > 0) {
      if (this.cache.size >= CACHE_LIMIT) this.cache.clear();
      this.cache.set(hash, { principal, expiresAt: Date.now() + this.cacheTtlMs });
    }
    return principal;
  }

  async create(input: NewToken, createdBy: string): Promise<CreatedToken> {
    const problems = newTokenProblems(input);
    if (problems.length > 0) throw BadUserInputError.of(problems);
    const token = TOKEN_PREFIX + randomBytes(32).toString("base64url");
    const tokenHash = hashToken(token);
    const row: Omit<ApiTokenEntity, "id"> = {
      name: input.name,
      role: input.role,
      processPattern: input.processPattern ?? null,
      tokenHash,
      tokenPrefix: token.slice(0, TOKEN_PREFIX.length + 6),
      createdBy: createdBy.slice(0, 100),
      createdAt: this.now(),
      revokedAt: null,
    };
    const result = await this.dataSource.getRepository(ApiTokenEntity).insert(row);
    this.cache.delete(tokenHash);
    return { ...toInfo({ ...row, id: Number(result.identifiers[0]?.id) }), token };
  }

  async list(options: { readonly includeRevoked?: boolean } = {}): Promise<TokenInfo[]> {
    const rows = await this.dataSource.getRepository(ApiTokenEntity).find({
      where: options.includeRevoked ? {} : { revokedAt: IsNull() },
      order: { id: "ASC" },
    });
    return rows.map(toInfo);
  }

  /** Revokes a token by id. Revoking a revoked token changes nothing and succeeds. */
  async revoke(id: number): Promise<TokenInfo> {
    const repository = this.dataSource.getRepository(ApiTokenEntity);
    await repository.update({ id, revokedAt: IsNull() }, { revokedAt: this.now() });
    const row = await repository.findOne({ where: { id } });
    if (!row) throw new NotFoundError(`no API token with id ${id}`);
    this.cache.delete(row.tokenHash);
    return toInfo(row);
  }
}
