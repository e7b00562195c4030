import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestApp, type TestApp, type TokenClient } from "./support/app.js";
import { bundled } from "./support/bundle.js";
import { createTestDatabase, type TestDatabase } from "./support/database.js";
import { connectWs, GraphQLHttpClient, type WsConnection } from "./support/graphql-client.js";
import { Supervisord } from "./support/supervisord.js";
import { until } from "./support/wait.js";

const run = promisify(execFile);

type Who = "viewer" | "operator" | "admin" | "agent" | "foreign agent" | "scoped viewer" | "scoped operator";
const EVERYONE: Who[] = ["viewer", "operator", "admin", "agent", "foreign agent", "scoped viewer", "scoped operator"];
/** Tokens bound to "matrix-*", as the agent is: people's tokens scoped to part of the fleet. */
const SCOPED: Who[] = ["scoped viewer", "scoped operator"];

let db: TestDatabase;
let app: TestApp;
const clients = {} as Record<Who, TokenClient>;
const sockets: WsConnection[] = [];

/** Everything a write could touch, to prove that a refused call wrote nothing. */
async function snapshot(): Promise<unknown> {
  return {
    processes: await db.query("SELECT * FROM kb_server_processes ORDER BY id"),
    events: await db.query("SELECT COUNT(*) AS n FROM fleetvisor_process_events"),
    tokens: await db.query("SELECT id, revoked_at FROM fleetvisor_api_tokens ORDER BY id"),
    incidents: await db.query("SELECT * FROM fleetvisor_incidents ORDER BY id"),
    silences: await db.query("SELECT * FROM fleetvisor_silences ORDER BY id"),
  };
}

/** A socket of `who`'s token, once the server has accepted it. */
async function socketOf(who: Who): Promise<WsConnection> {
  const connection = connectWs(app.url, clients[who].token);
  sockets.push(connection);
  await connection.connected;
  return connection;
}

beforeAll(async () => {
  db = await createTestDatabase("auth");
  // Another process (the CLI) revokes tokens here: a short cache makes that visible quickly.
  app = await startTestApp(db.url, { TOKEN_CACHE_TTL_MS: "500" });
  clients.viewer = await app.client("VIEWER", "viewer");
  clients.operator = await app.client("OPERATOR", "operator");
  clients.admin = await app.client("ADMIN", "admin");
  clients.agent = await app.client("AGENT", "agent", "matrix-*");
  clients["foreign agent"] = await app.client("AGENT", "foreign-agent", "elsewhere-*");
  clients["scoped viewer"] = await app.client("VIEWER", "scoped-viewer", "matrix-*");
  clients["scoped operator"] = await app.client("OPERATOR", "scoped-operator", "matrix-*");
  for (const name of ["matrix-01", "matrix-02", "outside-01"]) {
    await app.admin.data(`mutation($n: String!) { createProcess(input: { name: $n, port: 8000 }) { id } }`, {
      n: name,
    });
  }
  await app.admin.data(`mutation { registerProcess(name: "matrix-01", pid: 42) { port } }`);
});

afterAll(async () => {
  await Promise.all(sockets.map((s) => s.dispose()));
  await app?.stop();
  await db?.drop();
});

interface Operation {
  readonly name: string;
  readonly query: string;
  readonly allowed: readonly Who[];
  readonly writes: boolean;
}

/**
 * The roles table of docs/architecture.md, operation by operation. Writes use a fresh name per attempt only
 * where success would make a second attempt fail for another reason.
 */
