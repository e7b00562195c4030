import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestApp, type TestApp, type TokenClient } from "./support/app.js";
import { createTestDatabase, onMysql, type TestDatabase } from "./support/database.js";
import { DroppingProxy } from "./support/dropping-proxy.js";
import { PrivateRedis } from "./support/redis.js";
import { freePort, Supervisord } from "./support/supervisord.js";
import { tempDir } from "./support/temp-dir.js";
import { until } from "./support/wait.js";

/**
 * Self-healing against a real supervisord: the programs register and heartbeat through
 * Fleetvisor; SIGSTOP freezes one, so supervisord
 * still says RUNNING while its heartbeats stop. On MySQL two app instances share the
 * database and Redis, both healing every 250 ms.
 */

/**
 * A managed server as small as it gets, so that it registers within milliseconds of its
 * start even on a busy machine: registers its own pid through Fleetvisor, then heartbeats
 * every second (curl, as any language's client would).
 */
const BEATING_SERVER = `#!/bin/sh
name="$SUPERVISOR_PROCESS_NAME"
call() {
  curl -s -m 2 -H 'content-type: application/json' -H "authorization: Bearer $FLEETVISOR_TOKEN" \\
    --data-binary "{\\"query\\":\\"mutation { $1(name: \\\\\\"$name\\\\\\", pid: $$) { __typename } }\\"}" \\
    "$FLEETVISOR_URL/graphql" | grep -q __typename
}
until call registerProcess; do sleep 0.2; done
while :; do sleep 1; call heartbeat; done
`;
const AUTH = { username: "fleet", password: "healing-pass-9e2b" };
const HANG = "heal-hang";
const RACE = "heal-race";
const OTHER = "other-hang";
/** Registered behind a proxy that can lose a stop request on its way to supervisord. */
const FAILING = "heal-failing";
const HEALER = "fleetvisor:healer";

let db: TestDatabase;
let redis: PrivateRedis | undefined;
let app: TestApp;
let second: TestApp | undefined;
let operator: TokenClient;
let viewer: TokenClient;
let supervisord: Supervisord;
let proxy: DroppingProxy;
/** What the first replica logs (at warn). */
const logLines: string[] = [];

const POLICY = {
  namePattern: "heal-*",
  // Heartbeats come every second and are stored in whole seconds: 4 s leaves a loaded machine some slack.
  restartWhenUnresponsiveAfterSeconds: 4,
  graceAfterStartSeconds: 2,
  maxRestarts: 1,
  perSeconds: 600,
};

/** How often supervisord started the program: its log says each time. */
function spawns(name: string): number {
  const log = readFileSync(join(supervisord.dir, "supervisord.log"), "utf8");
  return log.split("\n").filter((line) => line.includes(`spawned: '${name}' with pid`)).length;
}

/** The automatic restarts recorded for `name`: each begins with the healer's stop request. */
async function automaticRestarts(name: string): Promise<{ actor: string; message: string }[]> {
  return db.query(
    `SELECT actor, message FROM fleetvisor_process_events
     WHERE process_name = ? AND kind = 'STATUS_CHANGED' AND message LIKE 'stop requested (automatic restart%'
     ORDER BY id`,
    [name],
  );
}

async function eventsOf(name: string, kind: string): Promise<{ actor: string; message: string }[]> {
  return db.query(
    "SELECT actor, message FROM fleetvisor_process_events WHERE process_name = ? AND kind = ? ORDER BY id",
    [name, kind],
  );
}

/** Waits until supervisord runs `name` with a pid other than `not`, and that pid heartbeats; returns it. */
async function beatingWithNewPid(name: string, not: number | null, withinMs = 15_000): Promise<number> {
  return until(
    `${name} running and heartbeating with a pid other than ${not}`,
    async () => {
      const pid = await supervisord.programPid(name);
      if (!pid || pid === not) return false;
      const [row] = await db.query<{ status: string; pid: number | null }>(
        "SELECT status, pid FROM kb_server_processes WHERE process_name = ?",
        [name],
      );
      return row?.status === "running" && row.pid === pid && pid;
    },
    withinMs,
  );
}

