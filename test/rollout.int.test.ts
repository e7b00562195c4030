import { readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestApp, type TestApp, type TokenClient } from "./support/app.js";
import { createTestDatabase, type TestDatabase } from "./support/database.js";
import { connectWs, refusedFields, type WsConnection } from "./support/graphql-client.js";
import { freePort, Supervisord } from "./support/supervisord.js";
import { until } from "./support/wait.js";

const EXAMPLE = fileURLToPath(new URL("../client-examples/python/example_server.py", import.meta.url));
const AUTH = { username: "fleet", password: "rollout-pass-4d1c" };
const A = ["roll-a1", "roll-a2", "roll-a3"];
const B = ["roll-b1", "roll-b2", "roll-b3"];
/** Starts, and never heartbeats: nothing in it speaks to Fleetvisor. */
const MUTE = "roll-0-mute";

let db: TestDatabase;
let app: TestApp;
let appPort: number;
let operator: TokenClient;
let viewer: TokenClient;
let supervisorA: Supervisord;
let supervisorB: Supervisord;
const sockets: WsConnection[] = [];

const ROLLOUT_FIELDS = `id action state maxUnavailable waitForHealthy healthTimeoutSeconds pauseSeconds createdBy
  createdAt finishedAt cancelRequestedAt cancelledBy
  steps { position batch processName supervisorHost supervisorPort program action outcome startedAt finishedAt
    error { code message } }`;

interface Step {
  position: number;
  batch: number;
  processName: string;
  supervisorPort: number;
  action: string;
  outcome: string;
  startedAt: string | null;
  finishedAt: string | null;
  error: { code: string; message: string } | null;
}

interface Rollout {
  id: string | null;
  action: string;
  state: string;
  maxUnavailable: number;
  createdBy: string;
  cancelledBy: string | null;
  steps: Step[];
}

const supervisorOf = (name: string) => (name.startsWith("roll-b") ? supervisorB : supervisorA);

async function startRollout(client: TokenClient, input: Record<string, unknown>): Promise<Rollout> {
  const data = await client.http.data<{ startRollout: Rollout }>(
    `mutation($input: RolloutInput!) { startRollout(input: $input) { ${ROLLOUT_FIELDS} } }`,
    { input },
  );
  return data.startRollout;
}

async function rollout(id: string): Promise<Rollout> {
  return (
    await viewer.http.data<{ rollout: Rollout }>(`query($id: ID!) { rollout(id: $id) { ${ROLLOUT_FIELDS} } }`, { id })
  ).rollout;
}

async function finished(id: string, withinMs = 60_000): Promise<Rollout> {
  return until(
    `rollout ${id} to finish`,
    async () => {
      const now = await rollout(id);
      return now.state !== "RUNNING" && now;
    },
    withinMs,
  );
}

async function pids(names: readonly string[]): Promise<Map<string, number>> {
  return new Map(await Promise.all(names.map(async (n) => [n, await supervisorOf(n).programPid(n)] as const)));
}

/** How often supervisord started the program since it began: its log says each time. */
function spawns(name: string): number {
  const log = readFileSync(join(supervisorOf(name).dir, "supervisord.log"), "utf8");
  return log.split("\n").filter((line) => line.includes(`spawned: '${name}' with pid`)).length;
}

async function registeredAndBeating(names: readonly string[]): Promise<void> {
  await until(
    `${names.join(", ")} registered with supervisord's pid`,
    async () => {
      const rows = await db.query<{ process_name: string; status: string; pid: number | null }>(
        `SELECT process_name, status, pid FROM kb_server_processes WHERE process_name IN (${names.map(() => "?").join(", ")})`,
        [...names],
      );
      const now = await pids(names);
      return (
        rows.length === names.length && rows.every((r) => r.status === "running" && r.pid === now.get(r.process_name))
      );
    },
    30_000,
  );
}

async function events(
  kinds: readonly string[],
): Promise<{ kind: string; process_name: string; actor: string; message: string }[]> {
  return db.query(
    `SELECT kind, process_name, actor, message FROM fleetvisor_process_events
     WHERE kind IN (${kinds.map(() => "?").join(", ")}) ORDER BY id`,
    [...kinds],
  );
}

