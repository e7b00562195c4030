import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestApp, type TestApp, type TokenClient } from "./support/app.js";
import { createTestDatabase, type TestDatabase } from "./support/database.js";
import { connectWs, type WsConnection } from "./support/graphql-client.js";

/** The audit trail: who did what to which process or token, and when. */

let db: TestDatabase;
let app: TestApp;
let viewer: TokenClient;
let admin: TokenClient;
const sockets: WsConnection[] = [];

interface StoredEvent {
  id: number | string;
  kind: string;
  process_name: string;
  actor: string;
  actor_token_id: number | string | null;
  message: string | null;
  status: string | null;
}

async function storedEventsAfter(id: string): Promise<StoredEvent[]> {
  return db.query<StoredEvent>(
    "SELECT id, kind, process_name, actor, actor_token_id, message, status FROM fleetvisor_process_events WHERE id > ? ORDER BY id",
    [id],
  );
}

async function lastEventId(): Promise<string> {
  const [row] = await db.query<{ last: string }>("SELECT COALESCE(MAX(id), 0) AS last FROM fleetvisor_process_events");
  return String(row!.last);
}

beforeAll(async () => {
  db = await createTestDatabase("audit");
  app = await startTestApp(db.url);
  viewer = await app.client("VIEWER", "audit-viewer");
  admin = await app.client("ADMIN", "audit-admin");
});

afterAll(async () => {
  await Promise.all(sockets.map((s) => s.dispose()));
  await app?.stop();
  await db?.drop();
});

describe("who did it", () => {
  it("every recorded change carries the acting token's id as well as its name", async () => {
    const cursor = await lastEventId();
    await admin.http.data(`mutation { createProcess(input: { name: "audit-01", port: 8000 }) { id } }`);
    // A second token with the same name: the id tells them apart.
    const twin = await app.client("ADMIN", "audit-admin");
    await twin.http.data(`mutation { updateProcess(name: "audit-01", input: { port: 8001 }) { id } }`);
    await app.admin.data(`mutation { deleteProcess(name: "audit-01") { id } }`);
    const stored = await storedEventsAfter(cursor);
    expect(
      stored
        .filter((e) => e.process_name === "audit-01")
        .map((e) => [e.kind, e.actor, e.actor_token_id === null ? null : String(e.actor_token_id)]),
    ).toEqual([
      ["CREATED", "audit-admin", admin.id],
      ["UPDATED", "audit-admin", twin.id],
      // The bootstrap admin token has no row, and so no id.
      ["DELETED", "bootstrap-admin", null],
    ]);
  });

  it("creating and revoking a token are recorded, with no process, naming the token", async () => {
    const cursor = await lastEventId();
    const created = await admin.http.data<{ createApiToken: { id: string } }>(
      `mutation { createApiToken(input: { name: "short-lived", role: OPERATOR, processPattern: "audit-*" }) { id } }`,
    );
    const id = created.createApiToken.id;
    await admin.http.data(`mutation($id: ID!) { revokeApiToken(id: $id) { id } }`, { id });
    // Revoking again changes nothing and records nothing.
    await admin.http.data(`mutation($id: ID!) { revokeApiToken(id: $id) { id } }`, { id });
    const stored = await storedEventsAfter(cursor);
    expect(stored.map((e) => ({ ...e, id: undefined, actor_token_id: String(e.actor_token_id) }))).toEqual([
      {
        id: undefined,
        kind: "TOKEN_CREATED",
        process_name: "",
        actor: "audit-admin",
        actor_token_id: admin.id,
        message: `token "short-lived" (id ${id}, OPERATOR, bound to audit-*) created`,
        status: null,
      },
      {
        id: undefined,
        kind: "TOKEN_REVOKED",
        process_name: "",
        actor: "audit-admin",
        actor_token_id: admin.id,
        message: `token "short-lived" (id ${id}, OPERATOR, bound to audit-*) revoked`,
        status: null,
      },
    ]);
  });

  it("token events never reach processChanged subscribers, and cannot be asked for there", async () => {
    const socket = connectWs(app.url, viewer.token);
    sockets.push(socket);
    const seen = socket.subscribe<{ processChanged: { kind: string; processName: string } }>(
      `subscription($after: ID) { processChanged(after: $after) { kind processName } }`,
      { after: await lastEventId() },
    );
    await app.admin.data(`mutation { createApiToken(input: { name: "unseen", role: VIEWER }) { id } }`);
    // Recorded after the token event: had the token event been delivered, it would have come first.
    await app.admin.data(`mutation { createProcess(input: { name: "audit-marker", port: 8000 }) { id } }`);
    await seen.until((v) => v.some((e) => e.processChanged.processName === "audit-marker"), 10_000, "the marker");
    expect(seen.values).toEqual([{ processChanged: { kind: "CREATED", processName: "audit-marker" } }]);

    const asked = socket.subscribe(`subscription { processChanged(kinds: [CREATED, TOKEN_REVOKED]) { id } }`);
    await asked.until(() => false, 5_000, "the refusal").catch(() => undefined);
    expect(asked.errors[0]).toEqual([
      expect.objectContaining({
        extensions: {
          code: "BAD_USER_INPUT",
          invalidFields: [{ field: "kinds[1]", message: expect.stringContaining("events(kinds:") }],
        },
      }),
    ]);
  });
});