/** The QUARANTINED incidents of `name`, as a viewer reads them. */
async function quarantineIncidents(name: string): Promise<{ id: string; state: string; occurrences: number }[]> {
  const data = await viewer.http.data<{
    incidents: { id: string; kind: string; processName: string | null; state: string; occurrences: number }[];
  }>("{ incidents(state: ALL) { id kind processName state occurrences } }");
  return data.incidents
    .filter((incident) => incident.kind === "QUARANTINED" && incident.processName === name)
    .map(({ id, state, occurrences }) => ({ id, state, occurrences }));
}

async function quarantined(name: string): Promise<boolean> {
  const data = await viewer.http.data<{ process: { quarantined: boolean } }>(
    "query($name: String!) { process(name: $name) { quarantined } }",
    { name },
  );
  return data.process.quarantined;
}

beforeAll(async () => {
  db = await createTestDatabase("healing");
  if (onMysql) redis = await PrivateRedis.start();
  const appPort = await freePort();
  const env = {
    SUPERVISOR_USERNAME: AUTH.username,
    SUPERVISOR_PASSWORD: AUTH.password,
    HEARTBEAT_INTERVAL_SECONDS: "1",
    HEARTBEAT_STALE_SECONDS: "30",
    HEALING_CHECK_INTERVAL_MS: "250",
    ...(redis ? { REDIS_URL: redis.url } : {}),
  };
  app = await startTestApp(db.url, { ...env, PORT: String(appPort), LOG_LEVEL: "warn" }, logLines);
  // A second replica on the same database and Redis (SQLite serves one replica only).
  if (onMysql) second = await startTestApp(db.url, env);
  operator = await app.client("OPERATOR", "ops");
  viewer = await app.client("VIEWER", "watcher");
  const agent = await app.client("AGENT", "heal-agent", "*");
  const supervisorPort = await freePort();
  proxy = await DroppingProxy.start(supervisorPort);
  for (const name of [HANG, RACE, OTHER, FAILING]) {
    await app.admin.data(`mutation($input: CreateProcessInput!) { createProcess(input: $input) { id } }`, {
      input: {
        name,
        port: await freePort(),
        supervisorHost: "127.0.0.1",
        supervisorPort: name === FAILING ? proxy.port : supervisorPort,
        program: name,
      },
    });
  }
  const script = join(tempDir("healing"), "beating-server.sh");
  writeFileSync(script, BEATING_SERVER, { mode: 0o755 });
  const server = {
    command: script,
    // A frozen program ignores SIGTERM: supervisord SIGKILLs it after this.
    stopwaitsecs: 1,
    environment: { FLEETVISOR_URL: `http://127.0.0.1:${appPort}`, FLEETVISOR_TOKEN: agent.token },
  };
  supervisord = await Supervisord.start({
    port: supervisorPort,
    auth: AUTH,
    programs: { [HANG]: server, [RACE]: server, [OTHER]: server, [FAILING]: server },
  });
  await Promise.all([HANG, RACE, OTHER, FAILING].map((name) => beatingWithNewPid(name, null, 30_000)));
  await operator.http.data(
    `mutation($input: HealingPolicyInput!) { setHealingPolicy(input: $input) { namePattern } }`,
    { input: POLICY },
  );
}, 60_000);

afterAll(async () => {
  await supervisord?.stop();
  await proxy?.stop();
  await second?.stop();
  await app?.stop();
  await redis?.stop();
  await db?.drop();
});

describe("healing policies", () => {
  it("viewers read them; a bad input names every bad field and changes nothing", async () => {
    const before = await viewer.http.data<{ healingPolicies: unknown[] }>(
      "{ healingPolicies { namePattern restartWhenUnresponsiveAfterSeconds graceAfterStartSeconds maxRestarts perSeconds updatedBy } }",
    );
    expect(before.healingPolicies).toEqual([{ ...POLICY, updatedBy: "ops" }]);

    const error = await operator.http.error(
      `mutation($input: HealingPolicyInput!) { setHealingPolicy(input: $input) { namePattern } }`,
      {
        input: {
          namePattern: "heal-*",
          restartWhenUnresponsiveAfterSeconds: 0,
          graceAfterStartSeconds: -5,
          maxRestarts: 0,
          perSeconds: 60,
        },
      },
    );
    expect(error.extensions?.code).toBe("BAD_USER_INPUT");
    expect(error.message).toContain("restartWhenUnresponsiveAfterSeconds must be a positive whole number");
    expect(error.message).toContain("graceAfterStartSeconds must be a whole number between 0 and 86400 (got -5)");
    expect(error.message).toContain("maxRestarts must be a positive whole number");
    expect(error.message).not.toContain("perSeconds");
    const after = await viewer.http.data<{ healingPolicies: unknown[] }>(
      "{ healingPolicies { namePattern restartWhenUnresponsiveAfterSeconds graceAfterStartSeconds maxRestarts perSeconds updatedBy } }",
    );
    expect(after).toEqual(before);
  });
});

