import type { DataSource } from "typeorm";
import { afterEach, describe, expect, it, vi } from "vitest";
import type { ApiTokenEntity } from "../db/api-token.entity.js";
import { Role } from "../domain/role.js";
import { hashToken, TokenService, type TokenLookupOutcome } from "./token.service.js";

const BOOTSTRAP = "bootstrap-admin-token-0123456789";

/** A token table of `rows` behind the one query the token check makes, counting the queries. */
function tokenTable(rows: Record<string, Partial<ApiTokenEntity>>) {
  const byHash = new Map(Object.entries(rows).map(([token, row]) => [hashToken(token), row]));
  const queries: string[] = [];
  let down = false;
  const dataSource = {
    getRepository: () => ({
      findOne: async ({ where }: { where: { tokenHash: string } }) => {
        queries.push(where.tokenHash);
        if (down) throw Object.assign(new Error("connect ECONNREFUSED"), { code: "ECONNREFUSED" });
        const row = byHash.get(where.tokenHash);
        return row ? { id: 1, name: "row", role: Role.VIEWER, processPattern: null, ...row } : null;
      },
    }),
  } as unknown as DataSource;
  return {
    dataSource,
    queries,
    revoke: (token: string) => byHash.delete(hashToken(token)),
    goDown: () => (down = true),
  };
}

function service(table: ReturnType<typeof tokenTable>, cacheTtlMs = 5_000) {
  const outcomes: TokenLookupOutcome[] = [];
  const tokens = new TokenService(table.dataSource, {
    bootstrapAdminToken: BOOTSTRAP,
    cacheTtlMs,
    onLookup: (outcome) => outcomes.push(outcome),
  });
  return { tokens, outcomes };
}

afterEach(() => {
  vi.useRealTimers();
});

describe("TokenService.authenticate", () => {
  it("looks an unknown token up once per cache period, however often it comes", async () => {
    vi.useFakeTimers();
    const table = tokenTable({});
    const { tokens, outcomes } = service(table);
    for (let i = 0; i < 1_000; i++) expect(await tokens.authenticate("fvt_wrong")).toBeNull();
    expect(table.queries).toHaveLength(1);
    expect(outcomes).toEqual(["unknown"]);

    vi.advanceTimersByTime(5_001);
    await tokens.authenticate("fvt_wrong");
    expect(table.queries).toHaveLength(2);
  });

  it("keeps unknown tokens apart: a flood of them neither grows without bound nor pushes verified tokens out", async () => {
    const table = tokenTable({ fvt_valid: { name: "valid" } });
    const { tokens } = service(table);
    expect(await tokens.authenticate("fvt_valid")).toMatchObject({ name: "valid" });
    for (let i = 0; i < 10_001; i++) await tokens.authenticate(`fvt_wrong_${i}`);
    const queries = table.queries.length;

    expect(await tokens.authenticate("fvt_valid")).toMatchObject({ name: "valid" });
    expect(table.queries).toHaveLength(queries);
    // The oldest unknown token was forgotten to make room: it is looked up again.
    await tokens.authenticate("fvt_wrong_0");
    expect(table.queries).toHaveLength(queries + 1);
  });

  it("checks the bootstrap token without a lookup", async () => {
    const table = tokenTable({});
    const { tokens } = service(table);
    expect(await tokens.authenticate(BOOTSTRAP)).toMatchObject({ role: Role.ADMIN, tokenId: null });
    expect(table.queries).toEqual([]);
  });
});

describe("TokenService.recentlyVerified", () => {
  it("holds for the bootstrap token and tokens found valid here, never for unknown ones", async () => {
    vi.useFakeTimers();
    const table = tokenTable({ fvt_valid: {} });
    const { tokens } = service(table, 1_000);
    expect(tokens.recentlyVerified(BOOTSTRAP)).toBe(true);
    expect(tokens.recentlyVerified("fvt_valid")).toBe(false);
    await tokens.authenticate("fvt_valid");
    await tokens.authenticate("fvt_wrong");
    expect(tokens.recentlyVerified("fvt_valid")).toBe(true);
    expect(tokens.recentlyVerified("fvt_wrong")).toBe(false);

    // Past its cache period it still counts, as long as its verdict would stand in an outage.
    vi.advanceTimersByTime(14 * 60_000);
    expect(tokens.recentlyVerified("fvt_valid")).toBe(true);
    vi.advanceTimersByTime(2 * 60_000);
    expect(tokens.recentlyVerified("fvt_valid")).toBe(false);
    expect(table.queries).toHaveLength(2);
  });

  it("stops holding once the token is found revoked (elsewhere), and its stale verdict is gone too", async () => {
    vi.useFakeTimers();
    const table = tokenTable({ fvt_doomed: {} });
    const { tokens } = service(table, 1_000);
    await tokens.authenticate("fvt_doomed");
    table.revoke("fvt_doomed");
    vi.advanceTimersByTime(1_001);
    expect(await tokens.authenticate("fvt_doomed")).toBeNull();
    expect(tokens.recentlyVerified("fvt_doomed")).toBe(false);

    // With the database away, the last verdict (unknown) stands: never the older valid one.
    vi.advanceTimersByTime(1_001);
    table.goDown();
    expect(await tokens.authenticate("fvt_doomed")).toBeNull();
  });
});