const operations: Operation[] = [
  { name: "processes", query: `{ processes { name } }`, allowed: EVERYONE, writes: false },
  {
    name: "processPage",
    query: `{ processPage(first: 5) { totalCount nodes { name } } }`,
    allowed: EVERYONE,
    writes: false,
  },
  { name: "settings", query: `{ settings { pollIntervalSeconds } }`, allowed: EVERYONE, writes: false },
  {
    name: "process (own)",
    query: `{ process(name: "matrix-01") { name } }`,
    allowed: ["viewer", "operator", "admin", "agent", ...SCOPED],
    writes: false,
  },
  {
    name: "process (other)",
    query: `{ process(name: "outside-01") { name } }`,
    allowed: ["viewer", "operator", "admin"],
    writes: false,
  },
  { name: "apiTokens", query: `{ apiTokens { id } }`, allowed: ["admin"], writes: false },
  {
    name: "events",
    query: `{ events(first: 5) { id kind processName actor } }`,
    allowed: ["operator", "admin", "scoped operator"],
    writes: false,
  },
  {
    name: "registerProcess",
    query: `mutation { registerProcess(name: "matrix-01", pid: 42) { port } }`,
    allowed: ["admin", "agent"],
    writes: true,
  },
  {
    name: "heartbeat",
    query: `mutation { heartbeat(name: "matrix-01", pid: 42) { ok } }`,
    allowed: ["admin", "agent"],
    writes: true,
  },
  {
    name: "deregisterProcess",
    query: `mutation { deregisterProcess(name: "matrix-02") { status } }`,
    allowed: ["admin", "agent"],
    writes: true,
  },
  {
    name: "createProcess",
    query: `mutation { createProcess(input: { name: "made-$WHO", port: 8000 }) { id } }`,
    allowed: ["admin"],
    writes: true,
  },
  {
    name: "updateProcess",
    query: `mutation { updateProcess(name: "outside-01", input: { port: 8001 }) { port } }`,
    allowed: ["admin"],
    writes: true,
  },
  {
    name: "deleteProcess",
    query: `mutation { deleteProcess(name: "made-$WHO") { id } }`,
    allowed: ["admin"],
    writes: true,
  },
  {
    name: "createApiToken",
    query: `mutation { createApiToken(input: { name: "x", role: VIEWER }) { token } }`,
    allowed: ["admin"],
    writes: true,
  },
  { name: "me", query: `{ me { name role } }`, allowed: EVERYONE, writes: false },
  {
    name: "supervisors",
    query: `{ supervisors { host } }`,
    allowed: ["viewer", "operator", "admin", ...SCOPED],
    writes: false,
  },
  // matrix-01 names no supervisord: allowed callers get BAD_USER_INPUT, the others FORBIDDEN.
  {
    name: "startProcess",
    query: `mutation { startProcess(name: "matrix-01") { status } }`,
    allowed: ["operator", "admin", "scoped operator"],
    writes: true,
  },
  {
    name: "startProcess (other)",
    query: `mutation { startProcess(name: "outside-01") { status } }`,
    allowed: ["operator", "admin"],
    writes: true,
  },
  {
    name: "stopProcess",
    query: `mutation { stopProcess(name: "matrix-01") { status } }`,
    allowed: ["operator", "admin", "scoped operator"],
    writes: true,
  },
  {
    name: "stopProcess (other)",
    query: `mutation { stopProcess(name: "outside-01") { status } }`,
    allowed: ["operator", "admin"],
    writes: true,
  },
  {
    name: "restartProcess",
    query: `mutation { restartProcess(name: "matrix-01") { status } }`,
    allowed: ["operator", "admin", "scoped operator"],
    writes: true,
  },
  {
    name: "restartProcess (other)",
    query: `mutation { restartProcess(name: "outside-01") { status } }`,
    allowed: ["operator", "admin"],
    writes: true,
  },
  {
    name: "restartProcesses",
    query: `mutation { restartProcesses(filter: { names: ["matrix-01"] }) { outcome } }`,
    allowed: ["operator", "admin", "scoped operator"],
    writes: true,
  },
  // A bulk operation selects what `processes(filter:)` lists for the same token: a bound
  // operator naming a process outside its pattern selects nothing (see the test below).
  {
    name: "stopProcesses",
    query: `mutation { stopProcesses(filter: { names: ["outside-01"] }) { outcome } }`,
    allowed: ["operator", "admin", "scoped operator"],
    writes: true,
  },
  {
    name: "startProcesses",
    query: `mutation { startProcesses(filter: { namePrefix: "matrix-" }) { outcome } }`,
    allowed: ["operator", "admin", "scoped operator"],
    writes: true,
  },
  // Rollouts (dry runs, so that allowed ones write nothing either): a bound operator names
  // only its processes, and sees a rollout only when every process of it is its own.
  {
    name: "startRollout",
    query: `mutation { startRollout(input: { action: RESTART, names: ["matrix-01"], dryRun: true }) { state } }`,
    allowed: ["operator", "admin", "scoped operator"],
    writes: true,
  },
  {
    name: "startRollout (other)",
    query: `mutation { startRollout(input: { action: RESTART, names: ["outside-01"], dryRun: true }) { state } }`,
    allowed: ["operator", "admin"],
    writes: true,
  },
  {
    name: "reconcile",
    query: `mutation { reconcile(filter: { namePrefix: "matrix-" }, dryRun: true) { state } }`,
    allowed: ["operator", "admin", "scoped operator"],
    writes: true,
  },
  {
    name: "cancelRollout",
    query: `mutation { cancelRollout(id: "999999") { state } }`,
    allowed: ["operator", "admin", "scoped operator"],
    writes: true,
  },
  {
    name: "rollouts",
    query: `{ rollouts(first: 5) { nodes { id } } }`,
    allowed: ["viewer", "operator", "admin", ...SCOPED],
    writes: false,
  },
  // No such rollout: allowed callers get NOT_FOUND, agents FORBIDDEN. Which rollout a bound
  // token may read is the test "rollout(id) as …" below.
  {
    name: "rollout",
    query: `{ rollout(id: "999999") { id } }`,
    allowed: ["viewer", "operator", "admin", ...SCOPED],
    writes: false,
  },
  // Healing: everyone but agents reads the policies; operators set them (not a bound one: a
  // policy may reach any process) and clear a quarantine of a process they may touch.
  {
    name: "healingPolicies",
    query: `{ healingPolicies { namePattern } }`,
    allowed: ["viewer", "operator", "admin", ...SCOPED],
    writes: false,
  },
  {
    name: "setHealingPolicy",
    query: `mutation { setHealingPolicy(input: { namePattern: "matrix-*", restartWhenUnresponsiveAfterSeconds: 60, graceAfterStartSeconds: 30, maxRestarts: 3, perSeconds: 600 }) { namePattern } }`,
    allowed: ["operator", "admin"],
    writes: true,
  },
  {
    name: "deleteHealingPolicy",
    query: `mutation { deleteHealingPolicy(namePattern: "nothing-*") }`,
    allowed: ["operator", "admin"],
    writes: true,
  },
  {
    name: "clearQuarantine",
    query: `mutation { clearQuarantine(name: "matrix-01") { quarantined } }`,
    allowed: ["operator", "admin", "scoped operator"],
    writes: true,
  },
  {
    name: "clearQuarantine (other)",
    query: `mutation { clearQuarantine(name: "outside-01") { quarantined } }`,
    allowed: ["operator", "admin"],
    writes: true,
  },
  // Incidents and silences: everyone who reads the fleet reads them; operators and admins
  // acknowledge; silences may cover any process, so bound operators do not manage them.
  {
    name: "incidents",
    query: `{ incidents(state: ALL) { id } }`,
    allowed: ["viewer", "operator", "admin", ...SCOPED],
    writes: false,
  },
  {
    name: "acknowledgeIncident",
    query: `mutation { acknowledgeIncident(id: "999999", note: "seen") { id } }`,
    allowed: ["operator", "admin", "scoped operator"],
    writes: true,
  },
  {
    name: "silences",
    query: `{ silences(includeExpired: true) { id } }`,
    allowed: ["viewer", "operator", "admin", ...SCOPED],
    writes: false,
  },
  {
    name: "createSilence",
    query: `mutation { createSilence(input: { namePattern: "matrix-*", until: "${new Date(Date.now() + 86_400_000).toISOString()}", comment: "matrix" }) { id } }`,
    allowed: ["operator", "admin"],
    writes: true,
  },
  {
    name: "expireSilence",
    query: `mutation { expireSilence(id: "999999") { id } }`,
    allowed: ["operator", "admin"],
    writes: true,
  },
  {
    name: "reportSupervisorEvent",
    query: `mutation { reportSupervisorEvent(input: { supervisorHost: "sv", supervisorPort: 9001, program: "p", state: FATAL }) { name } }`,
    allowed: ["admin", "agent", "foreign agent"],
    writes: true,
  },
  {
    name: "revokeApiToken",
    query: `mutation { revokeApiToken(id: "$VIEWER") { id } }`,
    allowed: ["admin"],
    writes: true,
  },
];

