import { createHash } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { ADMIN_TOKEN, startTestApp, type TestApp } from "./support/app.js";
import { createTestDatabase, type TestDatabase } from "./support/database.js";

/**
 * A generated suite of hostile inputs over HTTP and WebSocket: every one is answered with
 * a 4xx or a coded GraphQL error (never a 5xx, never INTERNAL_SERVER_ERROR), the server
 * answers `{ __typename }` throughout, and the registry, token and event tables are the
 * same before and after, byte for byte.
 */

/** Codes a refusal may carry: what a client can act on. */
const CODED = new Set(["BAD_USER_INPUT", "UNAUTHENTICATED", "FORBIDDEN", "NOT_FOUND", "CONFLICT", "TOO_MANY_REQUESTS"]);

let db: TestDatabase;
let app: TestApp;
const tokens: Record<"viewer" | "operator" | "agent" | "scopedViewer" | "scopedOperator", string> = {
  viewer: "",
  operator: "",
  agent: "",
  scopedViewer: "",
  scopedOperator: "",
};

beforeAll(async () => {
  db = await createTestDatabase("hostile");
  app = await startTestApp(db.url);
  for (const name of ["own-1", "own-2", "other-1"]) {
    await app.admin.data(`mutation($name: String!) { createProcess(input: { name: $name, port: 8000 }) { id } }`, {
      name,
    });
  }
  tokens.viewer = (await app.client("VIEWER", "hostile-viewer")).token;
  tokens.operator = (await app.client("OPERATOR", "hostile-operator")).token;
  tokens.agent = (await app.client("AGENT", "hostile-agent", "own-*")).token;
  tokens.scopedViewer = (await app.client("VIEWER", "hostile-scoped-viewer", "own-*")).token;
  tokens.scopedOperator = (await app.client("OPERATOR", "hostile-scoped-operator", "own-*")).token;
  await app.admin.data(`mutation { registerProcess(name: "own-1", pid: 1234) { port } }`);
});

afterAll(async () => {
  await app?.stop();
  await db?.drop();
});

/** A digest of every row of the tables hostile input must not change. */
async function tables(): Promise<Record<string, string>> {
  const digest: Record<string, string> = {};
  for (const [table, order] of [
    ["kb_server_processes", "id"],
    ["fleetvisor_api_tokens", "id"],
    ["fleetvisor_process_events", "id"],
  ] as const) {
    const rows = await db.query<Record<string, unknown>>(`SELECT * FROM ${table} ORDER BY ${order}`);
    // When a token was last used is bookkeeping of the requests themselves, not a change
    // they made (and it is written at most once a minute).
    const kept = rows.map(({ last_used_at: _used, ...row }) => row);
    digest[table] = createHash("sha256").update(JSON.stringify(kept)).digest("hex");
  }
  return digest;
}

interface HttpCase {
  readonly what: string;
  readonly method?: "GET" | "POST";
  readonly token?: string | null;
  readonly contentType?: string;
  readonly body?: string | Buffer;
  readonly query?: string;
}

interface Outcome {
  readonly status: number;
  readonly codes: readonly (string | undefined)[];
}

async function send(c: HttpCase): Promise<Outcome> {
  const token = c.token === undefined ? ADMIN_TOKEN : c.token;
  const headers: Record<string, string> = {
    ...(token ? { authorization: `Bearer ${token}` } : {}),
    ...(c.method === "GET" ? {} : { "content-type": c.contentType ?? "application/json" }),
  };
  const url =
    c.method === "GET" ? `${app.url}/graphql?${new URLSearchParams({ query: c.query ?? "" })}` : `${app.url}/graphql`;
  const body = typeof c.body === "string" || c.body === undefined ? c.body : new Uint8Array(c.body);
  const response = await fetch(url, {
    method: c.method ?? "POST",
    headers,
    body: c.method === "GET" ? undefined : body,
  });
  const text = await response.text();
  let codes: (string | undefined)[] = [];
  try {
    const json = JSON.parse(text) as { errors?: { extensions?: { code?: string } }[] };
    codes = (json.errors ?? []).map((e) => e.extensions?.code);
  } catch {
    // Not JSON (a 4xx from the HTTP layer): the status says it.
  }
  return { status: response.status, codes };
}

const gql = (query: string, variables?: unknown, token?: string | null): HttpCase => ({
  what: `${query.slice(0, 80)} ${JSON.stringify(variables ?? {}).slice(0, 80)}`,
  body: JSON.stringify({ query, variables }),
  token,
});

