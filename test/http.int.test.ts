import { Registry } from "prom-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { buildFleetvisorSchema } from "../src/graphql/schema.js";
import { startHttpServer } from "../src/http/http-server.js";
import { createLogger } from "../src/logger.js";
import { ADMIN_TOKEN, startTestApp, type TestApp } from "./support/app.js";
import { createTestDatabase, type TestDatabase } from "./support/database.js";
import { connectWs } from "./support/graphql-client.js";

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

  it("refuses a subscription over POST or GET with 400, pointing to the WebSocket", async () => {
    const subscription = `subscription { processChanged { processName } }`;
    for (const response of [
      await post(JSON.stringify({ query: subscription })),
      await post(JSON.stringify({ query: subscription }), { accept: "application/graphql-response+json" }),
      await get(subscription),
    ]) {
      expect(response.status).toBe(400);
      const body = (await response.json()) as { errors: { message: string; extensions: unknown }[] };
      expect(body.errors).toHaveLength(1);
      expect(body.errors[0]!.message).toMatch(/^subscriptions are served over WebSocket only: .*graphql-ws.*\/graphql/);
      expect(body.errors[0]!.extensions).toEqual({ code: "BAD_USER_INPUT", reason: "SUBSCRIPTION_NEEDS_WEBSOCKET" });
    }

    // Who is asking still comes first.
    const anonymous = await fetch(`${app.url}/graphql`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ query: subscription }),
    });
    expect(anonymous.status).toBe(401);

    // The query of a document that also holds a subscription still runs.
    const both = `query names { processes { name } } subscription changes { processChanged { processName } }`;
    const query = await post(JSON.stringify({ query: both, operationName: "names" }));
    expect(query.status).toBe(200);
    expect(await query.json()).toEqual({ data: { processes: [{ name: "http-01" }] } });
    const refused = await post(JSON.stringify({ query: both, operationName: "changes" }));
    expect(refused.status).toBe(400);

    // Where the message points, the same subscription runs.
    const [cursor] = await db.query<{ last: string }>(
      "SELECT COALESCE(MAX(id), 0) AS last FROM fleetvisor_process_events",
    );
    const ws = connectWs(app.url, ADMIN_TOKEN);
    try {
      const seen = ws.subscribe<{ processChanged: { processName: string; message: string } }>(
        `subscription($after: ID) { processChanged(after: $after) { processName message } }`,
        { after: String(cursor!.last) },
      );
      await app.admin.data(`mutation { updateProcess(name: "http-01", input: { port: 8001 }) { port } }`);
      const [event] = await seen.count(1, 10_000);
      expect(event!.processChanged).toEqual({ processName: "http-01", message: "port: 8000 → 8001" });
    } finally {
      await ws.dispose();
    }
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

/** A bare graphql-ws socket, acknowledged, that counts the pings it receives. */
interface RawSocket {
  readonly socket: WebSocket;
  /** Resolves with the close code. */
  readonly closed: Promise<number>;
  pings(): number;
  /** Resolves once `n` pings have arrived; rejects, naming what it waited for, on close or after `withinMs`. */
  untilPings(n: number, withinMs: number): Promise<void>;
}

async function openAcknowledged(httpUrl: string, autoPong: boolean): Promise<RawSocket> {
  const socket = new WebSocket(`${httpUrl.replace(/^http/, "ws")}/graphql`, "graphql-transport-ws", { autoPong });
  let pings = 0;
  socket.on("ping", () => pings++);
  const closed = new Promise<number>((resolve) => socket.once("close", (code) => resolve(code)));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("no connection_ack within 5s")), 5_000);
    socket.once("open", () =>
      socket.send(JSON.stringify({ type: "connection_init", payload: { authorization: `Bearer ${ADMIN_TOKEN}` } })),
    );
    socket.once("message", (data) => {
      clearTimeout(timer);
      const message = JSON.parse(String(data)) as { type: string };
      if (message.type === "connection_ack") resolve();
      else reject(new Error(`expected connection_ack, got ${String(data)}`));
    });
    socket.once("close", (code) => reject(new Error(`closed with ${code} before connection_ack`)));
  });
  return {
    socket,
    closed,
    pings: () => pings,
    untilPings: (n, withinMs) =>
      new Promise((resolve, reject) => {
        const check = (): void => {
          if (pings < n) return;
          done();
          resolve();
        };
        const onClose = (code: number): void => {
          done();
          reject(new Error(`closed with ${code} after ${pings} of ${n} pings`));
        };
        const timer = setTimeout(() => {
          done();
          reject(new Error(`only ${pings} of ${n} pings within ${withinMs}ms`));
        }, withinMs);
        const done = (): void => {
          clearTimeout(timer);
          socket.off("ping", check);
          socket.off("close", onClose);
        };
        socket.on("ping", check);
        socket.once("close", onClose);
        check();
      }),
  };
}

function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    promise,
    new Promise<never>(
      (_, reject) => (timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), ms)),
    ),
  ]).finally(() => clearTimeout(timer));
}

describe("WebSocket keep-alive", () => {
  it("drops a socket whose peer stops answering pings, and keeps one that answers", async () => {
    const keepAliveMs = 200;
    // The same services as the app, on a server of its own with a short keep-alive.
    const server = await startHttpServer({
      host: "127.0.0.1",
      port: 0,
      schema: await buildFleetvisorSchema(),
      services: app.services,
      authenticate: (token) => app.services.tokens.authenticate(token),
      mayBeValid: (token) => app.services.tokens.mayBeValid(token),
      limits: {
        authFailuresPerMinute: 20,
        trustedProxyHops: 0,
        wsMaxSubscriptions: 50,
        wsMaxConnectionsPerToken: 200,
        wsTokenRecheckMs: 10_000,
      },
      readiness: async () => ({ ready: true, checks: {} }),
      metrics: new Registry(),
      production: false,
      logger: createLogger("silent"),
      webSocketKeepAliveMs: keepAliveMs,
    });
    const sockets: WebSocket[] = [];
    try {
      const answering = await openAcknowledged(server.url, true);
      const silent = await openAcknowledged(server.url, false);
      sockets.push(answering.socket, silent.socket);

      // Terminated without a closing handshake (1006) once a ping went unanswered for an interval.
      expect(await within(silent.closed, 20 * keepAliveMs, "the silent peer to be dropped")).toBe(1006);
      expect(silent.pings()).toBeGreaterThan(0);
      // The answering peer lives on through several more rounds.
      await answering.untilPings(answering.pings() + 3, 20 * keepAliveMs);
      expect(answering.socket.readyState).toBe(WebSocket.OPEN);
    } finally {
      for (const socket of sockets) socket.terminate();
      await server.stop();
    }
  });
});