describe("who may do what (HTTP)", () => {
  for (const operation of operations) {
    for (const who of EVERYONE) {
      const allowed = operation.allowed.includes(who);
      it(`${operation.name} as ${who}: ${allowed ? "allowed" : "FORBIDDEN, nothing written"}`, async () => {
        const query = operation.query.replace("$WHO", who.replace(" ", "-")).replace("$VIEWER", "999999");
        const before = operation.writes && !allowed ? await snapshot() : undefined;
        const result = await clients[who].http.request(query);
        if (allowed) {
          // Allowed calls may still fail for other reasons (an unknown token id, a process
          // without a supervisord), but never for who is calling.
          const codes = result.body.errors?.map((e) => e.extensions?.code) ?? [];
          expect(codes.filter((c) => c === "FORBIDDEN" || c === "UNAUTHENTICATED")).toEqual([]);
        } else {
          expect(result.status).toBe(200);
          expect(result.body.errors?.[0]?.extensions?.code).toBe("FORBIDDEN");
          if (before) expect(await snapshot()).toEqual(before);
        }
      });
    }
  }

  it.each(["agent", ...SCOPED] as Who[])("a token bound to matrix-* (%s) sees only its own processes", async (who) => {
    const data = await clients[who].http.data<{ processes: { name: string }[] }>(`{ processes { name } }`);
    expect(data.processes.map((p) => p.name)).toEqual(["matrix-01", "matrix-02"]);
    const named = await clients[who].http.data<{ processes: { name: string }[] }>(
      `{ processes(filter: { names: ["matrix-02", "outside-01"] }) { name } }`,
    );
    expect(named.processes.map((p) => p.name)).toEqual(["matrix-02"]);
  });

  // processPage pages what `processes` lists for the same token: a bound token's pages hold
  // its processes alone, and totalCount counts them alone, filtered or not.
  it.each([
    ["viewer", ["matrix-01", "matrix-02", "outside-01"]],
    ["agent", ["matrix-01", "matrix-02"]],
    ["foreign agent", []],
    ["scoped viewer", ["matrix-01", "matrix-02"]],
    ["scoped operator", ["matrix-01", "matrix-02"]],
  ] as [Who, string[]][])(
    "processPage as %s: a page at a time, only its processes, counted alone",
    async (who, own) => {
      type Page = {
        processPage: { nodes: { name: string }[]; endCursor: string | null; hasNextPage: boolean; totalCount: number };
      };
      const names: string[] = [];
      const totals: number[] = [];
      let after: string | null = null;
      // Bounded, so that a page that always has a next one fails here instead of at the test's timeout.
      for (let pages = 0, more = true; more && pages <= own.length; pages++) {
        const { processPage: page }: Page = await clients[who].http.data<Page>(
          `query($after: String) { processPage(first: 1, after: $after) { nodes { name } endCursor hasNextPage totalCount } }`,
          { after },
        );
        names.push(...page.nodes.map((n) => n.name));
        totals.push(page.totalCount);
        after = page.endCursor;
        more = page.hasNextPage;
      }
      expect(names).toEqual(own);
      expect(totals).toEqual(Array<number>(Math.max(own.length, 1)).fill(own.length));

      const named = await clients[who].http.data<Page>(
        `{ processPage(filter: { names: ["matrix-02", "outside-01"] }) { nodes { name } totalCount } }`,
      );
      const visible = own.filter((name) => name === "matrix-02" || name === "outside-01");
      expect(named.processPage.nodes.map((n) => n.name)).toEqual(visible);
      expect(named.processPage.totalCount).toBe(visible.length);
    },
  );

  it("a bound operator's bulk operation selects only its processes, and touches no other", async () => {
    const before = await db.query("SELECT * FROM kb_server_processes WHERE process_name = 'outside-01'");
    const data = await clients["scoped operator"].http.data<{ stopProcesses: { name: string }[] }>(
      `mutation { stopProcesses(filter: { names: ["outside-01", "matrix-02"] }, continueOnError: true) { name } }`,
    );
    expect(data.stopProcesses.map((r) => r.name)).toEqual(["matrix-02"]);
    const other = await clients["scoped operator"].http.data<{ restartProcesses: unknown[] }>(
      `mutation { restartProcesses(filter: { namePrefix: "outside-" }) { name } }`,
    );
    expect(other.restartProcesses).toEqual([]);
    expect(await db.query("SELECT * FROM kb_server_processes WHERE process_name = 'outside-01'")).toEqual(before);
  });

  it("an agent sees only its own processes", async () => {
    const data = await clients.agent.http.data<{ processes: { name: string }[] }>(`{ processes { name } }`);
    expect(data.processes.map((p) => p.name)).toEqual(["matrix-01", "matrix-02"]);
    const foreign = await clients["foreign agent"].http.data<{ processes: { name: string }[] }>(
      `{ processes { name } }`,
    );
    expect(foreign.processes).toEqual([]);
  });

  it("an agent touching a process outside its pattern is FORBIDDEN and writes nothing", async () => {
    for (const mutation of [
      `mutation { registerProcess(name: "outside-01", pid: 1) { port } }`,
      `mutation { heartbeat(name: "outside-01", pid: 1) { ok } }`,
      `mutation { deregisterProcess(name: "outside-01") { status } }`,
      `{ process(name: "outside-01") { name } }`,
    ]) {
      const before = await snapshot();
      const error = await clients.agent.http.error(mutation);
      expect(error.extensions?.code).toBe("FORBIDDEN");
      expect(error.message).toContain('"matrix-*"');
      expect(await snapshot()).toEqual(before);
    }
  });

  it.each([
    ["no token", undefined],
    ["an unknown token", "fvt_not-a-real-token"],
  ])("%s: 401 UNAUTHENTICATED with a GraphQL error body, nothing written", async (_label, token) => {
    const before = await snapshot();
    const result = await new GraphQLHttpClient(app.url, token).request(
      `mutation { deregisterProcess(name: "matrix-01") { status } }`,
    );
    expect(result.status).toBe(401);
    expect(result.headers.get("www-authenticate")).toContain("Bearer");
    expect(result.body.errors?.[0]?.extensions?.code).toBe("UNAUTHENTICATED");
    expect(result.body.errors?.[0]?.extensions).not.toHaveProperty("http");
    expect(await snapshot()).toEqual(before);
  });

  it("a revoked token stops working at once", async () => {
    const doomed = await app.client("VIEWER", "doomed");
    expect((await doomed.http.request(`{ processes { name } }`)).status).toBe(200);
    const revoked = await app.admin.data<{ revokeApiToken: { revokedAt: string | null } }>(
      `mutation($id: ID!) { revokeApiToken(id: $id) { revokedAt } }`,
      { id: doomed.id },
    );
    expect(revoked.revokeApiToken.revokedAt).not.toBeNull();
    expect((await doomed.http.request(`{ processes { name } }`)).status).toBe(401);
  });

  it("stores only a hash of each token, and never lists the token", async () => {
    const created = await app.client("OPERATOR", "hash-check");
    const rows = await db.query<Record<string, unknown>>(
      "SELECT * FROM fleetvisor_api_tokens WHERE name = 'hash-check'",
    );
    expect(JSON.stringify(rows)).not.toContain(created.token);
    expect(rows[0]!.token_hash).toMatch(/^[0-9a-f]{64}$/);
    const listed = await app.admin.request(`{ apiTokens { id name role tokenPrefix } }`);
    expect(JSON.stringify(listed.body)).not.toContain(created.token);
    expect(
      created.token.startsWith(
        (listed.body.data as { apiTokens: { tokenPrefix: string }[] }).apiTokens.at(-1)!.tokenPrefix,
      ),
    ).toBe(true);
  });

  it("refuses an agent token without a pattern and an admin token with one", async () => {
    const agentWithout = await app.admin.error(
      `mutation { createApiToken(input: { name: "a", role: AGENT }) { token } }`,
    );
    expect(agentWithout.extensions?.code).toBe("BAD_USER_INPUT");
    expect(agentWithout.message).toContain("processPattern");
    const adminWith = await app.admin.error(
      `mutation { createApiToken(input: { name: "v", role: ADMIN, processPattern: "x-*" }) { token } }`,
    );
    expect(adminWith.extensions).toMatchObject({
      code: "BAD_USER_INPUT",
      invalidFields: [{ field: "processPattern", message: expect.stringContaining("admin") }],
    });
    for (const role of ["VIEWER", "OPERATOR"]) {
      const bound = await app.admin.data<{ createApiToken: { processPattern: string } }>(
        `mutation($role: Role!) { createApiToken(input: { name: "bound", role: $role, processPattern: "x-*" }) { processPattern } }`,
        { role },
      );
      expect(bound.createApiToken.processPattern).toBe("x-*");
    }
    const badPattern = await app.admin.error(
      `mutation { createApiToken(input: { name: "a", role: AGENT, processPattern: "*-x" }) { token } }`,
    );
    expect(badPattern.extensions?.code).toBe("BAD_USER_INPUT");
  });
});