describe("Query.events", () => {
  interface Event {
    id: string;
    kind: string;
    processName: string;
    actor: string;
    actorTokenId: string | null;
    message: string | null;
    process: { name: string } | null;
  }
  const EVENTS = `query($after: ID, $before: ID, $processName: String, $kinds: [ProcessEventKind!], $actor: String,
    $actorTokenId: ID, $first: Int) {
    events(after: $after, before: $before, processName: $processName, kinds: $kinds, actor: $actor,
      actorTokenId: $actorTokenId, first: $first) { id kind processName actor actorTokenId message process { name } } }`;
  let operator: TokenClient;
  let boundOperator: TokenClient;
  let otherAdmin: TokenClient;
  /** Every event id recorded before this section started. */
  let start: string;

  const events = async (client: TokenClient | TestApp["admin"], variables: Record<string, unknown> = {}) =>
    (await ("http" in client ? client.http : client).data<{ events: Event[] }>(EVENTS, variables)).events;
  /** What the log holds after `start`, newest first, as `where` selects it. */
  const stored = async (where = "1 = 1", params: unknown[] = []) =>
    (
      await db.query<{ id: string | number }>(
        `SELECT id FROM fleetvisor_process_events WHERE id > ? AND ${where} ORDER BY id DESC`,
        [start, ...params],
      )
    ).map((r) => String(r.id));
  const since = (list: Event[]) => list.filter((e) => BigInt(e.id) > BigInt(start));

  beforeAll(async () => {
    start = await lastEventId();
    operator = await app.client("OPERATOR", "audit-operator");
    boundOperator = await app.client("OPERATOR", "audit-bound-operator", "trail-a-*");
    otherAdmin = await app.client("ADMIN", "audit-other-admin");
    for (const name of ["trail-a-01", "trail-a-02", "trail-b-01"]) {
      await admin.http.data(`mutation($n: String!) { createProcess(input: { name: $n, port: 8000 }) { id } }`, {
        n: name,
      });
    }
    for (let port = 8001; port <= 8004; port++) {
      for (const name of ["trail-a-01", "trail-b-01"]) {
        await otherAdmin.http.data(
          `mutation($n: String!, $p: Int!) { updateProcess(name: $n, input: { port: $p }) { id } }`,
          { n: name, p: port },
        );
      }
    }
    await app.admin.data(`mutation { registerProcess(name: "trail-a-02", pid: 4242) { port } }`);
    await app.admin.data(`mutation { deregisterProcess(name: "trail-a-02") { id } }`);
  });

  it("pages back through history, newest first: each page's last id is the next page's before", async () => {
    const all = await stored();
    expect(all.length).toBeGreaterThan(12);
    const pages: Event[][] = [await events(admin, { first: 5 })];
    while (BigInt(pages.at(-1)!.at(-1)!.id) > BigInt(start)) {
      pages.push(await events(admin, { first: 5, before: pages.at(-1)!.at(-1)!.id }));
    }
    expect(pages.slice(0, -1).every((page) => page.length === 5)).toBe(true);
    expect(since(pages.flat()).map((e) => e.id)).toEqual(all);
  });

  it("pages forward from a cursor, oldest first: each page's last id is the next page's after", async () => {
    const all = (await stored()).reverse();
    const seen: Event[] = [];
    let cursor = start;
    for (;;) {
      const page = await events(admin, { after: cursor, first: 4 });
      seen.push(...page);
      if (page.length < 4) break;
      cursor = page.at(-1)!.id;
    }
    expect(seen.map((e) => e.id)).toEqual(all);
    // Between two cursors, oldest first too.
    const window = await events(admin, { after: all[2], before: all[6] });
    expect(window.map((e) => e.id)).toEqual(all.slice(3, 6));
  });

  it("filters by process, kind, actor and token; the filters combine", async () => {
    const byProcess = since(await events(admin, { processName: "trail-a-01" }));
    expect(byProcess.map((e) => e.id)).toEqual(await stored("process_name = 'trail-a-01'"));
    expect(new Set(byProcess.map((e) => e.kind))).toEqual(new Set(["CREATED", "UPDATED"]));
    expect(byProcess[0]!.process).toEqual({ name: "trail-a-01" });

    const kinds = since(await events(admin, { kinds: ["REGISTERED", "DEREGISTERED"] }));
    expect(kinds.map((e) => [e.kind, e.processName, e.actor])).toEqual([
      ["DEREGISTERED", "trail-a-02", "bootstrap-admin"],
      ["REGISTERED", "trail-a-02", "bootstrap-admin"],
    ]);

    const byActor = since(await events(admin, { actor: "audit-other-admin" }));
    expect(byActor.map((e) => e.id)).toEqual(await stored("actor = 'audit-other-admin'"));
    expect(byActor).toHaveLength(8);
    const byToken = since(await events(admin, { actorTokenId: otherAdmin.id }));
    expect(byToken.map((e) => e.id)).toEqual(byActor.map((e) => e.id));
    expect(new Set(byToken.map((e) => e.actorTokenId))).toEqual(new Set([otherAdmin.id]));

    const combined = await events(admin, { actor: "audit-other-admin", processName: "trail-b-01", first: 2 });
    expect(combined.map((e) => [e.processName, e.message])).toEqual([
      ["trail-b-01", "port: 8003 → 8004"],
      ["trail-b-01", "port: 8002 → 8003"],
    ]);
  });

  it("token events are for admins: with no process, naming the token and who made it", async () => {
    const made = since(await events(admin, { kinds: ["TOKEN_CREATED"] }));
    expect(made.find((e) => e.message?.includes('"audit-bound-operator"'))).toEqual({
      id: expect.any(String),
      kind: "TOKEN_CREATED",
      processName: "",
      actor: "bootstrap-admin",
      actorTokenId: null,
      message: `token "audit-bound-operator" (id ${boundOperator.id}, OPERATOR, bound to trail-a-*) created`,
      process: null,
    });
    expect(since(await events(operator, { kinds: ["TOKEN_CREATED"] }))).toEqual([]);
    const everything = since(await events(operator, { first: 500 }));
    expect(everything.map((e) => e.id)).toEqual(await stored("kind NOT IN ('TOKEN_CREATED', 'TOKEN_REVOKED')"));
  });

  it("an operator bound to a pattern sees only its processes' events, however it asks", async () => {
    const own = since(await events(boundOperator, { first: 500 }));
    expect(own.map((e) => e.id)).toEqual(await stored("process_name LIKE 'trail-a-%'"));
    expect(new Set(own.map((e) => e.processName))).toEqual(new Set(["trail-a-01", "trail-a-02"]));
    expect(await events(boundOperator, { processName: "trail-b-01" })).toEqual([]);
    expect(since(await events(boundOperator, { actor: "audit-other-admin" })).map((e) => e.processName)).toEqual([
      "trail-a-01",
      "trail-a-01",
      "trail-a-01",
      "trail-a-01",
    ]);
  });

  it("is for operators and admins", async () => {
    for (const client of [viewer, await app.client("AGENT", "audit-agent", "trail-*")]) {
      const error = await client.http.error(`{ events { id } }`);
      expect(error.extensions?.code).toBe("FORBIDDEN");
    }
  });

  it("bad arguments are BAD_USER_INPUT, each named", async () => {
    const error = await operator.http.error(EVENTS, {
      first: 501,
      after: "latest",
      processName: "no spaces",
      kinds: ["UPDATED", "HEARTBEAT"],
      actorTokenId: "-1",
    });
    expect(error.extensions).toEqual({
      code: "BAD_USER_INPUT",
      invalidFields: [
        { field: "first", message: "must be between 1 and 500 (got 501)" },
        { field: "after", message: expect.stringContaining('(got "latest")') },
        { field: "processName", message: expect.stringMatching(/^must be letters/) },
        { field: "kinds[1]", message: expect.stringContaining("HEARTBEAT is not recorded") },
        { field: "actorTokenId", message: expect.stringContaining('(got "-1")') },
      ],
    });
    for (const [variables, field] of [
      [{ first: 0 }, "first"],
      [{ after: "10", before: "10" }, "before"],
      [{ actor: "" }, "actor"],
    ] as const) {
      const refused = await operator.http.error(EVENTS, variables);
      expect(refused.extensions).toMatchObject({ code: "BAD_USER_INPUT", invalidFields: [{ field }] });
    }
  });
});
