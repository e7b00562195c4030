import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ADMIN_TOKEN, startTestApp, type TestApp } from "./support/app.js";
import { createTestDatabase, type TestDatabase } from "./support/database.js";

let db: TestDatabase;
let app: TestApp;
let production: TestApp;
const auth = { authorization: `Bearer ${ADMIN_TOKEN}` };

beforeAll(async () => {
  db = await createTestDatabase("http");
  [app, production] = await Promise.all([startTestApp(db.url), startTestApp(db.url, { NODE_ENV: "production" })]);
  await app.admin.data(`mutation { createProcess(input: { name: "http-01", port: 8000 }) { id } }`);
});

afterAll(async () => {
  await Promise.all([app?.stop(), production?.stop()]);
  await db?.drop();
});

const get = (query: string, headers: Record<string, string> = {}) =>
  fetch(`${app.url}/graphql?${new URLSearchParams({ query })}`, { headers: { ...auth, ...headers } });

const post = (body: string, headers: Record<string, string> = {}) =>
  fetch(`${app.url}/graphql`, {
    method: "POST",
    headers: { ...auth, "content-type": "application/json", ...headers },
    body,
  });

describe("GraphQL over HTTP", () => {
  it("answers a GET query", async () => {
    const response = await get(`{ processes { name } }`);
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ data: { processes: [{ name: "http-01" }] } });
  });

  it("refuses a mutation over GET with 405 and changes nothing", async () => {
    const response = await get(`mutation { deleteProcess(name: "http-01") { id } }`);
    expect(response.status).toBe(405);
    expect(response.headers.get("allow")).toContain("POST");
    expect(await db.query("SELECT process_name FROM kb_server_processes")).toEqual([{ process_name: "http-01" }]);
  });

  it("speaks application/graphql-response+json when asked, with 4xx for a request that cannot run", async () => {
    const accept = { accept: "application/graphql-response+json" };
    const ok = await post(JSON.stringify({ query: `{ processes { name } }` }), accept);
    expect(ok.status).toBe(200);
    expect(ok.headers.get("content-type")).toMatch(/^application\/graphql-response\+json/);

    const invalid = await post(JSON.stringify({ query: `{ nope }` }), accept);
    expect(invalid.status).toBe(400);
    const body = (await invalid.json()) as { errors: { extensions: { code: string; reason: string } }[] };
    expect(body.errors[0]!.extensions).toEqual({ code: "BAD_USER_INPUT", reason: "GRAPHQL_VALIDATION_FAILED" });

    const unparsable = await post(JSON.stringify({ query: `{ processes {` }), accept);
    expect(unparsable.status).toBe(400);
    const parseError = (await unparsable.json()) as { errors: { extensions: { code: string; reason: string } }[] };
    expect(parseError.errors[0]!.extensions).toEqual({ code: "BAD_USER_INPUT", reason: "GRAPHQL_PARSE_FAILED" });
  });

  it("names a body that is not JSON, and one that is too large", async () => {
    const broken = await post("{ not json");
    expect(broken.status).toBe(400);
    expect(await broken.json()).toEqual({
      errors: [{ message: "the request body is not valid JSON", extensions: { code: "BAD_USER_INPUT" } }],
    });

    const huge = await post(
      JSON.stringify({ query: `{ processes { name } }`, variables: { pad: "x".repeat(1_100_000) } }),
    );
    expect(huge.status).toBe(413);
  });

  it("refuses a POST that is not JSON", async () => {
    const response = await fetch(`${app.url}/graphql`, {
      method: "POST",
      headers: { ...auth, "content-type": "text/plain" },
      body: "{ processes { name } }",
    });
    expect(response.status).toBeGreaterThanOrEqual(400);
    expect(response.status).toBeLessThan(500);
  });

  it("limits aliases and document size", async () => {
    const aliases = Array.from({ length: 40 }, (_, i) => `a${i}: processes { name }`).join(" ");
    const response = await post(JSON.stringify({ query: `{ ${aliases} }` }));
    const body = (await response.json()) as { errors: { message: string; extensions: { code: string } }[] };
    expect(body.errors[0]!.extensions.code).toBe("BAD_USER_INPUT");
    expect(body.errors[0]!.message).toMatch(/alias/i);

    const deep = await post(JSON.stringify({ query: `{ processes { name ${"__typename ".repeat(2_100)} } }` }));
    expect(deep.status).toBe(400);
    const tokens = (await deep.json()) as { errors: { message: string; extensions: { code: string } }[] };
    expect(tokens.errors[0]!.extensions.code).toBe("BAD_USER_INPUT");
    expect(tokens.errors[0]!.message).toMatch(/more that 2000 tokens/);
  });

  it("serves /healthz and /readyz, and 404 elsewhere", async () => {
    expect(await (await fetch(`${app.url}/healthz`)).json()).toEqual({ status: "ok" });
    const ready = await fetch(`${app.url}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({ status: "ready", database: "ok" });
    expect((await fetch(`${app.url}/nope`)).status).toBe(404);
  });

  it("turns introspection off in production", async () => {
    const response = await fetch(`${production.url}/graphql`, {
      method: "POST",
      headers: { ...auth, "content-type": "application/json" },
      body: JSON.stringify({ query: `{ __schema { types { name } } }` }),
    });
    const body = (await response.json()) as { errors: { extensions: { code: string } }[] };
    expect(body.errors[0]!.extensions.code).toBe("BAD_USER_INPUT");
    expect(
      (await app.admin.data<{ __schema: { types: unknown[] } }>(`{ __schema { types { name } } }`)).__schema.types
        .length,
    ).toBeGreaterThan(10);
  });
});