describe("who may do what (WebSocket)", () => {
  it.each([
    ["no token", undefined],
    ["an unknown token", "fvt_not-a-real-token"],
  ])("%s: the socket is closed with 4401", async (_label, token) => {
    const connection = connectWs(app.url, token);
    sockets.push(connection);
    expect(await connection.closed).toBe(4401);
  });

  it("a token revoked while its socket is open runs nothing more: the socket is closed with 4401", async () => {
    const doomed = await app.client("VIEWER", "doomed-socket");
    const connection = connectWs(app.url, doomed.token);
    sockets.push(connection);
    await connection.connected;
    await app.admin.data(`mutation($id: ID!) { revokeApiToken(id: $id) { id } }`, { id: doomed.id });
    const attempt = connection.subscribe(`subscription { processChanged { id } }`);
    expect(await connection.closed).toBe(4401);
    // The subscription ends with its socket, having delivered nothing.
    const ended = (await attempt.failure(2_000, "the subscription to end with its socket")) as { code?: number };
    expect(ended.code).toBe(4401);
    expect(attempt.values).toEqual([]);
  });

  it("every role may subscribe; an agent only to its own processes", async () => {
    for (const who of EVERYONE) {
      const connection = connectWs(app.url, clients[who].token);
      sockets.push(connection);
      await connection.connected;
    }
    const agentSocket = connectWs(app.url, clients.agent.token);
    sockets.push(agentSocket);
    const refused = agentSocket.subscribe(`subscription { processChanged(names: ["outside-01"]) { id } }`);
    const refusal = (await refused.failure(3_000, "the refusal")) as { extensions: { code: string } }[];
    expect(refusal[0]!.extensions.code).toBe("FORBIDDEN");

    // Without names, an agent receives only its processes' events.
    const cursor = String(
      (await db.query<{ m: string }>("SELECT COALESCE(MAX(id),0) AS m FROM fleetvisor_process_events"))[0]!.m,
    );
    const own = agentSocket.subscribe<{ processChanged: { processName: string } }>(
      `subscription($after: ID) { processChanged(after: $after) { processName } }`,
      { after: cursor },
    );
    await app.admin.data(`mutation { updateProcess(name: "outside-01", input: { port: 8123 }) { port } }`);
    await app.admin.data(`mutation { updateProcess(name: "matrix-02", input: { port: 8124 }) { port } }`);
    await own.count(1);
    // A marker of its own, recorded last: the stream follows the log's order, so an
    // outside event let through would have come before it.
    await app.admin.data(`mutation { updateProcess(name: "matrix-01", input: { port: 8125 }) { port } }`);
    await own.until((v) => v.some((e) => e.processChanged.processName === "matrix-01"), 10_000, "the marker");
    expect(own.values.map((v) => v.processChanged.processName)).toEqual(["matrix-02", "matrix-01"]);
  });
});