/** Names, hosts, ports and pids a hostile client might send. */
const BAD_NAMES: string[] = [
  "",
  " ",
  "x".repeat(101),
  "x".repeat(10_000),
  "a b",
  "a\u0000b",
  "a\nb",
  "a\tb",
  "\u202eevil",
  "名前",
  "../etc/passwd",
  "x'; DROP TABLE kb_server_processes; --",
  "1 OR 1=1",
  "%",
  "_",
  "own-*",
  "*",
  "<script>alert(1)</script>",
  "${jndi:ldap://x}",
  "-leading-dash",
  ".dot",
  "a\u00adb",
  "\ud800",
];
/** A small seeded generator: the same hostile strings on every run. */
function seeded(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state * 1_103_515_245 + 12_345) % 2 ** 31;
    return state / 2 ** 31;
  };
}
const random = seeded(20261201);
const ALPHABET = [
  "a",
  "Z",
  "9",
  "-",
  ".",
  "_",
  " ",
  "'",
  '"',
  ";",
  "\\",
  "/",
  "%",
  "*",
  "\u0000",
  "\u001b",
  "\u2028",
  "é",
  "名",
  "😀",
  "\ud83d",
];
/** Every control character inside a name, and random strings from a hostile alphabet. */
BAD_NAMES.push(
  ...Array.from({ length: 32 }, (_, c) => `a${String.fromCharCode(c)}b`),
  "a\u007fb",
  ...Array.from({ length: 40 }, () =>
    Array.from({ length: 1 + Math.floor(random() * 120) }, () => ALPHABET[Math.floor(random() * ALPHABET.length)]).join(
      "",
    ),
  ).filter((name) => !/^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/.test(name)),
);
const BAD_HOSTS = [
  "http://host",
  "host/path",
  "host:9001",
  "-bad",
  "a..b",
  "x".repeat(300),
  "ho st",
  "höst",
  "",
  "[::1]/x",
];
const BAD_PORTS = [0, -1, 65536, 1e9, -2147483648, 2147483647];
const BAD_PIDS = [0, -1, -2147483648];