const overlap = (a: Step, b: Step) =>
  Date.parse(a.startedAt!) < Date.parse(b.finishedAt!) && Date.parse(b.startedAt!) < Date.parse(a.finishedAt!);

beforeAll(async () => {
  db = await createTestDatabase("rollout");
  appPort = await freePort();
  app = await startTestApp(db.url, {
    PORT: String(appPort),
    SUPERVISOR_USERNAME: AUTH.username,
    SUPERVISOR_PASSWORD: AUTH.password,
    HEARTBEAT_INTERVAL_SECONDS: "1",
    HEARTBEAT_STALE_SECONDS: "5",
  });
  operator = await app.client("OPERATOR", "ops");
  viewer = await app.client("VIEWER", "watcher");
  const agent = await app.client("AGENT", "roll-agent", "roll-*");
  const server = (name: string) => ({
    command: `python3 -u ${EXAMPLE} --host 127.0.0.1`,
    startsecs: 1,
    stopwaitsecs: 5,
    environment: { FLEETVISOR_URL: `http://127.0.0.1:${appPort}`, FLEETVISOR_TOKEN: agent.token },
    name,
  });
  const portA = await freePort();
  const portB = await freePort();
  for (const name of [...A, ...B, MUTE]) {
    await app.admin.data(`mutation($input: CreateProcessInput!) { createProcess(input: $input) { id } }`, {
      input: {
        name,
        port: await freePort(),
        supervisorHost: "127.0.0.1",
        supervisorPort: name.startsWith("roll-b") ? portB : portA,
        program: name,
      },
    });
  }
  [supervisorA, supervisorB] = await Promise.all([
    Supervisord.start({
      port: portA,
      auth: AUTH,
      programs: {
        ...Object.fromEntries(A.map((name) => [name, server(name)])),
        [MUTE]: { command: "sleep 1000", startsecs: 1 },
      },
    }),
    Supervisord.start({ port: portB, auth: AUTH, programs: Object.fromEntries(B.map((name) => [name, server(name)])) }),
  ]);
  await registeredAndBeating([...A, ...B]);
}, 90_000);

afterAll(async () => {
  await Promise.all(sockets.map((socket) => socket.dispose()));
  await Promise.all([supervisorA?.stop(), supervisorB?.stop()]);
  await app?.stop();
  await db?.drop();
});