describe("who may watch what (WebSocket)", () => {
  type Changed = { processChanged: { processName: string } };
  let port = 9000;
  const touch = (name: string) =>
    app.admin.data(`mutation($n: String!, $p: Int!) { updateProcess(name: $n, input: { port: $p }) { port } }`, {
      n: name,
      p: ++port,
    });
  const lastEventId = async () =>
    String((await db.query<{ m: string }>("SELECT COALESCE(MAX(id), 0) AS m FROM fleetvisor_process_events"))[0]!.m);

  // Without names, a bound token receives only its processes' events. The proof of absence
  // is order: the other process's event is recorded first, then one of matrix-02; the log
  // delivers in order, so a leak would have arrived before matrix-02's.
  it.each(["viewer", "operator", "admin", "agent", ...SCOPED] as Who[])(
    "processChanged as %s: the events of every process it may see, and of no other",
    async (who) => {
      const seen = (await socketOf(who)).subscribe<Changed>(
        `subscription($after: ID) { processChanged(after: $after) { processName } }`,
        { after: await lastEventId() },
      );
      await touch("outside-01");
      await touch("matrix-02");
      await seen.until((v) => v.some((e) => e.processChanged.processName === "matrix-02"), 10_000, "matrix-02's event");
      const bound = who === "agent" || SCOPED.includes(who);
      expect(seen.values.map((v) => v.processChanged.processName)).toEqual(
        bound ? ["matrix-02"] : ["outside-01", "matrix-02"],
      );
    },
  );

  it.each(EVERYONE)('processChanged(names: ["outside-01"]) as %s', async (who) => {
    const seen = (await socketOf(who)).subscribe<Changed>(
      `subscription($after: ID) { processChanged(names: ["outside-01"], after: $after) { processName } }`,
      { after: await lastEventId() },
    );
    if (["viewer", "operator", "admin"].includes(who)) {
      await touch("outside-01");
      expect((await seen.count(1)).map((v) => v.processChanged.processName)).toEqual(["outside-01"]);
    } else {
      await seen.until(() => false, 5_000, "the refusal").catch(() => undefined);
      expect(seen.values).toEqual([]);
      expect((seen.errors[0] as { extensions: { code: string } }[])[0]!.extensions.code).toBe("FORBIDDEN");
    }
  });

  // matrix-01 and outside-01 name no supervisord: allowed callers get BAD_USER_INPUT, the others FORBIDDEN.
  it.each(EVERYONE.flatMap((who) => ["matrix-01", "outside-01"].map((name) => [who, name] as const)))(
    "processLog as %s, of %s",
    async (who, name) => {
      const seen = (await socketOf(who)).subscribe(
        `subscription($name: String!) { processLog(name: $name) { text } }`,
        {
          name,
        },
      );
      const mayFollow =
        ["viewer", "operator", "admin"].includes(who) || (SCOPED.includes(who) && name.startsWith("matrix-"));
      const errors = (await seen.failure()) as { extensions: { code: string } }[];
      expect(errors[0]!.extensions.code).toBe(mayFollow ? "BAD_USER_INPUT" : "FORBIDDEN");
    },
  );
});

