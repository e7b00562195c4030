import type { DataSource } from "typeorm";
import { afterEach, describe, expect, it, vi } from "vitest";
import { systemClock, ManualClock, type Clock } from "../clock.js";
import type { ApiTokenEntity } from "../db/api-token.entity.js";
import { Database } from "../db/database.js";
import { Role } from "../domain/role.js";
import {
  hashToken,
  newTokenProblems,
  TokenService,
  type TokenAudit,
  type TokenLookupOutcome,
} from "./token.service.js";

const BOOTSTRAP = "bootstrap-admin-token-0123456789";
/** These tests make no tokens: nothing is recorded. */
const NO_AUDIT: TokenAudit = { record: async () => async () => undefined };

/**
 * A token table of `rows` behind the two queries the token check makes (one token; every
 * unrevoked hash), counting them.
 */
function tokenTable(rows: Record<string, Partial<ApiTokenEntity>>) {
  const byHash = new Map(Object.entries(rows).map(([token, row]) => [hashToken(token), row]));
  const queries: string[] = [];
  const lists: number[] = [];
  let down = false;
  const refuse = () => {
    if (down) throw Object.assign(new Error("connect ECONNREFUSED"), { code: "ECONNREFUSED" });
  };
  const dataSource = {
    getRepository: () => ({
      findOne: async ({ where }: { where: { tokenHash: string } }) => {
        queries.push(where.tokenHash);
        refuse();
        const row = byHash.get(where.tokenHash);
        return row ? { id: 1, name: "row", role: Role.VIEWER, processPattern: null, ...row } : null;
      },
      find: async () => {
        lists.push(byHash.size);
        refuse();
        return [...byHash.keys()].map((tokenHash) => ({ tokenHash }));
      },
    }),
  } as unknown as DataSource;
  return {
    dataSource,
    queries,
    lists,
    add: (token: string) => byHash.set(hashToken(token), {}),
    revoke: (token: string) => byHash.delete(hashToken(token)),
    goDown: () => (down = true),
  };
}

function service(table: ReturnType<typeof tokenTable>, cacheTtlMs = 5_000, clock: Clock = systemClock) {
  const outcomes: TokenLookupOutcome[] = [];
  const tokens = new TokenService(
    new Database(table.dataSource, "mysql"),
    NO_AUDIT,
    {
      bootstrapAdminToken: BOOTSTRAP,
      cacheTtlMs,
      onLookup: (outcome) => outcomes.push(outcome),
    },
    clock,
  );
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

  it("refuses a remembered token from the moment it expires, without a lookup", async () => {
    const clock = new ManualClock(new Date("2026-01-01T00:00:00Z"));
    const table = tokenTable({ fvt_hour: { name: "hour", expiresAt: new Date("2026-01-01T01:00:00Z") } });
    const { tokens } = service(table, 60_000, clock);
    expect(await tokens.authenticate("fvt_hour")).toMatchObject({ name: "hour" });
    clock.advance(3_599_999);
    expect(await tokens.authenticate("fvt_hour")).toMatchObject({ name: "hour" });
    clock.advance(1);
    expect(await tokens.authenticate("fvt_hour")).toBeNull();
    expect(table.queries).toHaveLength(1);
  });

  it("checks the bootstrap token without a lookup", async () => {
    const table = tokenTable({});
    const { tokens } = service(table);
    expect(await tokens.authenticate(BOOTSTRAP)).toMatchObject({ role: Role.ADMIN, tokenId: null });
    expect(table.queries).toEqual([]);
  });
});

describe("TokenService.mayBeValid", () => {
  it("holds for the bootstrap token, tokens verified here and tokens in the table; the table is read at most every 5 s", async () => {
    vi.useFakeTimers();
    const table = tokenTable({ fvt_valid: {} });
    const { tokens, outcomes } = service(table);
    expect(await tokens.mayBeValid(BOOTSTRAP)).toBe(true);
    expect(table.lists).toEqual([]);

    // Never looked up here, found among the table's hashes.
    expect(await tokens.mayBeValid("fvt_valid")).toBe(true);
    expect(table.lists).toHaveLength(1);
    for (let i = 0; i < 1_000; i++) expect(await tokens.mayBeValid(`fvt_wrong_${i}`)).toBe(false);
    expect(table.lists).toHaveLength(1);
    expect(table.queries).toEqual([]);

    // Created elsewhere after the read: found once the next read is due.
    table.add("fvt_new");
    expect(await tokens.mayBeValid("fvt_new")).toBe(false);
    vi.advanceTimersByTime(5_000);
    expect(await tokens.mayBeValid("fvt_new")).toBe(true);
    expect(table.lists).toHaveLength(2);
    expect(outcomes).toEqual(["list", "list"]);
  });

  it("does not read the table for a token found unknown a moment ago, nor for one verified", async () => {
    const table = tokenTable({ fvt_valid: {} });
    const { tokens } = service(table);
    await tokens.authenticate("fvt_valid");
    await tokens.authenticate("fvt_wrong");
    expect(await tokens.mayBeValid("fvt_valid")).toBe(true);
    expect(await tokens.mayBeValid("fvt_wrong")).toBe(false);
    expect(table.lists).toEqual([]);
  });

  it("says no while the database cannot answer, and asks it again only after the pause", async () => {
    vi.useFakeTimers();
    const table = tokenTable({ fvt_valid: {} });
    const { tokens } = service(table);
    table.goDown();
    expect(await tokens.mayBeValid("fvt_valid")).toBe(false);
    expect(await tokens.mayBeValid("fvt_valid")).toBe(false);
    expect(table.lists).toHaveLength(1);
  });

  it("stops holding once the token is found revoked (elsewhere), and its stale verdict is gone too", async () => {
    vi.useFakeTimers();
    const table = tokenTable({ fvt_doomed: {} });
    const { tokens } = service(table, 1_000);
    await tokens.authenticate("fvt_doomed");
    expect(await tokens.mayBeValid("fvt_doomed")).toBe(true);
    table.revoke("fvt_doomed");
    vi.advanceTimersByTime(1_001);
    expect(await tokens.authenticate("fvt_doomed")).toBeNull();
    expect(await tokens.mayBeValid("fvt_doomed")).toBe(false);

    // With the database away, the last verdict (unknown) stands: never the older valid one.
    vi.advanceTimersByTime(1_001);
    table.goDown();
    expect(await tokens.authenticate("fvt_doomed")).toBeNull();
  });
});

describe("newTokenProblems", () => {
  // Which roles may, must or must not be bound to a process pattern.
  it.each([
    [Role.VIEWER, null, []],
    [Role.VIEWER, "domaeka-*", []],
    [Role.OPERATOR, null, []],
    [Role.OPERATOR, "domaeka-test-01", []],
    [Role.AGENT, "domaeka-*", []],
    [Role.AGENT, null, ["processPattern"]],
    [Role.ADMIN, null, []],
    [Role.ADMIN, "domaeka-*", ["processPattern"]],
    [Role.OPERATOR, "*-live", ["processPattern"]],
  ])("%s bound to %j: problems with %j", (role, processPattern, fields) => {
    expect(newTokenProblems({ name: "t", role, processPattern }).map((p) => p.field)).toEqual(fields);
  });

  it("names every problem at once", () => {
    expect(newTokenProblems({ name: " x", role: Role.ADMIN, processPattern: "a-*" })).toEqual([
      { field: "name", message: expect.stringContaining("printable") },
      { field: "processPattern", message: expect.stringContaining("OPERATOR") },
    ]);
  });
});
