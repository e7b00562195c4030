import { Agent, request, type IncomingHttpHeaders } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { MAX_TRACKED_ADDRESSES } from "../src/http/auth-failure-limiter.js";
import { MAX_QUERY_COST } from "../src/http/request-limits.js";
import { CONNECTION_INIT_TIMEOUT_MS } from "../src/http/ws-transport.js";
import { startTestApp, type TestApp, type TokenClient } from "./support/app.js";
import { createTestDatabase, type TestDatabase } from "./support/database.js";
import type { GraphQLErrorJson } from "./support/graphql-client.js";
import { metric } from "./support/metrics.js";

// Each test sends from its own loopback address (Linux routes all of 127/8 to lo), so that
// one test's failures never count against another's.
let db: TestDatabase;
/** Trusts no proxy: the socket's peer is the client. */
let direct: TestApp;
/**
 * Trusts no proxy, and refuses an address after fewer failures: where a test checks whose
 * failures count, not the default limit's slowing down (20 failures, the last ten of them
 * slowed by 0.1 to 1 s, 5.5 s in all), which the first test checks.
 */
let strict: TestApp;
const STRICT_LIMIT = 6;
/** Behind one proxy (TRUST_PROXY=1): the last X-Forwarded-For entry is the client. Its limit is STRICT_LIMIT. */
let proxied: TestApp;
let viewer: TokenClient;
const agents: Agent[] = [];
const sockets: WebSocket[] = [];

beforeAll(async () => {
  db = await createTestDatabase("limits");
  direct = await startTestApp(db.url);
  strict = await startTestApp(db.url, { AUTH_FAILURES_PER_MINUTE: String(STRICT_LIMIT) });
  proxied = await startTestApp(db.url, { TRUST_PROXY: "1", AUTH_FAILURES_PER_MINUTE: String(STRICT_LIMIT) });
  viewer = await direct.client("VIEWER", "limits-viewer");
});

afterAll(async () => {
  for (const socket of sockets) socket.terminate();
  for (const agent of agents) agent.destroy();
  await Promise.all([direct?.stop(), strict?.stop(), proxied?.stop()]);
  await db?.drop();
});

interface Answer {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly errors: readonly GraphQLErrorJson[] | undefined;
  readonly ms: number;
}

/** A kept-alive HTTP client that connects from `localAddress`. */
function clientFrom(localAddress: string): Agent {
  const agent = new Agent({ keepAlive: true, localAddress, maxSockets: 64 });
  agents.push(agent);
  return agent;
}

/** POSTs `{ me { name } }` with `token` through `agent`. */
function ask(
  app: TestApp,
  agent: Agent,
  token: string | undefined,
  headers: Record<string, string> = {},
): Promise<Answer> {
  const started = performance.now();
  const url = new URL(`${app.url}/graphql`);
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: url.hostname,
        port: url.port,
        path: url.pathname,
        method: "POST",
        agent,
        headers: {
          "content-type": "application/json",
          ...(token ? { authorization: `Bearer ${token}` } : {}),
          ...headers,
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (chunk: Buffer) => chunks.push(chunk));
        res.on("end", () => {
          const body = JSON.parse(Buffer.concat(chunks).toString("utf8")) as { errors?: GraphQLErrorJson[] };
          resolve({
            status: res.statusCode!,
            headers: res.headers,
            errors: body.errors,
            ms: performance.now() - started,
          });
        });
      },
    );
    req.on("error", reject);
    req.end(JSON.stringify({ query: "{ me { name } }" }));
  });
}

/** Tokens looked up and found unknown. */
const unknownLookups = (app: TestApp) => metric(app.url, "fleetvisor_token_lookups_total", { outcome: "unknown" });
/** Every query the token check sent the database: single lookups, and reads of the known hashes. */
const tokenQueries = (app: TestApp) => metric(app.url, "fleetvisor_token_lookups_total");

