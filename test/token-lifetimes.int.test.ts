import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LAST_USED_RESOLUTION_MS } from "../src/auth/token-usage.js";
import { ManualClock } from "../src/clock.js";
import { startTestApp, type TestApp } from "./support/app.js";
import { bundled } from "./support/bundle.js";
import { createTestDatabase, onMysql, storedTime, type TestDatabase } from "./support/database.js";
import { connectWs, GraphQLHttpClient, type WsConnection } from "./support/graphql-client.js";

/** Tokens that expire, and the record of when each was last used: time is moved, not waited for. */

const run = promisify(execFile);

let db: TestDatabase;
let app: TestApp;
// Whole seconds: DATETIME keeps no fraction, so what is stored compares exactly.
const clock = new ManualClock(new Date(Math.floor(Date.now() / 1000) * 1000));
const sockets: WsConnection[] = [];

const CREATE = `mutation($input: CreateApiTokenInput!) { createApiToken(input: $input) { id token expiresAt } }`;

async function createToken(input: Record<string, unknown>): Promise<{ id: string; token: string; expiresAt: string }> {
  const data = await app.admin.data<{ createApiToken: { id: string; token: string; expiresAt: string } }>(CREATE, {
    input: { role: "VIEWER", ...input },
  });
  return data.createApiToken;
}

async function lastUsedAt(id: string): Promise<Date | null> {
  // What every use so far has started writing is written.
  await app.services.tokens.usageRecorded();
  const [row] = await db.query<{ last_used_at: Date | string | null }>(
    "SELECT last_used_at FROM fleetvisor_api_tokens WHERE id = ?",
    [Number(id)],
  );
  return storedTime(row!.last_used_at);
}

/** How often this replica checks open sockets' tokens again (`WS_TOKEN_RECHECK_SECONDS`). */
const RECHECK_SECONDS = 2;

const after = (ms: number) => new Date(clock.now().getTime() + ms);

beforeAll(async () => {
  db = await createTestDatabase("token_lifetimes");
  app = await startTestApp(db.url, { WS_TOKEN_RECHECK_SECONDS: String(RECHECK_SECONDS) }, undefined, { clock });
});

afterAll(async () => {
  await Promise.all(sockets.map((s) => s.dispose()));
  await app?.stop();
  await db?.drop();
});

describe("tokens that expire", () => {
  it("work until expiresAt, then are UNAUTHENTICATED, even while this replica remembers them", async () => {
    const expiresAt = after(3_600_000);
    const created = await createToken({ name: "for-an-hour", expiresAt: expiresAt.toISOString() });
    expect(created.expiresAt).toBe(expiresAt.toISOString());
    const client = new GraphQLHttpClient(app.url, created.token);
    const me = await client.data<{ me: { expiresAt: string } }>(`{ me { expiresAt } }`);
    expect(me.me.expiresAt).toBe(expiresAt.toISOString());

    clock.advance(3_600_000 - 1_000);
    expect((await client.request(`{ me { name } }`)).status).toBe(200);
    // Within TOKEN_CACHE_TTL_MS of the last check: the verdict is remembered, the expiry with it.
    clock.advance(1_000);
    const refused = await client.request(`{ me { name } }`);
    expect(refused.status).toBe(401);
    expect(refused.body.errors?.[0]?.extensions?.code).toBe("UNAUTHENTICATED");
  });

  it("a socket open when its token expires is closed with 4401 within the re-check interval", async () => {
    const created = await createToken({ name: "socket-for-an-hour", expiresAt: after(3_600_000).toISOString() });
    const connection = connectWs(app.url, created.token);
    sockets.push(connection);
    await connection.connected;
    const subscription = connection.subscribe(`subscription { processChanged { id } }`);
    clock.advance(3_600_000);
    const expiredAt = Date.now();
    const closed = await Promise.race([
      connection.closed,
      new Promise<string>((resolve) => setTimeout(resolve, RECHECK_SECONDS * 1000 + 3_000, "still open")),
    ]);
    expect(closed).toBe(4401);
    expect(Date.now() - expiredAt).toBeLessThan(RECHECK_SECONDS * 1000 + 3_000);
    expect(subscription.values).toEqual([]);
    // And a new socket with it is refused at once.
    const again = connectWs(app.url, created.token);
    sockets.push(again);
    expect(await again.closed).toBe(4401);
  });

  it("an expiry that is not in the future is refused, naming the field", async () => {
    const error = await app.admin.error(CREATE, {
      input: { name: "already-over", role: "OPERATOR", expiresAt: after(-1_000).toISOString() },
    });
    expect(error.extensions).toMatchObject({
      code: "BAD_USER_INPUT",
      invalidFields: [{ field: "expiresAt", message: expect.stringContaining("in the future") }],
    });
  });
});