describe("who may read and watch which rollouts and incidents", () => {
  type RolloutView = { id: string; state: string; steps: { processName: string }[] };
  type IncidentView = { id: string; processName: string | null; note: string | null };
  const ROLLOUT_FIELDS = "id state steps { processName }";
  /** Programs of one real supervisord, each a process of the registry: two bound to matrix-*, two not. */
  const OWN = ["matrix-roll-1", "matrix-roll-2"];
  const OTHER = ["outside-roll-1", "outside-roll-2"];
  /** Registered processes whose heartbeat is lost: an open incident each. */
  const ALARMS = { own: "matrix-alarm", other: "outside-alarm" } as const;
  const UNBOUND: Who[] = ["viewer", "operator", "admin"];
  const AGENTS: Who[] = ["agent", "foreign agent"];
  let supervisord: Supervisord;
  /** Finished rollouts: of a process of matrix-*, of one outside it, and of one of each. */
  const finished = {} as Record<"own" | "other" | "mixed", string>;
  const incident = {} as Record<keyof typeof ALARMS, string>;

  const startRollout = async (input: Record<string, unknown>): Promise<string> =>
    (
      await app.admin.data<{ startRollout: RolloutView }>(
        `mutation($input: RolloutInput!) { startRollout(input: $input) { id } }`,
        { input },
      )
    ).startRollout.id;
  const readRollout = async (id: string): Promise<RolloutView> =>
    (
      await app.admin.data<{ rollout: RolloutView }>(`query($id: ID!) { rollout(id: $id) { ${ROLLOUT_FIELDS} } }`, {
        id,
      })
    ).rollout;
  const untilFinished = (id: string): Promise<RolloutView> =>
    until(
      `rollout ${id} to finish`,
      async () => {
        const now = await readRollout(id);
        return now.state !== "RUNNING" && now;
      },
      30_000,
    );
  const acknowledge = (id: string, note: string) =>
    app.admin.data(`mutation($id: ID!, $note: String) { acknowledgeIncident(id: $id, note: $note) { id } }`, {
      id,
      note,
    });

  beforeAll(async () => {
    supervisord = await Supervisord.start({
      programs: Object.fromEntries(
        [...OWN, ...OTHER].map((name) => [name, { command: "sleep 1000", autostart: false }]),
      ),
    });
    for (const name of [...OWN, ...OTHER]) {
      await app.admin.data(`mutation($input: CreateProcessInput!) { createProcess(input: $input) { id } }`, {
        input: { name, port: 8000, supervisorHost: supervisord.host, supervisorPort: supervisord.port, program: name },
      });
    }
    // One after another: a process is in one running rollout at a time.
    const quick = async (names: string[]) => {
      const id = await startRollout({ action: "START", names, waitForHealthy: false });
      expect((await untilFinished(id)).state).toBe("SUCCEEDED");
      return id;
    };
    finished.own = await quick([OWN[0]!]);
    finished.other = await quick([OTHER[0]!]);
    finished.mixed = await quick([OWN[1]!, OTHER[1]!]);

    for (const name of Object.values(ALARMS)) {
      await app.admin.data(`mutation($n: String!) { createProcess(input: { name: $n, port: 8000 }) { id } }`, {
        n: name,
      });
      await app.admin.data(`mutation($n: String!) { registerProcess(name: $n, pid: 4242) { port } }`, { n: name });
      await db.query("UPDATE kb_server_processes SET last_heartbeat = ? WHERE process_name = ?", [
        new Date(Date.now() - 3_600_000),
        name,
      ]);
    }
    await app.services.watch.checkHeartbeats();
    const open = await app.admin.data<{ incidents: IncidentView[] }>(`{ incidents(state: OPEN) { id processName } }`);
    for (const [which, name] of Object.entries(ALARMS) as [keyof typeof ALARMS, string][]) {
      const found = open.incidents.find((i) => i.processName === name);
      if (!found) throw new Error(`no open incident on ${name}: ${JSON.stringify(open.incidents)}`);
      incident[which] = found.id;
    }
  }, 60_000);

  afterAll(async () => {
    await supervisord?.stop();
  });

  // A bound token reads a rollout only when every process of it is its own (mayTouchRollout);
  // for any other it is FORBIDDEN, told nothing of the rollout but its id, as cancelRollout is.
  // `rollouts` lists the same ones (restrictToPrincipal).
  it.each(EVERYONE)("rollout(id) as %s: a rollout only when it may touch every process of it", async (who) => {
    for (const [which, id] of Object.entries(finished)) {
      const mayRead = UNBOUND.includes(who) || (SCOPED.includes(who) && which === "own");
      const result = await clients[who].http.request<{ rollout: RolloutView }>(
        `query($id: ID!) { rollout(id: $id) { ${ROLLOUT_FIELDS} } }`,
        { id },
      );
      if (mayRead) {
        expect(result.body.errors).toBeUndefined();
        expect(result.body.data?.rollout).toMatchObject({ id, state: "SUCCEEDED" });
      } else {
        expect(result.body.errors?.[0]?.extensions?.code).toBe("FORBIDDEN");
        expect(result.body.data ?? null).toBeNull();
        expect(JSON.stringify(result.body)).not.toMatch(/(matrix|outside)-roll/);
      }
    }
    if (AGENTS.includes(who)) return;
    const listed = await clients[who].http.data<{ rollouts: { nodes: { id: string }[] } }>(
      `{ rollouts(first: 50) { nodes { id } } }`,
    );
    const ids = new Set(listed.rollouts.nodes.map((r) => r.id));
    expect(
      Object.entries(finished)
        .filter(([, id]) => ids.has(id))
        .map(([which]) => which),
    ).toEqual(SCOPED.includes(who) ? ["own"] : ["own", "other", "mixed"]);
  });

  // A rollout kept running by its pause between batches, watched, then cancelled: a token
  // that may read it sees it first as it is and then its end; any other is refused before
  // anything is delivered, a running rollout or a finished one.
  it.each(EVERYONE)(
    "rolloutChanged as %s: the rollouts of processes it may touch, to their end, and of no other",
    async (who) => {
      const slow = { action: "RESTART", waitForHealthy: false, maxUnavailable: 1, pauseSeconds: 600 };
      const running = {
        own: await startRollout({ ...slow, names: OWN }),
        other: await startRollout({ ...slow, names: OTHER }),
      };
      const socket = await socketOf(who);
      const watch = (id: string) =>
        socket.subscribe<{ rolloutChanged: RolloutView }>(
          `subscription($id: ID!) { rolloutChanged(id: $id) { ${ROLLOUT_FIELDS} } }`,
          { id },
        );
      const watched = { own: watch(running.own), other: watch(running.other), mixed: watch(finished.mixed) };
      const mayWatch = (which: keyof typeof watched) =>
        UNBOUND.includes(who) || (SCOPED.includes(who) && which === "own");

      for (const which of ["own", "other", "mixed"] as const) {
        if (mayWatch(which)) {
          const [first] = await watched[which].count(1);
          expect(first!.rolloutChanged.state).toBe(which === "mixed" ? "SUCCEEDED" : "RUNNING");
        } else {
          const errors = (await watched[which].failure(10_000, `the refusal of ${which}`)) as {
            message: string;
            extensions: { code: string };
          }[];
          expect(errors[0]!.extensions.code).toBe("FORBIDDEN");
        }
      }

      for (const id of Object.values(running)) {
        await app.admin.data(`mutation($id: ID!) { cancelRollout(id: $id) { id } }`, { id });
        expect((await untilFinished(id)).state).toBe("CANCELLED");
      }
      for (const which of ["own", "other", "mixed"] as const) {
        if (mayWatch(which)) {
          const seen = await watched[which].completion(10_000, `${which} to end`);
          expect(seen.at(-1)!.rolloutChanged.state).toBe(which === "mixed" ? "SUCCEEDED" : "CANCELLED");
        } else {
          expect(watched[which].values).toEqual([]);
        }
      }
    },
  );

  // The proof of absence is order, as for processChanged: once a probe on its own incident has
  // arrived the subscription is live; then the other incident changes, then its own (the
  // marker). Changes arrive in the log's order, so a leak would have come before the marker.
  it.each(EVERYONE)(
    "incidentChanged as %s: the changes of incidents of processes it may see, and of no other",
    async (who) => {
      const seen = (await socketOf(who)).subscribe<{ incidentChanged: IncidentView }>(
        `subscription { incidentChanged { id processName note } }`,
      );
      if (AGENTS.includes(who)) {
        const errors = (await seen.failure(10_000, "the refusal")) as { extensions: { code: string } }[];
        expect(errors[0]!.extensions.code).toBe("FORBIDDEN");
        expect(seen.values).toEqual([]);
        return;
      }
      const probe = `probe for ${who}`;
      await until(
        "incidentChanged to deliver a probe",
        async () => {
          await acknowledge(incident.own, probe);
          return seen.values.some((v) => v.incidentChanged.note === probe);
        },
        10_000,
      );
      const other = `other, for ${who}`;
      const marker = `marker, for ${who}`;
      await acknowledge(incident.other, other);
      await acknowledge(incident.own, marker);
      await seen.until((v) => v.some((e) => e.incidentChanged.note === marker), 10_000, "the marker");
      const changes = seen.values
        .map((v) => v.incidentChanged)
        .filter((i) => i.note !== probe)
        .map((i) => [i.processName, i.note]);
      expect(changes).toEqual(
        SCOPED.includes(who)
          ? [[ALARMS.own, marker]]
          : [
              [ALARMS.other, other],
              [ALARMS.own, marker],
            ],
      );
    },
  );
});