describe("the healer's load", () => {
  it("a supervisord that does not answer is logged once when it begins and once when it ends, not per process and pass", async () => {
    const deadPort = await freePort();
    const lost = ["heal-lost-1", "heal-lost-2", "heal-lost-3"];
    for (const name of lost) {
      await app.admin.data(`mutation($input: CreateProcessInput!) { createProcess(input: $input) { id } }`, {
        input: { name, port: await freePort(), supervisorHost: "127.0.0.1", supervisorPort: deadPort, program: name },
      });
    }
    const about = () =>
      logLines.filter((line) => line.includes(`127.0.0.1:${deadPort}`)).map((line) => JSON.parse(line).msg);
    // Never registered, so all three are due for a check on every pass; none can be checked.
    for (let pass = 0; pass < 3; pass++) expect(await app.healer.runOnce()).toEqual([]);
    expect(about()).toEqual([expect.stringMatching(new RegExp(`^healer cannot check 127\\.0\\.0\\.1:${deadPort}: `))]);

    for (const name of lost)
      await app.admin.data("mutation($name: String!) { deleteProcess(name: $name) { name } }", { name });
    await app.healer.runOnce();
    expect(about()).toEqual([
      expect.stringMatching(/^healer cannot check /),
      expect.stringMatching(
        new RegExp(`^healer can check 127\\.0\\.0\\.1:${deadPort} again .*no process there needs a check`),
      ),
    ]);
  });
});

