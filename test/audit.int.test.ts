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