describe("lastUsedAt", () => {
  const LIST = `{ apiTokens { id lastUsedAt expiresAt } }`;

  it("is recorded when a token is accepted, again only once a minute has passed", async () => {
    const created = await createToken({ name: "used" });
    const listed = async () =>
      (await app.admin.data<{ apiTokens: { id: string; lastUsedAt: string | null }[] }>(LIST)).apiTokens.find(
        (t) => t.id === created.id,
      )!.lastUsedAt;
    expect(await lastUsedAt(created.id)).toBeNull();
    expect(await listed()).toBeNull();

    const client = new GraphQLHttpClient(app.url, created.token);
    const first = clock.now();
    await client.data(`{ me { name } }`);
    expect(await lastUsedAt(created.id)).toEqual(first);
    expect(await listed()).toBe(first.toISOString());

    // Within the minute: used again and again, written once.
    clock.advance(LAST_USED_RESOLUTION_MS - 1_000);
    await client.data(`{ me { name } }`);
    await client.data(`{ processes { name } }`);
    expect(await lastUsedAt(created.id)).toEqual(first);

    clock.advance(1_000);
    await client.data(`{ me { name } }`);
    expect(await lastUsedAt(created.id)).toEqual(clock.now());
  });

  it("a use that cannot be recorded fails nothing", async () => {
    const created = await createToken({ name: "unrecordable" });
    // The database refuses every write of last_used_at.
    await db.query(
      onMysql
        ? `CREATE TRIGGER refuse_last_used BEFORE UPDATE ON fleetvisor_api_tokens FOR EACH ROW
           BEGIN IF NOT (NEW.last_used_at <=> OLD.last_used_at) THEN
             SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'no last use here'; END IF; END`
        : `CREATE TRIGGER refuse_last_used BEFORE UPDATE OF last_used_at ON fleetvisor_api_tokens
           BEGIN SELECT RAISE(ABORT, 'no last use here'); END`,
    );
    try {
      clock.advance(LAST_USED_RESOLUTION_MS);
      const result = await new GraphQLHttpClient(app.url, created.token).request(`{ me { name } }`);
      expect(result.status).toBe(200);
      expect(result.body.data).toEqual({ me: { name: "unrecordable" } });
      expect(await lastUsedAt(created.id)).toBeNull();
    } finally {
      await db.query("DROP TRIGGER refuse_last_used");
    }
  });

  it.runIf(onMysql)("a request does not wait for its use to be recorded", async () => {
    const created = await createToken({ name: "locked-row" });
    clock.advance(LAST_USED_RESOLUTION_MS);
    // Another transaction holds the token's row: the write of its use has to wait for it.
    await db.query("START TRANSACTION");
    try {
      await db.query("SELECT id FROM fleetvisor_api_tokens WHERE id = ? FOR UPDATE", [Number(created.id)]);
      const started = Date.now();
      const result = await new GraphQLHttpClient(app.url, created.token).request(`{ me { name } }`);
      expect(result.status).toBe(200);
      expect(Date.now() - started).toBeLessThan(2_000);
    } finally {
      await db.query("COMMIT");
    }
    expect(await lastUsedAt(created.id)).toEqual(clock.now());
  });
});

describe("npm run token", () => {
  const cli = async (...args: string[]) =>
    run(process.execPath, [await bundled("token"), ...args], {
      env: { ...process.env, DATABASE_URL: db.url, LOG_LEVEL: "silent" },
    });

  it("--expires-in makes a token that expires; list shows its expiry and its last use", async () => {
    const created = await cli("create", "--role", "operator", "--name", "month-ops", "--expires-in", "30d");
    const expires = /expires=(\S+)/.exec(created.stderr)?.[1];
    expect(Date.parse(expires!) - Date.now()).toBeGreaterThan(30 * 86_400_000 - 60_000);
    expect(Date.parse(expires!) - Date.now()).toBeLessThanOrEqual(30 * 86_400_000);
    const line = (list: string) => list.split("\n").find((l) => l.includes("\tmonth-ops\t"))!;
    expect(line((await cli("list")).stdout)).toMatch(/expires=\S+.*\tlast-used=never$/);

    clock.advance(LAST_USED_RESOLUTION_MS);
    await new GraphQLHttpClient(app.url, created.stdout.trim()).data(`{ me { name } }`);
    await app.services.tokens.usageRecorded();
    expect(line((await cli("list")).stdout)).toMatch(
      new RegExp(`\\tlast-used=${clock.now().toISOString().replace(/\./g, "\\.")}$`),
    );
  });

  it("a viewer or operator may be bound to a pattern; an unreadable --expires-in is a usage error", async () => {
    const bound = await cli("create", "--role", "viewer", "--name", "live-viewer", "--process", "domaeka-live-*");
    expect(bound.stderr).toContain("VIEWER process=domaeka-live-*");
    const failure = await cli("create", "--role", "viewer", "--name", "x", "--expires-in", "2w").catch(
      (e: { code: number; stderr: string }) => e,
    );
    expect(failure).toMatchObject({ code: 2, stderr: expect.stringContaining("--expires-in must be") });
  });
});