// The two run side by side, on different processes, to keep the file short.
describe.concurrent("self-healing", () => {
  it("a frozen process is restarted once, quarantined when it hangs again, left alone, and healed again once cleared", async () => {
    const first = await supervisord.programPid(HANG);
    const otherPid = await supervisord.programPid(OTHER);
    const spawnsBefore = spawns(HANG);
    process.kill(first, "SIGSTOP");
    process.kill(otherPid, "SIGSTOP");

    // Restarted: a new run that heartbeats, after exactly one automatic restart.
    const second_ = await beatingWithNewPid(HANG, first);
    expect(spawns(HANG)).toBe(spawnsBefore + 1);
    const restarts = await automaticRestarts(HANG);
    expect(restarts).toHaveLength(1);
    expect(restarts[0]!.actor).toBe(HEALER);
    expect(restarts[0]!.message).toMatch(/automatic restart 1 of at most 1 per 600s: supervisord says RUNNING/);
    expect(await quarantined(HANG)).toBe(false);

    // It hangs again: the budget (1 per 600 s) is spent, so it is quarantined instead.
    process.kill(second_, "SIGSTOP");
    const [event] = await until("a QUARANTINED event", async () => {
      const found = await eventsOf(HANG, "QUARANTINED");
      return found.length > 0 && found;
    });
    expect(event!.actor).toBe(HEALER);
    expect(event!.message).toContain("no more until clearQuarantine");
    expect(await quarantined(HANG)).toBe(true);
    // The quarantine is an incident that someone has to act on.
    const [incident] = await quarantineIncidents(HANG);
    expect(incident).toEqual({ id: expect.any(String), state: "OPEN", occurrences: 1 });

    // Left alone: more passes on every replica restart nothing.
    for (const replica of [app, second]) {
      const outcomes = (await replica?.healer.runOnce()) ?? [];
      expect(outcomes.filter((outcome) => outcome.name === HANG)).toEqual([]);
    }
    expect(await supervisord.programPid(HANG)).toBe(second_);
    expect(await supervisord.programState(HANG)).toBe("RUNNING");
    expect(spawns(HANG)).toBe(spawnsBefore + 1);
    expect(await automaticRestarts(HANG)).toHaveLength(1);
    expect(await eventsOf(HANG, "QUARANTINED")).toHaveLength(1);

    // A process no policy covers is never touched, however long it hangs.
    expect(await supervisord.programPid(OTHER)).toBe(otherPid);
    process.kill(otherPid, "SIGCONT");

    // Cleared: recorded with the operator as actor, and the still-frozen run is restarted at once.
    const cleared = await operator.http.data<{ clearQuarantine: { name: string; quarantined: boolean } }>(
      "mutation($name: String!) { clearQuarantine(name: $name) { name quarantined } }",
      { name: HANG },
    );
    expect(cleared.clearQuarantine).toEqual({ name: HANG, quarantined: false });
    expect(await eventsOf(HANG, "QUARANTINE_CLEARED")).toEqual([
      { actor: "ops", message: "quarantine cleared: automatic restarts may resume" },
    ]);
    expect(await quarantineIncidents(HANG)).toEqual([{ id: incident!.id, state: "RESOLVED", occurrences: 1 }]);
    const third = await beatingWithNewPid(HANG, second_);
    expect(third).not.toBe(first);
    expect(spawns(HANG)).toBe(spawnsBefore + 2);
    expect(await automaticRestarts(HANG)).toHaveLength(2);
    expect(await quarantined(HANG)).toBe(false);
  }, 60_000);

  it("a restart that fails is claimed again on a later pass, and the failed attempt counts toward the quarantine", async () => {
    // Its own policy, all else alike: two restarts per 600 s.
    await operator.http.data(
      `mutation($input: HealingPolicyInput!) { setHealingPolicy(input: $input) { namePattern } }`,
      { input: { ...POLICY, namePattern: FAILING, maxRestarts: 2 } },
    );
    const first = await supervisord.programPid(FAILING);
    const spawnsBefore = spawns(FAILING);
    // The first stop request on its way to supervisord is lost: that automatic restart fails.
    proxy.drop.set("supervisor.stopProcess", 1);
    process.kill(first, "SIGSTOP");

    // The run, still hung, is claimed again and restarted by the second attempt.
    const second_ = await beatingWithNewPid(FAILING, first);
    expect(proxy.dropped).toEqual(["supervisor.stopProcess"]);
    expect(spawns(FAILING)).toBe(spawnsBefore + 1);
    const actions = await db.query<{ run: string; attempt: number; action: string }>(
      "SELECT run, attempt, action FROM fleetvisor_healing_actions WHERE process_name = ? ORDER BY id",
      [FAILING],
    );
    expect(actions.map(({ attempt, action }) => [Number(attempt), action])).toEqual([
      [1, "RESTART_FAILED"],
      [2, "RESTART"],
    ]);
    expect(actions[1]!.run).toBe(actions[0]!.run);
    expect((await automaticRestarts(FAILING)).map((restart) => restart.message)).toEqual([
      expect.stringMatching(/^stop requested \(automatic restart 1 of at most 2 per 600s: /),
      expect.stringMatching(/^stop requested \(automatic restart 2 of at most 2 per 600s: /),
    ]);

    // It hangs again: the failed attempt and the restart spent the budget of two.
    process.kill(second_, "SIGSTOP");
    const [event] = await until("a QUARANTINED event", async () => {
      const found = await eventsOf(FAILING, "QUARANTINED");
      return found.length > 0 && found;
    });
    expect(event!.message).toContain("(2 in the last 600s");
    expect(await quarantined(FAILING)).toBe(true);
    expect(await supervisord.programPid(FAILING)).toBe(second_);
    expect(spawns(FAILING)).toBe(spawnsBefore + 1);
    process.kill(second_, "SIGCONT");
  }, 60_000);

  it.skipIf(!onMysql)(
    "two replicas on one database heal a frozen run once, not twice",
    async () => {
      const before = await supervisord.programPid(RACE);
      const spawnsBefore = spawns(RACE);
      process.kill(before, "SIGSTOP");
      const after = await beatingWithNewPid(RACE, before);
      // Both replicas kept looking meanwhile; one more pass each finds nothing to do.
      const passes = await Promise.all([app.healer.runOnce(), second!.healer.runOnce()]);
      expect(passes.flat().filter((outcome) => outcome.name === RACE)).toEqual([]);
      expect(await supervisord.programPid(RACE)).toBe(after);
      expect(spawns(RACE)).toBe(spawnsBefore + 1);
      const restarts = await automaticRestarts(RACE);
      expect(restarts.map((r) => r.actor)).toEqual([HEALER]);
      const actions = await db.query<{ action: string }>(
        "SELECT action FROM fleetvisor_healing_actions WHERE process_name = ?",
        [RACE],
      );
      expect(actions).toEqual([{ action: "RESTART" }]);
    },
    40_000,
  );
});