function generate(): HttpCase[] {
  const cases: HttpCase[] = [];
  // Broken JSON and bodies that are not JSON, or not UTF-8.
  for (const body of [
    "{",
    "{ not json",
    '{"query": }',
    '{"query": "{ __typename }",}',
    "[]",
    "null",
    "1",
    '"query"',
    '{"query": "{ __typename }"}'.repeat(3),
    "\u0000",
    "",
  ]) {
    cases.push({ what: `broken JSON ${JSON.stringify(body).slice(0, 30)}`, body });
  }
  for (const bytes of [
    [0xff, 0xfe, 0xfd],
    [0xc3, 0x28],
    [0xed, 0xa0, 0x80],
    [0x7b, 0x80, 0x7d],
  ]) {
    cases.push({ what: `non-UTF-8 ${bytes.join(",")}`, body: Buffer.from(bytes) });
  }
  // Wrong types where the protocol wants others.
  for (const body of [
    { query: 123 },
    { query: null },
    { query: ["{ __typename }"] },
    { query: "{ __typename }", variables: "x" },
    { query: "{ __typename }", variables: [1] },
    { query: "{ __typename }", operationName: 5 },
    { query: "{ __typename }", extensions: "x" },
    {},
  ]) {
    cases.push({ what: `wrong type ${JSON.stringify(body).slice(0, 40)}`, body: JSON.stringify(body) });
  }
  // Wrong content types, mutations over GET, no or wrong tokens.
  for (const contentType of [
    "text/plain",
    "application/x-www-form-urlencoded",
    "multipart/form-data; boundary=x",
    "application/xml",
  ]) {
    cases.push({ what: `content type ${contentType}`, contentType, body: JSON.stringify({ query: "{ __typename }" }) });
  }
  for (const mutation of [
    'mutation { deleteProcess(name: "own-1") { id } }',
    'mutation { stopProcess(name: "own-1") { id } }',
  ]) {
    cases.push({ what: `GET ${mutation}`, method: "GET", query: mutation });
  }
  for (const token of [null, "", "x", "Bearer", "fvt_" + "0".repeat(43), "a".repeat(5_000)]) {
    cases.push({
      ...gql('mutation { deleteProcess(name: "own-1") { id } }'),
      what: `token ${token?.slice(0, 10)}`,
      token,
    });
  }
  // Names, hosts, ports and pids, through every operation that takes them.
  for (const name of BAD_NAMES) {
    for (const [query, variables] of [
      ["query($n: String!) { process(name: $n) { id } }", { n: name }],
      ["mutation($n: String!) { deleteProcess(name: $n) { id } }", { n: name }],
      ["mutation($n: String!) { registerProcess(name: $n, pid: 1) { port } }", { n: name }],
      ["mutation($n: String!) { heartbeat(name: $n, pid: 1) { ok } }", { n: name }],
      ["mutation($n: String!) { deregisterProcess(name: $n) { status } }", { n: name }],
      ["mutation($n: String!) { startProcess(name: $n) { id } }", { n: name }],
      ["mutation($n: String!) { stopProcess(name: $n) { id } }", { n: name }],
      ["mutation($n: String!) { restartProcess(name: $n) { id } }", { n: name }],
      ["mutation($n: String!) { createProcess(input: { name: $n, port: 8000 }) { id } }", { n: name }],
      ["mutation($n: String!) { updateProcess(name: $n, input: { port: 8001 }) { id } }", { n: name }],
      ["query($n: [String!]) { processes(filter: { names: $n }) { id } }", { n: [name] }],
      [
        "query($p: String) { processes(filter: { namePrefix: $p }) { id } }",
        // An empty prefix is no filter at all (every name): the rest cannot start a name.
        { p: name === "" ? "\u0000" : name.repeat(name.length > 50 ? 1 : 200) },
      ],
      ["mutation($n: String!) { createApiToken(input: { name: $n, role: AGENT }) { id } }", { n: name }],
    ] as const) {
      cases.push(gql(query, variables));
    }
  }
  for (const host of BAD_HOSTS) {
    cases.push(
      gql(
        'mutation($h: String!) { createProcess(input: { name: "new-h", port: 8000, supervisorHost: $h, supervisorPort: 9001 }) { id } }',
        { h: host },
      ),
    );
    cases.push(
      gql('mutation($h: String!) { updateProcess(name: "own-2", input: { supervisorHost: $h }) { id } }', { h: host }),
    );
    cases.push(gql("query($h: String) { processes(filter: { supervisorHost: $h }) { id } }", { h: host }));
  }
  for (const port of BAD_PORTS) {
    cases.push(gql('mutation($p: Int!) { createProcess(input: { name: "new-p", port: $p }) { id } }', { p: port }));
    cases.push(gql('mutation($p: Int!) { updateProcess(name: "own-2", input: { port: $p }) { id } }', { p: port }));
    cases.push(
      gql('mutation($p: Int!) { updateProcess(name: "own-2", input: { supervisorPort: $p }) { id } }', { p: port }),
    );
  }
  for (const pid of BAD_PIDS) {
    cases.push(gql('mutation($p: Int!) { registerProcess(name: "own-1", pid: $p) { port } }', { p: pid }));
    cases.push(gql('mutation($p: Int!) { heartbeat(name: "own-1", pid: $p) { ok } }', { p: pid }));
  }
  for (const value of [1.5, "8000", null, true, [], {}, 2 ** 53]) {
    cases.push(gql('mutation($p: Int!) { createProcess(input: { name: "new-t", port: $p }) { id } }', { p: value }));
  }
  // Huge arrays and strings.
  cases.push(
    gql("query($n: [String!]) { processes(filter: { names: $n }) { id } }", {
      n: Array.from({ length: 5_000 }, (_, i) => `n${i}`),
    }),
  );
  cases.push({
    what: "a body over 1 MiB",
    body: JSON.stringify({ query: "{ __typename }", variables: { pad: "x".repeat(1_100_000) } }),
  });
  cases.push(gql(`{ ${"__typename ".repeat(5_000)} }`));
  // Deep, wide, aliased, cyclic, unknown.
  for (const depth of [12, 20, 50, 200]) {
    cases.push(gql(`{ ${"processes { supervisorHost ".repeat(1)}${"a { ".repeat(depth)}b${" }".repeat(depth)} } }`));
  }
  for (const aliases of [31, 100, 1_000]) {
    cases.push(gql(`{ ${Array.from({ length: aliases }, (_, i) => `a${i}: processes { name }`).join(" ")} }`));
  }
  cases.push(gql("query { ...A } fragment A on Query { ...B } fragment B on Query { ...A }"));
  cases.push(gql("query { ...A } fragment A on Query { ...A }"));
  for (const field of ["nope", "processes { nope }", "process { id }", "__type { name }"]) {
    cases.push(gql(`{ ${field} }`));
  }
  cases.push(gql("subscription { processChanged { id } }"));
  cases.push(gql("query A { __typename } query B { __typename }"));
  // Roles and bindings: what a token may not do.
  const asAgent = (query: string) => gql(query, undefined, tokens.agent);
  const asViewer = (query: string) => gql(query, undefined, tokens.viewer);
  const asOperator = (query: string) => gql(query, undefined, tokens.operator);
  for (const target of ["other-1", "own-1", "nope"]) {
    cases.push(asAgent(`mutation { deleteProcess(name: "${target}") { id } }`));
    cases.push(asAgent(`mutation { stopProcess(name: "${target}") { id } }`));
    cases.push(asAgent(`mutation { createProcess(input: { name: "${target}-x", port: 1 }) { id } }`));
    cases.push(asViewer(`mutation { stopProcess(name: "${target}") { id } }`));
    cases.push(asViewer(`mutation { updateProcess(name: "${target}", input: { port: 1 }) { id } }`));
    cases.push(asOperator(`mutation { deleteProcess(name: "${target}") { id } }`));
    cases.push(asOperator(`mutation { createApiToken(input: { name: "x", role: ADMIN }) { id } }`));
  }
  // Scoped people's tokens reaching past their pattern.
  for (const token of [tokens.scopedViewer, tokens.scopedOperator]) {
    for (const query of [
      `{ process(name: "other-1") { id } }`,
      `mutation { stopProcess(name: "other-1") { id } }`,
      `mutation { restartProcess(name: "other-1") { id } }`,
      `mutation { updateProcess(name: "other-1", input: { port: 1 }) { id } }`,
      `{ apiTokens { id } }`,
    ]) {
      cases.push(gql(query, undefined, token));
    }
  }
  cases.push(asAgent(`mutation { registerProcess(name: "other-1", pid: 7) { port } }`));
  cases.push(asAgent(`mutation { heartbeat(name: "other-1", pid: 7) { ok } }`));
  cases.push(asAgent(`mutation { deregisterProcess(name: "other-1") { status } }`));
  cases.push(asAgent(`{ apiTokens { id } }`));
  cases.push(asAgent(`mutation { revokeApiToken(id: "1") { id } }`));
  for (const id of ["-1", "x", "1e3", "99999999999", "' OR 1=1"])
    cases.push(gql(`mutation { revokeApiToken(id: "${id}") { id } }`));
  return cases;
}