describe("npm run token", () => {
  const cli = async (...args: string[]) =>
    run(process.execPath, [await bundled("token"), ...args], {
      env: { ...process.env, DATABASE_URL: db.url, LOG_LEVEL: "silent" },
    });

  it("creates a token printed once on stdout, lists it without the token, and revokes it", async () => {
    const created = await cli("create", "--role", "operator", "--name", "ops");
    const token = created.stdout.trim();
    expect(token).toMatch(/^fvt_[A-Za-z0-9_-]{43}$/);
    expect(created.stderr).toContain("OPERATOR");

    const data = await new GraphQLHttpClient(app.url, token).data<{ processes: unknown[] }>(`{ processes { name } }`);
    expect(data.processes.length).toBeGreaterThan(0);

    const agent = await cli("create", "--role", "agent", "--name", "domaeka-agent", "--process", "domaeka-*");
    expect(agent.stderr).toContain("process=domaeka-*");

    const list = await cli("list");
    expect(list.stdout).toContain("\tops\tOPERATOR");
    expect(list.stdout).not.toContain(token);
    const id = /^(\d+)\tops\t/m.exec(list.stdout)![1]!;

    await cli("revoke", id);
    // Revoked by another process: this replica notices within TOKEN_CACHE_TTL_MS.
    await until(
      "the revoked token to be refused with 401",
      async () => (await new GraphQLHttpClient(app.url, token).request(`{ processes { name } }`)).status === 401,
      2_000,
    );
    expect((await cli("list")).stdout).not.toContain("\tops\t");
    expect((await cli("list", "--all")).stdout).toMatch(/\tops\t.*revoked=/);
  });

  it("explains what is wrong with a bad command line", async () => {
    const failure = await cli("create", "--role", "superuser", "--name", "x").catch(
      (e: { code: number; stderr: string }) => e,
    );
    expect(failure).toMatchObject({ code: 2, stderr: expect.stringContaining("--role must be one of") });
    const agent = await cli("create", "--role", "agent", "--name", "x").catch(
      (e: { code: number; stderr: string }) => e,
    );
    expect(agent).toMatchObject({ code: 1, stderr: expect.stringContaining("processPattern is required") });
  });
});