describe("failed authentications over HTTP", () => {
  it("1,000 wrong tokens from one address: slowed, then 429 with Retry-After, for a few dozen queries; a valid token from there works throughout", async () => {
    const from = clientFrom("127.0.0.2");
    expect((await ask(direct, from, viewer.token)).status).toBe(200);
    const lookupsBefore = await unknownLookups(direct);
    const queriesBefore = await tokenQueries(direct);

    const answers: Answer[] = [];
    for (let i = 0; i < 1_000; i++) {
      answers.push(await ask(direct, from, `fvt_wrong-${i}-${Math.random()}`));
      if (i % 50 === 0 || (i >= 10 && i < 25)) {
        const valid = await ask(direct, from, viewer.token);
        expect(valid.status, `the valid token after ${i + 1} wrong ones`).toBe(200);
      }
    }

    // The first 20 are looked up and answered 401; from the 11th on, each 100 ms later than the one before.
    expect(answers.slice(0, 20).map((a) => a.status)).toEqual(Array(20).fill(401));
    answers.slice(10, 20).forEach((answer, i) => expect(answer.ms).toBeGreaterThanOrEqual((i + 1) * 100 - 5));
    expect(answers[0]!.errors?.[0]?.extensions?.code).toBe("UNAUTHENTICATED");

    // The rest are refused without a lookup until the minute of the first failure ends.
    const refused = answers.slice(20);
    expect(new Set(refused.map((a) => a.status))).toEqual(new Set([429]));
    for (const answer of refused) {
      const retryAfter = Number(answer.headers["retry-after"]);
      expect(retryAfter).toBeGreaterThanOrEqual(1);
      expect(retryAfter).toBeLessThanOrEqual(60);
      expect(answer.errors).toEqual([
        {
          message: `too many failed authentications from this address; retry after ${retryAfter} s`,
          extensions: { code: "LIMIT_EXCEEDED", reason: "AUTH_FAILURES", retryAfterSeconds: retryAfter },
        },
      ]);
    }
    expect((await unknownLookups(direct)) - lookupsBefore).toBe(20);
    // Besides: the valid token looked up again once its cache period is over, and the
    // known hashes read at most every 5 s for the refused ones.
    expect((await tokenQueries(direct)) - queriesBefore).toBeLessThan(40);
    expect(await metric(direct.url, "fleetvisor_auth_failures_total", { answer: "refused" })).toBeGreaterThanOrEqual(
      980,
    );

    // A token created now works from there at once.
    const fresh = await direct.client("OPERATOR", "limits-fresh");
    expect((await ask(direct, from, fresh.token)).status).toBe(200);
    expect((await ask(direct, from, "fvt_still-wrong")).status).toBe(429);
  });

  it("guesses sent all at once meet the same limit: 200 at once cost at most 20 lookups", async () => {
    const from = clientFrom("127.0.0.3");
    const lookupsBefore = await unknownLookups(direct);
    const answers = await Promise.all(
      Array.from({ length: 200 }, (_, i) => ask(direct, from, `fvt_burst-${i}-${Math.random()}`)),
    );
    expect(answers.filter((a) => a.status === 401).length).toBeLessThanOrEqual(20);
    expect(answers.filter((a) => a.status === 429).length).toBeGreaterThanOrEqual(180);
    expect((await unknownLookups(direct)) - lookupsBefore).toBeLessThanOrEqual(20);
    expect((await ask(direct, from, viewer.token)).status).toBe(200);
  });

  it("ignores X-Forwarded-For without TRUST_PROXY: changing it does not change the address", async () => {
    const from = clientFrom("127.0.0.4");
    const answers: Answer[] = [];
    for (let i = 0; i <= STRICT_LIMIT; i++) {
      answers.push(await ask(strict, from, `fvt_spoof-${i}`, { "x-forwarded-for": `198.51.100.${i + 1}` }));
    }
    expect(answers.map((a) => a.status)).toEqual([...Array(STRICT_LIMIT).fill(401), 429]);
    // Another address is not affected.
    expect((await ask(strict, clientFrom("127.0.0.5"), "fvt_elsewhere")).status).toBe(401);
  });

  it("behind a trusted proxy, counts the address the proxy saw, not what the client wrote before it", async () => {
    const from = clientFrom("127.0.0.1");
    const limited = "203.0.113.10";
    for (let i = 0; i < STRICT_LIMIT; i++) {
      expect((await ask(proxied, from, `fvt_p-${i}`, { "x-forwarded-for": limited })).status).toBe(401);
    }
    expect((await ask(proxied, from, "fvt_p-next", { "x-forwarded-for": limited })).status).toBe(429);
    // The proxy appends what it saw: a client cannot take another's address by writing it first…
    expect((await ask(proxied, from, "fvt_p-other", { "x-forwarded-for": `${limited}, 203.0.113.11` })).status).toBe(
      401,
    );
    // …nor escape its own by writing another.
    expect((await ask(proxied, from, "fvt_p-escape", { "x-forwarded-for": `203.0.113.12, ${limited}` })).status).toBe(
      429,
    );
    // A valid token from the limited address works, though this replica never saw it before.
    expect((await ask(proxied, from, viewer.token, { "x-forwarded-for": limited })).status).toBe(200);
  });

  // More addresses than the table holds, by a fifth: the oldest go as new ones come.
  const total = MAX_TRACKED_ADDRESSES + MAX_TRACKED_ADDRESSES / 5;
  it(`${total} addresses leave the limiter's table at its cap (${MAX_TRACKED_ADDRESSES}), for a handful of lookups`, async () => {
    const from = clientFrom("127.0.0.1");
    const lookupsBefore = await unknownLookups(proxied);
    let next = 0;
    const statuses = new Map<number, number>();
    // One wrong token from every address: it is remembered as unknown, so the database is barely asked.
    const worker = async (): Promise<void> => {
      while (next < total) {
        const i = next++;
        const address = `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;
        const { status } = await ask(proxied, from, "fvt_the-same-wrong-token", { "x-forwarded-for": address });
        statuses.set(status, (statuses.get(status) ?? 0) + 1);
      }
    };
    await Promise.all(Array.from({ length: 32 }, worker));
    expect(Object.fromEntries(statuses)).toEqual({ 401: total });
    expect(await metric(proxied.url, "fleetvisor_auth_failure_addresses")).toBe(MAX_TRACKED_ADDRESSES);
    expect((await unknownLookups(proxied)) - lookupsBefore).toBeLessThan(100);
  }, 180_000);
});

/** A raw graphql-ws socket from `localAddress`: resolves with its close code, or "acknowledged". */
function openSocket(
  app: TestApp,
  localAddress: string,
  token: string,
): Promise<{ socket: WebSocket; outcome: string }> {
  const socket = new WebSocket(`${app.url.replace(/^http/, "ws")}/graphql`, "graphql-transport-ws", { localAddress });
  sockets.push(socket);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("no connection_ack nor close within 10 s")), 10_000);
    socket.once("open", () =>
      socket.send(JSON.stringify({ type: "connection_init", payload: { authorization: `Bearer ${token}` } })),
    );
    socket.once("message", (data) => {
      clearTimeout(timer);
      const message = JSON.parse(String(data)) as { type: string };
      resolve({ socket, outcome: message.type === "connection_ack" ? "acknowledged" : `message ${message.type}` });
    });
    socket.once("close", (code, reason) => {
      clearTimeout(timer);
      resolve({ socket, outcome: `${code} ${String(reason)}` });
    });
    socket.once("error", reject);
  });
}

describe("failed authentications over WebSocket", () => {
  it("wrong tokens again and again: 4401, then 4429; a valid token's socket from the same address opens", async () => {
    const outcomes: string[] = [];
    for (let i = 0; i < STRICT_LIMIT + 5; i++) {
      outcomes.push((await openSocket(strict, "127.0.0.6", `fvt_ws-${i}`)).outcome);
    }
    expect(outcomes.slice(0, STRICT_LIMIT)).toEqual(
      Array(STRICT_LIMIT).fill("4401 Unauthorized: unknown or revoked token"),
    );
    expect(outcomes.slice(STRICT_LIMIT)).toHaveLength(5);
    for (const outcome of outcomes.slice(STRICT_LIMIT)) {
      expect(outcome).toMatch(/^4429 Too many failed authentications: retry in \d+ s$/);
    }
    expect((await openSocket(strict, "127.0.0.6", viewer.token)).outcome).toBe("acknowledged");
  });
});

interface Message {
  readonly type: string;
  readonly id?: string;
  readonly payload?: unknown;
}

/** An acknowledged graphql-ws socket that keeps every message it receives, in order. */
async function protocolSocket(app: TestApp, token: string) {
  const { socket, outcome } = await openSocket(app, "127.0.0.1", token);
  expect(outcome).toBe("acknowledged");
  const messages: Message[] = [];
  const waiters = new Set<() => void>();
  socket.on("message", (data) => {
    messages.push(JSON.parse(String(data)) as Message);
    for (const waiter of waiters) waiter();
  });
  return {
    socket,
    send: (message: Message) => socket.send(JSON.stringify(message)),
    /** The first message received so far or later that `predicate` accepts; fails, naming `what`, after `withinMs`. */
    until(predicate: (message: Message) => boolean, what: string, withinMs = 10_000): Promise<Message> {
      return new Promise((resolve, reject) => {
        const check = (): void => {
          const found = messages.find(predicate);
          if (!found) return;
          done();
          resolve(found);
        };
        const timer = setTimeout(() => {
          done();
          reject(new Error(`no ${what} within ${withinMs} ms; got ${JSON.stringify(messages)}`));
        }, withinMs);
        const done = (): void => {
          clearTimeout(timer);
          waiters.delete(check);
        };
        waiters.add(check);
        check();
      });
    },
  };
}

describe("caps on WebSockets", () => {
  it("the 51st subscription on a socket is refused with LIMIT_EXCEEDED; the socket stays usable", async () => {
    const ws = await protocolSocket(direct, viewer.token);
    const subscribe = (id: string, query: string) => ws.send({ id, type: "subscribe", payload: { query } });
    for (let i = 1; i <= 51; i++) subscribe(`s${i}`, `subscription { processChanged { processName } }`);

    const refused = await ws.until((m) => m.id === "s51", "an answer to the 51st subscription");
    expect(refused).toEqual({
      id: "s51",
      type: "error",
      payload: [
        {
          message: "this WebSocket already runs 50 operations, the most it may; complete one before starting another",
          extensions: { code: "LIMIT_EXCEEDED", reason: "SUBSCRIPTIONS_PER_SOCKET", limit: 50 },
        },
      ],
    });

    // The other 50 still deliver…
    await direct.admin.data(`mutation { createProcess(input: { name: "limits-01", port: 8000 }) { id } }`);
    await ws.until((m) => m.id === "s50" && m.type === "next", "an event on the 50th subscription");
    // …and once one is completed, the socket runs another operation.
    ws.send({ id: "s1", type: "complete" });
    subscribe("q1", `{ me { name } }`);
    expect(await ws.until((m) => m.id === "q1", "the query's answer")).toEqual({
      id: "q1",
      type: "next",
      payload: { data: { me: { name: "limits-viewer" } } },
    });
    expect(ws.socket.readyState).toBe(WebSocket.OPEN);
  });

  it("the 201st socket of one token is closed with 4429; another token, or a socket freed, gets in", async () => {
    const crowded = await direct.client("VIEWER", "limits-crowded");
    const opened: WebSocket[] = [];
    for (let batch = 0; batch < 4; batch++) {
      const results = await Promise.all(
        Array.from({ length: 50 }, () => openSocket(direct, "127.0.0.1", crowded.token)),
      );
      for (const { socket, outcome } of results) {
        expect(outcome).toBe("acknowledged");
        opened.push(socket);
      }
    }
    expect((await openSocket(direct, "127.0.0.1", crowded.token)).outcome).toBe(
      "4429 Too many connections: this token has 200 open",
    );
    expect((await openSocket(direct, "127.0.0.1", viewer.token)).outcome).toBe("acknowledged");

    const closed = new Promise((resolve) => opened[0]!.once("close", resolve));
    opened[0]!.close();
    await closed;
    // The server counts a socket out once it has seen it close.
    const deadline = Date.now() + 5_000;
    let outcome = "";
    while ((outcome = (await openSocket(direct, "127.0.0.1", crowded.token)).outcome) !== "acknowledged") {
      expect(Date.now(), `a socket for the token again (last: ${outcome})`).toBeLessThan(deadline);
    }
    for (const socket of opened) socket.terminate();
  });

  it(`a socket that never sends connection_init is closed with 4408 after ${CONNECTION_INIT_TIMEOUT_MS / 1000} s`, async () => {
    const socket = new WebSocket(`${direct.url.replace(/^http/, "ws")}/graphql`, "graphql-transport-ws");
    sockets.push(socket);
    await new Promise((resolve, reject) => {
      socket.once("open", resolve);
      socket.once("error", reject);
    });
    const opened = performance.now();
    const [code, reason] = await new Promise<[number, string]>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error("still open 10 s later")), 10_000);
      socket.once("close", (closeCode, closeReason) => {
        clearTimeout(timer);
        resolve([closeCode, String(closeReason)]);
      });
    });
    const elapsed = performance.now() - opened;
    expect([code, reason]).toEqual([4408, "Connection initialisation timeout"]);
    expect(elapsed).toBeGreaterThanOrEqual(CONNECTION_INIT_TIMEOUT_MS - 100);
    expect(elapsed).toBeLessThan(CONNECTION_INIT_TIMEOUT_MS + 2_000);
  });
});

describe("the query cost limit, on both transports", () => {
  const expensive = `{ ${Array.from(
    { length: 30 },
    (_, i) => `a${i}: processes { name status supervisor { state pid description } log { text offset } }`,
  ).join(" ")} }`;

  it("refuses an expensive document over HTTP with 400, and over WebSocket with an error", async () => {
    const http = await viewer.http.request(expensive);
    expect(http.status).toBe(400);
    expect(http.body.errors).toEqual([
      {
        message: expect.stringMatching(new RegExp(`Query Cost limit of ${MAX_QUERY_COST} exceeded, found \\d+`)),
        extensions: { code: "BAD_USER_INPUT", reason: "GRAPHQL_VALIDATION_FAILED" },
      },
    ]);

    const ws = await protocolSocket(direct, viewer.token);
    ws.send({ id: "costly", type: "subscribe", payload: { query: expensive } });
    const answer = await ws.until((m) => m.id === "costly", "an answer to the expensive document");
    expect(answer).toMatchObject({
      type: "error",
      payload: [{ message: expect.stringContaining(`Query Cost limit of ${MAX_QUERY_COST} exceeded`) }],
    });
    // The dashboard's list runs.
    expect((await viewer.http.request(`{ processes { name supervisor { state } } }`)).status).toBe(200);
  });
});