/** A refusal: a 4xx, or a 200 whose errors all carry a code a client can act on, with nothing done. */
function refused(outcome: Outcome): boolean {
  if (outcome.status >= 500) return false;
  if (outcome.codes.includes("INTERNAL_SERVER_ERROR")) return false;
  if (outcome.status >= 400) return true;
  return outcome.codes.length > 0 && outcome.codes.every((code) => code !== undefined && CODED.has(code));
}

async function typename(): Promise<boolean> {
  const response = await fetch(`${app.url}/graphql`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${tokens.viewer}` },
    body: JSON.stringify({ query: "{ __typename }" }),
  });
  return response.status === 200 && ((await response.json()) as { data?: unknown }).data !== undefined;
}

/** A raw graphql-ws conversation: the frames sent, and what the server did. */
async function wsConversation(
  frames: readonly (string | Buffer)[],
  token = tokens.viewer,
): Promise<{ closeCode: number | null; messages: { type: string; payload?: unknown }[] }> {
  const socket = new WebSocket(`${app.url.replace(/^http/, "ws")}/graphql`, "graphql-transport-ws");
  const messages: { type: string; payload?: unknown }[] = [];
  let closeCode: number | null = null;
  const closed = new Promise<void>((resolve) =>
    socket.on("close", (code) => {
      closeCode = code;
      resolve();
    }),
  );
  socket.on("message", (data) => messages.push(JSON.parse(String(data)) as { type: string }));
  socket.on("error", () => undefined);
  await new Promise<void>((resolve, reject) => {
    socket.once("open", () => resolve());
    socket.once("error", reject);
  });
  socket.send(JSON.stringify({ type: "connection_init", payload: { authorization: `Bearer ${token}` } }));
  for (const frame of frames) socket.send(frame);
  // Long enough for the server to answer every frame; then the conversation ends.
  await Promise.race([closed, new Promise((resolve) => setTimeout(resolve, 500))]);
  socket.terminate();
  await closed;
  return { closeCode, messages };
}

describe("hostile input", () => {
  it("over HTTP: at least 1,000 generated cases, each refused with a 4xx or a coded error, nothing changed", async () => {
    const before = await tables();
    const cases = generate();
    expect(cases.length).toBeGreaterThanOrEqual(1_000);
    const wrong: string[] = [];
    for (const [i, c] of cases.entries()) {
      const outcome = await send(c);
      if (!refused(outcome)) wrong.push(`${c.what}: HTTP ${outcome.status} ${JSON.stringify(outcome.codes)}`);
      if (i % 100 === 0) expect(await typename(), `{ __typename } after case ${i}`).toBe(true);
    }
    expect(wrong).toEqual([]);
    // Lists are narrowed, not refused: a scoped token asking for another's rows or
    // events gets none of them (other-1 has its CREATED event in the log).
    for (const token of [tokens.scopedOperator, tokens.scopedViewer]) {
      const list = await app.admin
        .as(token)
        .data<{ processes: unknown[] }>(`{ processes(filter: { names: ["other-1"] }) { id } }`);
      expect(list.processes).toEqual([]);
    }
    const events = await app.admin
      .as(tokens.scopedOperator)
      .data<{ events: unknown[] }>(`{ events(processName: "other-1") { id } }`);
    expect(events.events).toEqual([]);
    expect(await typename()).toBe(true);
    expect(await tables()).toEqual(before);
  });

  it("over WebSocket: malformed frames, bad subscriptions, oversized frames and floods, nothing changed", async () => {
    const before = await tables();
    const subscribe = (id: string, query: string, variables?: unknown) =>
      JSON.stringify({ id, type: "subscribe", payload: { query, variables } });
    const conversations: { what: string; frames: (string | Buffer)[]; token?: string; closes?: number }[] = [
      { what: "not JSON", frames: ["{"] },
      { what: "a binary frame", frames: [Buffer.from([0xff, 0x00])] },
      { what: "an unknown message type", frames: [JSON.stringify({ type: "nope" })] },
      {
        what: "subscribe without id",
        frames: [JSON.stringify({ type: "subscribe", payload: { query: "{ __typename }" } })],
      },
      { what: "a second connection_init", frames: [JSON.stringify({ type: "connection_init" })] },
      { what: "an oversized frame", frames: ["x".repeat(1_100_000)], closes: 1009 },
      { what: "a mutation", frames: [subscribe("1", 'mutation { deleteProcess(name: "own-1") { id } }')] },
      {
        what: "bad names",
        frames: BAD_NAMES.map((n, i) =>
          subscribe(`n${i}`, "subscription($n: [String!]) { processChanged(names: $n) { id } }", { n: [n] }),
        ),
      },
      {
        what: "bad cursors",
        frames: ["x", "-1", "1e9", "99999999999999999999"].map((after, i) =>
          subscribe(`a${i}`, "subscription($a: ID) { processChanged(after: $a) { id } }", { a: after }),
        ),
      },
      {
        what: "a deep document",
        frames: [subscribe("d", `subscription { processChanged { ${"a { ".repeat(50)}b${" }".repeat(50)} } }`)],
      },
      {
        what: "the same id twice",
        frames: [
          subscribe("s", "subscription { processChanged { id } }"),
          subscribe("s", "subscription { processChanged { id } }"),
        ],
      },
      {
        what: "a flood of subscriptions",
        frames: Array.from({ length: 300 }, (_, i) => subscribe(`f${i}`, "subscription { processChanged { id } }")),
      },
      {
        what: "a scoped viewer watching another's process",
        token: tokens.scopedViewer,
        frames: [subscribe("v", 'subscription { processChanged(names: ["other-1"]) { id } }')],
      },
      {
        what: "an agent watching another's process",
        token: tokens.agent,
        frames: [subscribe("o", 'subscription { processChanged(names: ["other-1"]) { id } }')],
      },
    ];
    const wrong: string[] = [];
    for (const conversation of conversations) {
      const { closeCode, messages } = await wsConversation(conversation.frames, conversation.token);
      const internal = messages.some((m) => JSON.stringify(m.payload ?? "").includes("INTERNAL_SERVER_ERROR"));
      const serverFault = closeCode === 1011;
      const unexpectedClose = conversation.closes !== undefined && closeCode !== conversation.closes;
      if (internal || serverFault || unexpectedClose)
        wrong.push(`${conversation.what}: close ${closeCode}, ${JSON.stringify(messages).slice(0, 200)}`);
      expect(await typename(), `{ __typename } after ${conversation.what}`).toBe(true);
    }
    expect(wrong).toEqual([]);
    expect(await tables()).toEqual(before);
  });
});