describe("rollouts", () => {
  it("a dry run returns the plan, in batches, and changes nothing", async () => {
    const before = await pids([...A, ...B]);
    const plan = await startRollout(operator, {
      action: "RESTART",
      filter: { namePrefix: "roll-", supervisorHost: "127.0.0.1", names: [...A, ...B] },
      maxUnavailable: 2,
      dryRun: true,
    });
    expect(plan).toMatchObject({ id: null, state: "PLANNED", action: "RESTART", maxUnavailable: 2, createdBy: "ops" });
    expect(plan.steps.map((s) => [s.batch, s.processName, s.outcome])).toEqual([
      [0, "roll-a1", "PENDING"],
      [0, "roll-b1", "PENDING"],
      [1, "roll-a2", "PENDING"],
      [1, "roll-b2", "PENDING"],
      [2, "roll-a3", "PENDING"],
      [2, "roll-b3", "PENDING"],
    ]);
    expect(await db.query("SELECT id FROM fleetvisor_rollouts")).toEqual([]);
    expect(await events(["ROLLOUT_STARTED", "ROLLOUT_STEP"])).toEqual([]);
    expect(await pids([...A, ...B])).toEqual(before);
  });

  it("a rolling restart of 6 programs on 2 supervisords, 2 at a time: never two on one supervisord, 6 new pids, each heartbeating", async () => {
    const before = await pids([...A, ...B]);
    const spawnsBefore = new Map([...A, ...B].map((n) => [n, spawns(n)]));
    const socket = connectWs(app.url, viewer.token);
    sockets.push(socket);

    const started = await startRollout(operator, {
      action: "RESTART",
      filter: { namePrefix: "roll-", names: [...A, ...B] },
      maxUnavailable: 2,
      healthTimeoutSeconds: 30,
    });
    expect(started).toMatchObject({ state: "RUNNING", createdBy: "ops" });
    const changes = socket.subscribe<{ rolloutChanged: Rollout }>(
      `subscription($id: ID!) { rolloutChanged(id: $id) { ${ROLLOUT_FIELDS} } }`,
      { id: started.id },
    );
    const done = await finished(started.id!);
    // On failure the diff shows every step, with the error of the one that failed.
    expect(done, "the rollout").toMatchObject({ state: "SUCCEEDED" });
    expect(done.steps.map((s) => s.outcome)).toEqual(Array(6).fill("DONE"));

    // Never two steps on one supervisord at once, and never more than two at all.
    for (const a of done.steps) {
      const beside = done.steps.filter((b) => b !== a && overlap(a, b));
      expect(beside.filter((b) => b.supervisorPort === a.supervisorPort)).toEqual([]);
      expect(beside.length).toBeLessThanOrEqual(1);
    }
    // And they did overlap: two at a time.
    expect(done.steps.some((a) => done.steps.some((b) => b !== a && overlap(a, b)))).toBe(true);
    // What the subscriber saw says the same, snapshot by snapshot.
    const seen = await changes.until((values) => values.at(-1)?.rolloutChanged.state === "SUCCEEDED", 20_000);
    for (const { rolloutChanged } of seen) {
      const underWay = rolloutChanged.steps.filter((s) => s.outcome === "IN_PROGRESS");
      expect(underWay.length).toBeLessThanOrEqual(2);
      expect(new Set(underWay.map((s) => s.supervisorPort)).size).toBe(underWay.length);
    }
    expect(seen.some(({ rolloutChanged }) => rolloutChanged.steps.some((s) => s.outcome === "IN_PROGRESS"))).toBe(true);
    // The rollout over, the server ends the subscription (its complete follows the last snapshot).
    await changes.completion();

    // Six new pids, each restarted once, each registered and heartbeating from its new run.
    const after = await pids([...A, ...B]);
    for (const name of [...A, ...B]) {
      expect(after.get(name)).toBeGreaterThan(0);
      expect(after.get(name)).not.toBe(before.get(name));
      expect(spawns(name)).toBe(spawnsBefore.get(name)! + 1);
    }
    await registeredAndBeating([...A, ...B]);
    await until("each new run HEALTHY: supervisord runs it, and it heartbeats", async () => {
      const rows = await app.admin.data<{ processes: { name: string; health: string }[] }>(
        `query($names: [String!]) { processes(filter: { names: $names }) { name health } }`,
        { names: [...A, ...B] },
      );
      return rows.processes.every((p) => p.health === "HEALTHY");
    });

    // Recorded: started, each step begun and done, finished; by the operator who started it.
    const recorded = (await events(["ROLLOUT_STARTED", "ROLLOUT_STEP", "ROLLOUT_FINISHED"])).filter((e) =>
      e.message.startsWith(`rollout ${started.id}:`),
    );
    expect(recorded.map((e) => e.kind)).toEqual([
      "ROLLOUT_STARTED",
      ...Array(12).fill("ROLLOUT_STEP"),
      "ROLLOUT_FINISHED",
    ]);
    expect(new Set(recorded.map((e) => e.actor))).toEqual(new Set(["ops"]));
    expect(recorded[0]!.process_name).toBe("");
    expect(recorded.at(-1)!.message).toBe(`rollout ${started.id}: SUCCEEDED (6 DONE)`);
    // Each process's intent is to run.
    const desired = await db.query<{ desired_state: string }>(
      "SELECT DISTINCT desired_state FROM kb_server_processes WHERE process_name LIKE 'roll-a%' OR process_name LIKE 'roll-b%'",
    );
    expect(desired).toEqual([{ desired_state: "RUNNING" }]);
  });

  it("a program that starts but never heartbeats gives HEALTH_TIMEOUT; the rest are SKIPPED, and an event says why", async () => {
    const before = await pids(["roll-a1", "roll-b1"]);
    const started = await startRollout(operator, {
      action: "RESTART",
      names: ["roll-b1", MUTE, "roll-a1"],
      healthTimeoutSeconds: 2,
    });
    expect(started.steps.map((s) => s.processName)).toEqual([MUTE, "roll-a1", "roll-b1"]);
    const done = await finished(started.id!);
    expect(done.state).toBe("FAILED");
    expect(done.steps.map((s) => [s.processName, s.outcome])).toEqual([
      [MUTE, "HEALTH_TIMEOUT"],
      ["roll-a1", "SKIPPED"],
      ["roll-b1", "SKIPPED"],
    ]);
    expect(done.steps[0]!.error).toMatchObject({ code: "HEALTH_TIMEOUT" });
    expect(done.steps[0]!.error!.message).toMatch(
      /^not healthy within 2s: supervisord runs pid \d+, which has not registered/,
    );
    expect(await pids(["roll-a1", "roll-b1"])).toEqual(before);
    const [finish] = (await events(["ROLLOUT_FINISHED"])).filter((e) => e.message.startsWith(`rollout ${started.id}:`));
    expect(finish!.message).toContain(`FAILED, ${MUTE} HEALTH_TIMEOUT: not healthy within 2s`);
    expect(finish!.message).toContain("2 SKIPPED");
  });

  it("cancelled mid-way: the step under way finishes, the rest are CANCELLED and keep their pids", async () => {
    const names = [...A, ...B];
    const before = await pids(names);
    const started = await startRollout(operator, { action: "RESTART", names, maxUnavailable: 1 });
    await until(
      "the second step under way",
      async () => (await rollout(started.id!)).steps[1]!.outcome === "IN_PROGRESS",
    );
    const cancelling = await viewer.http.error(`mutation($id: ID!) { cancelRollout(id: $id) { id } }`, {
      id: started.id,
    });
    expect(cancelling.extensions?.code).toBe("FORBIDDEN");
    const canceller = await app.client("OPERATOR", "night-shift");
    const asked = await canceller.http.data<{ cancelRollout: Rollout & { cancelRequestedAt: string } }>(
      `mutation($id: ID!) { cancelRollout(id: $id) { state cancelRequestedAt cancelledBy } }`,
      { id: started.id },
    );
    expect(asked.cancelRollout).toMatchObject({ state: "RUNNING", cancelledBy: "night-shift" });

    const done = await finished(started.id!);
    expect(done.state).toBe("CANCELLED");
    const outcomes = done.steps.map((s) => s.outcome);
    expect(outcomes.slice(0, 2)).toEqual(["DONE", "DONE"]);
    expect(outcomes.slice(2)).toEqual(Array(4).fill("CANCELLED"));
    const after = await pids(names);
    for (const step of done.steps) {
      if (step.outcome === "CANCELLED") expect(after.get(step.processName)).toBe(before.get(step.processName));
      else expect(after.get(step.processName)).not.toBe(before.get(step.processName));
    }
    const [finish] = (await events(["ROLLOUT_FINISHED"])).filter((e) => e.message.startsWith(`rollout ${started.id}:`));
    expect(finish).toMatchObject({ actor: "night-shift" });
    expect(finish!.message).toContain("CANCELLED, cancelled by night-shift");
    expect(
      (await canceller.http.error(`mutation($id: ID!) { cancelRollout(id: $id) { id } }`, { id: started.id }))
        .extensions?.code,
    ).toBe("CONFLICT");
    await registeredAndBeating(names);
  });

  it("operators and admins start and cancel them; a token bound to a pattern only over its processes", async () => {
    const input = { action: "RESTART", names: ["roll-a1"], dryRun: true };
    const query = `mutation($input: RolloutInput!) { startRollout(input: $input) { state } }`;
    expect((await viewer.http.error(query, { input })).extensions?.code).toBe("FORBIDDEN");
    const agent = await app.client("AGENT", "roll-agent-2", "roll-*");
    expect((await agent.http.error(query, { input })).extensions?.code).toBe("FORBIDDEN");
    expect((await agent.http.error(`query { rollouts { nodes { id } } }`)).extensions?.code).toBe("FORBIDDEN");
    expect((await app.admin.data<{ startRollout: Rollout }>(query, { input })).startRollout.state).toBe("PLANNED");

    // An operator token bound to roll-a*.
    const bound = await app.client("OPERATOR", "a-team", "roll-a*");
    const refused = await bound.http.error(query, { input: { ...input, names: ["roll-a1", "roll-b1"] } });
    expect(refused.extensions?.code).toBe("FORBIDDEN");
    expect(refused.message).toContain('"roll-b1"');
    const plan = await startRollout(bound, { action: "RESTART", filter: { namePrefix: "roll-" }, dryRun: true });
    expect(plan.steps.map((s) => s.processName)).toEqual(A);
    // Rollouts with a process outside its pattern are not its to see or cancel.
    const [other] = (
      await viewer.http.data<{ rollouts: { nodes: Rollout[] } }>(`query { rollouts(first: 1) { nodes { id } } }`)
    ).rollouts.nodes;
    expect(
      (await bound.http.error(`query($id: ID!) { rollout(id: $id) { id } }`, { id: other!.id })).extensions?.code,
    ).toBe("FORBIDDEN");
    const visible = await bound.http.data<{ rollouts: { nodes: Rollout[] } }>(
      `query { rollouts(first: 50) { nodes { id } } }`,
    );
    expect(visible.rollouts.nodes).toEqual([]);
  });

  it("refuses what it cannot do, naming each field", async () => {
    const refused = await operator.http.error(
      `mutation($input: RolloutInput!) { startRollout(input: $input) { id } }`,
      {
        input: {
          action: "RECONCILE",
          names: ["roll-a1"],
          filter: { namePrefix: "roll-" },
          maxUnavailable: 0,
          pauseSeconds: -1,
        },
      },
    );
    expect(refused.extensions?.code).toBe("BAD_USER_INPUT");
    expect((refused.extensions?.invalidFields as { field: string }[]).map((f) => f.field).sort()).toEqual([
      "input",
      "input.action",
      "input.maxUnavailable",
      "input.pauseSeconds",
    ]);
    const empty = await operator.http.error(`mutation { startRollout(input: { action: STOP, filter: {} }) { id } }`);
    expect(empty.message).toContain("input.filter must select processes");
    const unknown = await operator.http.error(
      `mutation { startRollout(input: { action: STOP, names: ["roll-nope"] }) { id } }`,
    );
    expect(unknown.message).toContain('no process named "roll-nope"');
    expect((await viewer.http.error(`query { rollout(id: "999999") { id } }`)).extensions?.code).toBe("NOT_FOUND");
    expect((await viewer.http.error(`query { rollout(id: "x") { id } }`)).extensions?.code).toBe("BAD_USER_INPUT");
  });

  it("processChanged carries each step of a rollout on its process, and never a rollout's start or end", async () => {
    const socket = connectWs(app.url, viewer.token);
    sockets.push(socket);
    const changes = socket.subscribe<{ processChanged: { kind: string; processName: string; message: string } }>(
      `subscription { processChanged(kinds: [ROLLOUT_STEP]) { kind processName message } }`,
    );
    const everything = socket.subscribe<{ processChanged: { kind: string; processName: string } }>(
      `subscription { processChanged { kind processName } }`,
    );
    await socket.connected;
    const started = await startRollout(operator, { action: "START", names: ["roll-a2"] });
    await finished(started.id!);
    const steps = await changes.until((values) => values.length >= 2);
    expect(steps.map((v) => [v.processChanged.processName, v.processChanged.message])).toEqual([
      [
        "roll-a2",
        `rollout ${started.id}: step 1/1 START roll-a2 IN_PROGRESS (pid ${await supervisorA.programPid("roll-a2")})`,
      ],
      ["roll-a2", `rollout ${started.id}: step 1/1 START roll-a2 DONE`],
    ]);
    await everything.until((values) => values.filter((v) => v.processChanged.kind === "ROLLOUT_STEP").length >= 2);
    expect(everything.values.every((v) => v.processChanged.processName !== "")).toBe(true);
    const refused = socket.subscribe(`subscription { processChanged(kinds: [ROLLOUT_FINISHED]) { id } }`);
    expect(JSON.stringify(await refused.failure())).toContain("subscribe to rolloutChanged");
  });

  it("rollouts page newest first: first/after walk each once, endCursor and hasNextPage end it; a bad first or after is refused, naming it", async () => {
    // Earlier tests' rollouts over these processes (a cancelled one finishes its step) end first.
    await until(
      "no rollout running",
      async () =>
        Number(
          (await db.query<{ n: number }>("SELECT COUNT(*) AS n FROM fleetvisor_rollouts WHERE state = 'RUNNING'"))[0]!
            .n,
        ) === 0,
      30_000,
    );
    // Three more, each quick: START of a program that runs already.
    const mine: string[] = [];
    for (const name of ["roll-a2", "roll-b2", "roll-a3"]) {
      const started = await startRollout(operator, { action: "START", names: [name] });
      expect((await finished(started.id!, 10_000)).state).toBe("SUCCEEDED");
      mine.push(started.id!);
    }
    const stored = (await db.query<{ id: number | string }>("SELECT id FROM fleetvisor_rollouts ORDER BY id DESC")).map(
      (row) => String(row.id),
    );
    const FIRST = 2;
    expect(stored.length).toBeGreaterThan(FIRST);

    interface Page {
      nodes: { id: string; state: string; steps: { processName: string }[] }[];
      endCursor: string | null;
      hasNextPage: boolean;
    }
    const page = async (first: number, after: string | null) =>
      (
        await viewer.http.data<{ rollouts: Page }>(
          `query($first: Int!, $after: ID) {
            rollouts(first: $first, after: $after) { nodes { id state steps { processName } } endCursor hasNextPage } }`,
          { first, after },
        )
      ).rollouts;
    const pages: Page[] = [];
    for (let after: string | null = null; ;) {
      const got = await page(FIRST, after);
      pages.push(got);
      if (!got.hasNextPage) break;
      // A cursor that did not move the page on would walk for ever.
      if (pages.length > 100) throw new Error("still a next page after 100 of them");
      after = got.endCursor;
    }
    const walked = pages.flatMap((p) => p.nodes.map((n) => n.id));
    // Each once, newest first, all of them.
    expect(walked).toEqual(stored);
    // Every page full but the last; each page's endCursor its last node; a next page until the last.
    const last = ((stored.length - 1) % FIRST) + 1;
    expect(pages.map((p) => p.nodes.length)).toEqual([...Array(pages.length - 1).fill(FIRST), last]);
    expect(pages.map((p) => p.endCursor)).toEqual(pages.map((p) => p.nodes.at(-1)!.id));
    expect(pages.map((p) => p.hasNextPage)).toEqual([...Array(pages.length - 1).fill(true), false]);
    // After the last one: an empty page, no cursor.
    expect(await page(FIRST, pages.at(-1)!.endCursor)).toEqual({ nodes: [], endCursor: null, hasNextPage: false });
    // The largest page holds them all.
    const whole = await page(50, null);
    expect(whole.nodes.map((n) => n.id)).toEqual(stored);
    expect(whole).toMatchObject({ endCursor: stored.at(-1), hasNextPage: false });
    // These three, newest first, finished, each over its process.
    expect(
      pages
        .flatMap((p) => p.nodes)
        .filter((n) => mine.includes(n.id))
        .map((n) => [n.id, n.state, n.steps.map((s) => s.processName)]),
    ).toEqual([
      [mine[2], "SUCCEEDED", ["roll-a3"]],
      [mine[1], "SUCCEEDED", ["roll-b2"]],
      [mine[0], "SUCCEEDED", ["roll-a2"]],
    ]);

    // A bad first or after: BAD_USER_INPUT, naming the field.
    const refused = async (first: number, after: string | null) =>
      refusedFields(
        await viewer.http.error(
          `query($first: Int!, $after: ID) { rollouts(first: $first, after: $after) { nodes { id } } }`,
          { first, after },
        ),
      );
    expect(await refused(0, null)).toEqual(["first"]);
    expect(await refused(51, null)).toEqual(["first"]);
    expect(await refused(-1, null)).toEqual(["first"]);
    expect(await refused(FIRST, "not-a-cursor")).toEqual(["after"]);
    expect(await refused(FIRST, "0")).toEqual(["after"]);
  }, 15_000);
});
