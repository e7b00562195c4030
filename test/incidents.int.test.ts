import { createServer, type IncomingMessage, type Server } from "node:http";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestApp, type TestApp } from "./support/app.js";
import { createTestDatabase, onMysql, type TestDatabase } from "./support/database.js";
import { connectWs, refusedFields, type SubscriptionRecorder, type WsConnection } from "./support/graphql-client.js";
import { Supervisord } from "./support/supervisord.js";
import { until } from "./support/wait.js";

const LISTENER = fileURLToPath(
  new URL("../client-examples/supervisor-listener/fleetvisor_listener.py", import.meta.url),
);

/** Small, so that a crash loop flaps within seconds. */
const FLAP_THRESHOLD = 4;

interface Incident {
  id: string;
  kind: string;
  processName: string | null;
  supervisorPort: number | null;
  state: string;
  occurrences: number;
  silenced: boolean;
  acknowledgedBy: string | null;
  acknowledgedAt: string | null;
  note: string | null;
  resolvedAt: string | null;
}

const INCIDENT_FIELDS =
  "id kind processName supervisorPort state occurrences silenced acknowledgedBy acknowledgedAt note resolvedAt";

interface Post {
  status: string;
  incident: { id: string; kind: string; process: string | null; occurrences: number };
  /** ALERT_WEBHOOK_FORMAT=slack: only this. */
  text?: string;
}

/** A webhook receiver that keeps every POST it gets. */
class CountingWebhook {
  readonly posts: Post[] = [];
  private constructor(private readonly server: Server) {}

  static async start(): Promise<CountingWebhook> {
    let hook!: CountingWebhook;
    const server = createServer((req: IncomingMessage, res) => {
      let body = "";
      req.on("data", (chunk: Buffer) => (body += chunk.toString()));
      req.on("end", () => {
        hook.posts.push(JSON.parse(body) as Post);
        res.end("ok");
      });
    });
    hook = new CountingWebhook(server);
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    return hook;
  }

  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as { port: number }).port}/hook`;
  }

  of(process: string): Post[] {
    return this.posts.filter((post) => post.incident?.process === process);
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

let db: TestDatabase;
let hook: CountingWebhook;
const stops: (() => Promise<unknown>)[] = [];

async function incidents(app: TestApp, state = "ALL"): Promise<Incident[]> {
  const data = await app.admin.data<{ incidents: Incident[] }>(
    `query($state: IncidentStateFilter!) { incidents(state: $state) { ${INCIDENT_FIELDS} } }`,
    { state },
  );
  return data.incidents;
}

async function incidentsOf(app: TestApp, process: string): Promise<Incident[]> {
  return (await incidents(app)).filter((i) => i.processName === process);
}

/** A registered process whose heartbeat is then an hour old, and the watchdog's pass on `apps`. */
async function loseHeartbeat(apps: readonly TestApp[], name: string): Promise<void> {
  const [first] = apps;
  await first!.admin.data(`mutation($n: String!) { createProcess(input: { name: $n, port: 8000 }) { id } }`, {
    n: name,
  });
  await first!.admin.data(`mutation($n: String!) { registerProcess(name: $n, pid: 41) { port } }`, { n: name });
  await db.query("UPDATE kb_server_processes SET last_heartbeat = ? WHERE process_name = ?", [
    new Date(Date.now() - 3_600_000),
    name,
  ]);
  await Promise.all(apps.map((app) => app.services.watch.checkHeartbeats()));
}

/**
 * Waits until `changes` is live: acknowledges the incident `probe` (through `app`) again and
 * again until the subscriber has seen it. Every change after that reaches it.
 */
async function untilLive(
  app: TestApp,
  changes: SubscriptionRecorder<{ incidentChanged: Incident }>,
  probe: string,
): Promise<void> {
  await until(
    "the subscription to deliver a probe acknowledgement",
    async () => {
      await app.admin.data(`mutation($id: ID!) { acknowledgeIncident(id: $id, note: "probe") { id } }`, { id: probe });
      return changes.values.some((v) => v.incidentChanged.id === probe);
    },
    10_000,
  );
}

/** What a listener reports of program `program` on the fake supervisord 127.0.0.1:1. */
async function report(app: TestApp, program: string, state: string, at: number, more: object = {}): Promise<void> {
  await app.admin.data(`mutation($input: SupervisorEventInput!) { reportSupervisorEvent(input: $input) { name } }`, {
    input: { supervisorHost: "127.0.0.1", supervisorPort: 1, program, state, at: new Date(at).toISOString(), ...more },
  });
}

beforeAll(async () => {
  db = await createTestDatabase("incidents");
  hook = await CountingWebhook.start();
});

afterAll(async () => {
  for (const stop of stops.reverse()) await stop().catch(() => undefined);
  await hook?.close();
  await db?.drop();
});

describe("incidents", () => {
  let app: TestApp;
  let ws: WsConnection;

  beforeAll(async () => {
    app = await startTestApp(db.url, {
      ALERT_WEBHOOK_URL: hook.url,
      FLAP_THRESHOLD: String(FLAP_THRESHOLD),
      FLAP_WINDOW_SECONDS: "60",
    });
    stops.push(() => app.stop());
    ws = connectWs(app.url, (await app.client("VIEWER", "incident-watcher")).token);
    stops.push(() => ws.dispose());
  });
  // Each describe's replicas go with it: they would share the polling and the settling of the next ones.
  afterAll(async () => {
    await ws.dispose();
    await app.stop();
  });

  it("a crash loop is one PROCESS_CRASHED and one FLAPPING incident: one firing POST each, one resolved on stop", async () => {
    const changes = ws.subscribe<{ incidentChanged: Incident }>(
      `subscription { incidentChanged { ${INCIDENT_FIELDS} } }`,
    );
    const agent = await app.client("AGENT", "crash-listener", "crashy*");
    const supervisord = await Supervisord.start({
      programs: {
        crashy: { command: "sh -c 'sleep 0.2; exit 1'", autostart: false, autorestart: true, startsecs: 0 },
      },
      eventListeners: {
        fleetvisor: {
          command: `python3 ${LISTENER}`,
          events: "PROCESS_STATE",
          environment: (port) => ({
            FLEETVISOR_URL: app.url,
            FLEETVISOR_TOKEN: agent.token,
            FLEETVISOR_SUPERVISOR: `127.0.0.1:${port}`,
          }),
        },
      },
    });
    stops.push(() => supervisord.stop());
    await app.admin.data(`mutation($input: CreateProcessInput!) { createProcess(input: $input) { id } }`, {
      input: {
        name: "crashy",
        port: 8000,
        supervisorHost: "127.0.0.1",
        supervisorPort: supervisord.port,
        program: "crashy",
      },
    });
    await supervisord.ctl("start", "crashy");

    const open = await until(
      "a crash loop's PROCESS_CRASHED (crashing again and again) and FLAPPING incidents",
      async () => {
        const found = await incidentsOf(app, "crashy");
        const crashed = found.find((i) => i.kind === "PROCESS_CRASHED");
        const flapping = found.find((i) => i.kind === "FLAPPING");
        return crashed && flapping && crashed.occurrences >= 4 && found;
      },
      20_000,
    );
    // Opened once each however many times it crashed; nothing else.
    expect(open.map((i) => [i.kind, i.state]).sort()).toEqual([
      ["FLAPPING", "OPEN"],
      ["PROCESS_CRASHED", "OPEN"],
    ]);

    await app.admin.data(`mutation { stopProcess(name: "crashy") { status } }`);
    // The listener may still be telling of the runs before the stop: the crash and flapping
    // it reports late open nothing, the process being meant to be stopped.
    let last: unknown;
    const resolved = await until(
      "both incidents resolved by the stop",
      async () => {
        const found = (await incidentsOf(app, "crashy")).filter((i) => i.kind !== "DRIFT");
        last = found;
        return found.every((i) => i.state === "RESOLVED") && found;
      },
      10_000,
    ).catch(async (error: Error) => {
      const [row] = await db.query(
        "SELECT status, desired_state FROM kb_server_processes WHERE process_name = 'crashy'",
      );
      throw new Error(`${error.message}: incidents ${JSON.stringify(last)}; the row ${JSON.stringify(row)}`);
    });
    expect(resolved.map((i) => i.kind).sort()).toEqual(["FLAPPING", "PROCESS_CRASHED"]);
    expect(resolved.map((i) => i.id).sort()).toEqual(open.map((i) => i.id).sort());
    expect(resolved.every((i) => i.resolvedAt !== null)).toBe(true);

    await until("a resolved POST for each", async () =>
      resolved.every((r) => hook.posts.some((p) => p.incident.id === r.id && p.status === "resolved")),
    );
    for (const incident of resolved) {
      const mine = hook.posts.filter((p) => p.incident.id === incident.id);
      expect(mine.map((p) => [p.status, p.incident.kind])).toEqual([
        ["firing", incident.kind],
        ["resolved", incident.kind],
      ]);
    }
    // Nothing else fired for it, but the drift a late report may show (then resolved too).
    expect(hook.of("crashy").filter((p) => p.incident.kind !== "DRIFT")).toHaveLength(4);

    // The subscriber saw each incident open, count up and resolve.
    const seen = await changes.until(
      (values) =>
        resolved.every((r) =>
          values.some((v) => v.incidentChanged.id === r.id && v.incidentChanged.state === "RESOLVED"),
        ),
      10_000,
      "both incidents resolved on incidentChanged",
    );
    const crashed = resolved.find((i) => i.kind === "PROCESS_CRASHED")!;
    const counts = seen.filter((v) => v.incidentChanged.id === crashed.id).map((v) => v.incidentChanged.occurrences);
    expect(counts[0]).toBe(1);
    expect(Math.max(...counts)).toBe(crashed.occurrences);
  }, 40_000);

  it("a silence keeps the incident, recorded as silenced, and sends no POST", async () => {
    const operator = await app.client("OPERATOR", "silencer");
    const until_ = new Date(Date.now() + 3_600_000).toISOString();
    const created = await operator.http.data<{ createSilence: { id: string; active: boolean; kinds: string[] } }>(
      `mutation($until: DateTimeISO!) {
        createSilence(input: { namePattern: "hushed-*", kinds: [HEARTBEAT_LOST], until: $until, comment: "maintenance" })
        { id active kinds } }`,
      { until: until_ },
    );
    expect(created.createSilence).toMatchObject({ active: true, kinds: ["HEARTBEAT_LOST"] });

    await loseHeartbeat([app], "hushed-1");
    // Not silenced: the POST for this one is how we know the webhook had its chance at the other.
    await loseHeartbeat([app], "loud-1");
    await until("the POST for loud-1", async () => hook.of("loud-1").length === 1);

    const [hushed] = await incidentsOf(app, "hushed-1");
    expect(hushed).toMatchObject({ kind: "HEARTBEAT_LOST", state: "OPEN", silenced: true, occurrences: 1 });
    expect(hook.of("hushed-1")).toEqual([]);
    const [loud] = await incidentsOf(app, "loud-1");
    expect(loud).toMatchObject({ kind: "HEARTBEAT_LOST", state: "OPEN", silenced: false });

    // Its end sends nothing either: no firing went out for it.
    await app.admin.data(`mutation { heartbeat(name: "hushed-1", pid: 41) { ok } }`);
    await app.admin.data(`mutation { heartbeat(name: "loud-1", pid: 41) { ok } }`);
    await until("loud-1 resolved POST", async () => hook.of("loud-1").length === 2);
    expect((await incidentsOf(app, "hushed-1"))[0]!.state).toBe("RESOLVED");
    expect(hook.of("hushed-1")).toEqual([]);

    const listed = await app.admin.data<{ silences: { id: string }[] }>(`query { silences { id } }`);
    expect(listed.silences.map((s) => s.id)).toContain(created.createSilence.id);
    const expired = await operator.http.data<{ expireSilence: { active: boolean; expiredAt: string | null } }>(
      `mutation($id: ID!) { expireSilence(id: $id) { active expiredAt } }`,
      { id: created.createSilence.id },
    );
    expect(expired.expireSilence.active).toBe(false);
    expect(expired.expireSilence.expiredAt).not.toBeNull();
    const after = await app.admin.data<{ silences: { id: string }[] }>(`query { silences { id } }`);
    expect(after.silences.map((s) => s.id)).not.toContain(created.createSilence.id);
  });

  it("bad silences are refused, naming each problem, and nothing is stored", async () => {
    const error = await app.admin.error(
      `mutation { createSilence(input: { namePattern: "bad pattern", until: "2000-01-01T00:00:00Z", comment: " " }) { id } }`,
    );
    expect(error.extensions?.code).toBe("BAD_USER_INPUT");
    expect(error.message).toContain("input.namePattern");
    expect(error.message).toContain("input.until must be a time in the future");
    expect(error.message).toContain("input.comment");
    const listed = await app.admin.data<{ silences: { id: string }[] }>(
      `query { silences(includeExpired: true) { id } }`,
    );
    expect(listed.silences).toHaveLength(1);
  });

  it("an acknowledgement records who and the note", async () => {
    await loseHeartbeat([app], "acked-1");
    await loseHeartbeat([app], "ack-probe");
    const [incident] = await incidentsOf(app, "acked-1");
    const [probe] = await incidentsOf(app, "ack-probe");
    const operator = await app.client("OPERATOR", "on-call-kim");
    const changes = ws.subscribe<{ incidentChanged: Incident }>(
      `subscription { incidentChanged { ${INCIDENT_FIELDS} } }`,
    );
    await untilLive(app, changes, probe!.id);
    const acked = await operator.http.data<{ acknowledgeIncident: Incident }>(
      `mutation($id: ID!) { acknowledgeIncident(id: $id, note: "looking at the disk") { ${INCIDENT_FIELDS} } }`,
      { id: incident!.id },
    );
    expect(acked.acknowledgeIncident).toMatchObject({
      id: incident!.id,
      acknowledgedBy: "on-call-kim",
      note: "looking at the disk",
      state: "OPEN",
    });
    expect(Date.parse(acked.acknowledgeIncident.acknowledgedAt!)).toBeGreaterThan(Date.now() - 60_000);
    const seen = await changes.until(
      (values) => values.some((v) => v.incidentChanged.acknowledgedBy === "on-call-kim"),
      10_000,
      "the acknowledgement on incidentChanged",
    );
    const acknowledged = seen.find((v) => v.incidentChanged.acknowledgedBy === "on-call-kim")!;
    expect(acknowledged.incidentChanged).toMatchObject({ id: incident!.id, note: "looking at the disk" });

    const missing = await operator.http.error(`mutation { acknowledgeIncident(id: "999999") { id } }`);
    expect(missing.extensions?.code).toBe("NOT_FOUND");
    // A token bound to other processes is not told the incident exists: as for an unknown id.
    const elsewhere = await app.client("OPERATOR", "on-call-elsewhere", "other-*");
    const hidden = await elsewhere.http.error(
      `mutation($id: ID!) { acknowledgeIncident(id: $id, note: "not mine") { id } }`,
      { id: incident!.id },
    );
    expect(hidden.extensions?.code).toBe("NOT_FOUND");
    expect(hidden.message).toBe(missing.message.replace("999999", incident!.id));
    expect((await incidentsOf(app, "acked-1"))[0]!.note).toBe("looking at the disk");
  });
  it("a silence made after an incident fired keeps its end quiet too; one that runs out unsilences; host:port quiets the host", async () => {
    const operator = await app.client("OPERATOR", "maintenance");
    const silence = (namePattern: string, ms: number) =>
      operator.http.data(
        `mutation($p: String!, $until: DateTimeISO!) {
          createSilence(input: { namePattern: $p, until: $until, comment: "host maintenance" }) { id } }`,
        { p: namePattern, until: new Date(Date.now() + ms).toISOString() },
      );
    // Fired, then silenced (the usual order: the page came, then the maintenance began).
    await loseHeartbeat([app], "fired-1");
    await until("the firing POST", async () => hook.of("fired-1").length === 1);
    await silence("fired-*", 3_600_000);
    expect((await incidentsOf(app, "fired-1"))[0]).toMatchObject({ state: "OPEN", silenced: true });
    await app.admin.data(`mutation { heartbeat(name: "fired-1", pid: 41) { ok } }`);
    expect((await incidentsOf(app, "fired-1"))[0]!.state).toBe("RESOLVED");
    // Not silenced: its POSTs are how we know the webhook had its chance at fired-1's end.
    await loseHeartbeat([app], "probe-after-fired");
    await app.admin.data(`mutation { heartbeat(name: "probe-after-fired", pid: 41) { ok } }`);
    await until("the probe's resolved POST", async () => hook.of("probe-after-fired").length === 2);
    expect(hook.of("fired-1").map((p) => p.status)).toEqual(["firing"]);

    // A silence nobody expires: once its `until` has passed, its incident is no longer shown silenced.
    await silence("runout-*", 2_000);
    await loseHeartbeat([app], "runout-1");
    expect((await incidentsOf(app, "runout-1"))[0]).toMatchObject({ state: "OPEN", silenced: true });
    await until(
      "the incident shown unsilenced after its silence ran out",
      async () => (await incidentsOf(app, "runout-1"))[0]!.silenced === false,
      15_000,
    );
    const marks = await db.query<{ message: string }>(
      "SELECT message FROM fleetvisor_process_events WHERE process_name = 'runout-1' AND kind = 'INCIDENT_CHANGED' AND message LIKE '%no longer silenced%'",
    );
    expect(marks).toHaveLength(1);
    expect(hook.of("runout-1")).toEqual([]);

    // A host under maintenance: its supervisord's host:port silences its processes' incidents too.
    await silence("maint-host:9101", 3_600_000);
    await app.admin.data(
      `mutation { createProcess(input: { name: "on-maint-1", port: 8000, supervisorHost: "maint-host", supervisorPort: 9101 }) { id } }`,
    );
    await app.admin.data(`mutation { registerProcess(name: "on-maint-1", pid: 41) { port } }`);
    await db.query("UPDATE kb_server_processes SET last_heartbeat = ? WHERE process_name = 'on-maint-1'", [
      new Date(Date.now() - 3_600_000),
    ]);
    await app.services.watch.checkHeartbeats();
    expect((await incidentsOf(app, "on-maint-1"))[0]).toMatchObject({ kind: "HEARTBEAT_LOST", silenced: true });
    await loseHeartbeat([app], "probe-after-maint");
    await until("the probe's firing POST", async () => hook.of("probe-after-maint").length === 1);
    expect(hook.of("on-maint-1")).toEqual([]);
  });

  it("incidents page newest first: first/after walk OPEN, RESOLVED and ALL, each once; a bad first or after is refused, naming it", async () => {
    // Five lost heartbeats, two of them back: three OPEN incidents of these and two RESOLVED.
    const names = ["paged-1", "paged-2", "paged-3", "paged-4", "paged-5"];
    for (const name of names) await loseHeartbeat([app], name);
    for (const name of ["paged-2", "paged-4"])
      await app.admin.data(`mutation($n: String!) { heartbeat(name: $n, pid: 41) { ok } }`, { n: name });

    const FIRST = 3;
    const page = async (state: string, first: number, after: string | null) =>
      (
        await app.admin.data<{ incidents: Incident[] }>(
          `query($state: IncidentStateFilter!, $first: Int!, $after: ID) {
            incidents(state: $state, first: $first, after: $after) { ${INCIDENT_FIELDS} } }`,
          { state, first, after },
        )
      ).incidents;
    /** Page after page, each after the last id of the one before, until one is not full. */
    const walk = async (state: string): Promise<Incident[][]> => {
      const pages: Incident[][] = [];
      let after: string | null = null;
      for (;;) {
        const got = await page(state, FIRST, after);
        pages.push(got);
        if (got.length < FIRST) return pages;
        // An `after` that did not move the page on would walk for ever.
        if (pages.length > 100) throw new Error(`${state}: still full pages after 100 of them`);
        after = got.at(-1)!.id;
      }
    };
    const stored = async () =>
      (await db.query<{ id: number | string; state: string }>("SELECT id, state FROM fleetvisor_incidents")).map(
        (row) => ({ id: Number(row.id), state: row.state }),
      );
    const before = await stored();
    const walked = { ALL: await walk("ALL"), OPEN: await walk("OPEN"), RESOLVED: await walk("RESOLVED") };
    const now = await stored();
    // Nothing here changes incidents behind the test's back; should something, an incident that
    // changed while it walked (new, or its state) may be on either side and is not counted.
    const stateBefore = new Map(before.map((row) => [row.id, row.state]));
    const steady = (state: string) =>
      now.filter(
        (row) =>
          stateBefore.has(row.id) && (state === "ALL" || (row.state === state && stateBefore.get(row.id) === state)),
      );
    const changed = new Set(now.filter((row) => stateBefore.get(row.id) !== row.state).map((row) => row.id));

    for (const [state, pages] of Object.entries(walked)) {
      const all = pages.flat();
      const ids = all.map((i) => Number(i.id));
      // More than one page's worth; every page full but the last.
      expect(all.length, state).toBeGreaterThan(FIRST);
      expect(
        pages.map((p) => p.length),
        state,
      ).toEqual([...Array(pages.length - 1).fill(FIRST), all.length % FIRST]);
      // Newest first by id, and so each once.
      expect(ids, state).toEqual([...ids].sort((a, b) => b - a));
      expect(new Set(ids).size, state).toBe(ids.length);
      // The filter selects what it says, and every incident it selects is on a page.
      if (state !== "ALL") expect(new Set(all.map((i) => i.state)), state).toEqual(new Set([state]));
      const expected = steady(state)
        .map((row) => row.id)
        .sort((a, b) => b - a);
      expect(
        ids.filter((id) => (state === "ALL" ? stateBefore.has(id) : !changed.has(id))),
        state,
      ).toEqual(expected);
      // After the last one: nothing.
      expect(await page(state, FIRST, all.at(-1)!.id), state).toEqual([]);
    }
    // These five, newest first, where they belong.
    const mine = (state: keyof typeof walked) =>
      walked[state]
        .flat()
        .filter((i) => i.processName?.startsWith("paged-"))
        .map((i) => [i.processName, i.kind, i.state]);
    expect(mine("ALL")).toEqual([
      ["paged-5", "HEARTBEAT_LOST", "OPEN"],
      ["paged-4", "HEARTBEAT_LOST", "RESOLVED"],
      ["paged-3", "HEARTBEAT_LOST", "OPEN"],
      ["paged-2", "HEARTBEAT_LOST", "RESOLVED"],
      ["paged-1", "HEARTBEAT_LOST", "OPEN"],
    ]);
    expect(mine("OPEN")).toEqual([
      ["paged-5", "HEARTBEAT_LOST", "OPEN"],
      ["paged-3", "HEARTBEAT_LOST", "OPEN"],
      ["paged-1", "HEARTBEAT_LOST", "OPEN"],
    ]);
    expect(mine("RESOLVED")).toEqual([
      ["paged-4", "HEARTBEAT_LOST", "RESOLVED"],
      ["paged-2", "HEARTBEAT_LOST", "RESOLVED"],
    ]);

    // A bad first or after: BAD_USER_INPUT, naming the field (both when both are bad).
    const refused = async (first: number, after: string | null) =>
      refusedFields(
        await app.admin.error(
          `query($first: Int!, $after: ID) { incidents(state: ALL, first: $first, after: $after) { id } }`,
          { first, after },
        ),
      );
    expect(await refused(0, null)).toEqual(["first"]);
    expect(await refused(201, null)).toEqual(["first"]);
    expect(await refused(-1, null)).toEqual(["first"]);
    expect(await refused(FIRST, "not-an-id")).toEqual(["after"]);
    expect(await refused(FIRST, "0")).toEqual(["after"]);
    expect(await refused(0, "x")).toEqual(["after", "first"]);
    // The largest page is allowed.
    expect((await page("ALL", 200, null)).length).toBeGreaterThanOrEqual(names.length);
  });
});

describe("incident changes on processChanged", () => {
  it("are not a process's change: asking for them there is refused, naming incidentChanged", async () => {
    const app = await startTestApp(db.url);
    stops.push(() => app.stop());
    const ws = connectWs(app.url, (await app.client("VIEWER", "kind-asker")).token);
    stops.push(() => ws.dispose());
    const refused = ws.subscribe(`subscription { processChanged(kinds: [INCIDENT_CHANGED]) { id } }`);
    const error = (await refused.failure()) as { message: string; extensions?: { code?: string } }[];
    expect(error[0]!.extensions?.code).toBe("BAD_USER_INPUT");
    expect(error[0]!.message).toContain("subscribe to incidentChanged");
    // Without a webhook: it must not be the replica that settles the incidents of the tests after.
    await ws.dispose();
    await app.stop();
  });
});

describe("flapping that calms down, and the slack format", () => {
  it("a FLAPPING incident resolves after a quiet window; both POSTs are Slack text", async () => {
    const app = await startTestApp(db.url, {
      ALERT_WEBHOOK_URL: hook.url,
      ALERT_WEBHOOK_FORMAT: "slack",
      FLAP_THRESHOLD: "4",
      FLAP_WINDOW_SECONDS: "2",
    });
    stops.push(() => app.stop());
    await app.admin.data(`mutation($input: CreateProcessInput!) { createProcess(input: $input) { id } }`, {
      input: { name: "calming", port: 8000, supervisorHost: "127.0.0.1", supervisorPort: 1, program: "calming" },
    });
    // What a listener reports of a program supervisord restarts again and again.
    const started = Date.now();
    for (let i = 0; i < 6; i++) {
      await app.admin.data(
        `mutation($input: SupervisorEventInput!) { reportSupervisorEvent(input: $input) { name } }`,
        {
          input: {
            supervisorHost: "127.0.0.1",
            supervisorPort: 1,
            program: "calming",
            state: i % 2 === 0 ? "STARTING" : "RUNNING",
            pid: i % 2 === 0 ? 0 : 100 + i,
            at: new Date(started + i).toISOString(),
          },
        },
      );
    }
    const [flapping] = await until("the FLAPPING incident", async () => {
      const found = (await incidentsOf(app, "calming")).filter((i) => i.kind === "FLAPPING");
      return found.length > 0 && found;
    });
    expect(flapping!.state).toBe("OPEN");
    const texts = () => hook.posts.flatMap((p) => (p.text?.includes("on calming") ? [p.text] : []));
    // Two seconds without a change, and the next quiet-flap pass (every second) ends it.
    const [resolved] = await until(
      "the FLAPPING incident resolved",
      async () => {
        const found = (await incidentsOf(app, "calming")).filter((i) => i.state === "RESOLVED");
        return found.length > 0 && found;
      },
      8_000,
    );
    expect(resolved!.id).toBe(flapping!.id);
    await until("the resolved POST", async () => texts().length === 2);
    expect(texts()).toEqual([
      `[FIRING] FLAPPING on calming (incident ${flapping!.id}): more than 4 state changes within 2s`,
      expect.stringMatching(
        new RegExp(
          `^\\[RESOLVED\\] FLAPPING on calming \\(incident ${flapping!.id}, \\d+ times\\): no state change for 2s$`,
        ),
      ),
    ]);
    // Its Slack POSTs would hide the incidents of the tests after from their receiver.
    await app.stop();
  });
});

describe("crash incidents over time", () => {
  let app: TestApp;

  beforeAll(async () => {
    // A short window, and a threshold these few crashes stay under (no FLAPPING here).
    app = await startTestApp(db.url, { ALERT_WEBHOOK_URL: hook.url, FLAP_THRESHOLD: "20", FLAP_WINDOW_SECONDS: "2" });
    stops.push(() => app.stop());
  });
  afterAll(() => app.stop());

  async function createOnFake(name: string): Promise<void> {
    await app.admin.data(`mutation($input: CreateProcessInput!) { createProcess(input: $input) { id } }`, {
      input: { name, port: 8000, supervisorHost: "127.0.0.1", supervisorPort: 1, program: name },
    });
  }

  it("a crash loop whose program registers on each run stays one incident; it ends after a window without a crash", async () => {
    await createOnFake("rerun-1");
    const at = Date.now();
    await report(app, "rerun-1", "RUNNING", at, { pid: 201 });
    await report(app, "rerun-1", "EXITED", at + 1, { pid: 0, expected: false });
    // Its next run registers, as a program with an agent does; then it crashes again.
    await app.admin.data(`mutation { registerProcess(name: "rerun-1", pid: 202) { port } }`);
    await report(app, "rerun-1", "RUNNING", at + 2, { pid: 202 });
    await report(app, "rerun-1", "EXITED", at + 3, { pid: 0, expected: false });
    await app.admin.data(`mutation { registerProcess(name: "rerun-1", pid: 203) { port } }`);
    await report(app, "rerun-1", "RUNNING", at + 4, { pid: 203 });
    const crashed = (await incidentsOf(app, "rerun-1")).filter((i) => i.kind === "PROCESS_CRASHED");
    expect(crashed).toHaveLength(1);
    expect(crashed[0]).toMatchObject({ state: "OPEN", occurrences: 2, resolvedAt: null });
    // Running on for a whole window (2s) without a crash: the next settle pass ends it.
    const [resolved] = await until(
      "the PROCESS_CRASHED incident resolved",
      async () => {
        const found = (await incidentsOf(app, "rerun-1")).filter(
          (i) => i.kind === "PROCESS_CRASHED" && i.state === "RESOLVED",
        );
        return found.length > 0 && found;
      },
      8_000,
    );
    expect(resolved!.id).toBe(crashed[0]!.id);
    await until("its resolved POST", async () => hook.of("rerun-1").some((p) => p.status === "resolved"));
    expect(hook.of("rerun-1").map((p) => [p.status, p.incident.kind])).toEqual([
      ["firing", "PROCESS_CRASHED"],
      ["resolved", "PROCESS_CRASHED"],
    ]);
  });

  it("a crash incident the stop's own event did not see ends once the process is stopped on purpose", async () => {
    await createOnFake("halted-1");
    const at = Date.now();
    await report(app, "halted-1", "RUNNING", at, { pid: 401 });
    await report(app, "halted-1", "EXITED", at + 1, { pid: 0, expected: false });
    const [crashed] = await incidentsOf(app, "halted-1");
    expect(crashed).toMatchObject({ kind: "PROCESS_CRASHED", state: "OPEN" });
    // Stopped on purpose by a transaction that did not see the incident (a late crash
    // report counted it beside the stop): no event of the stop ends it.
    await db.query(
      "UPDATE kb_server_processes SET desired_state = 'STOPPED', status = 'stopped' WHERE process_name = 'halted-1'",
    );
    const [resolved] = await until(
      "the settle pass to end it",
      async () => {
        const found = (await incidentsOf(app, "halted-1")).filter((i) => i.state === "RESOLVED");
        return found.length > 0 && found;
      },
      // Well within the window (2s) a quiet running process would need.
      1_900,
    );
    expect(resolved!.id).toBe(crashed!.id);
  });

  it("an incident opened under a silence fires on its first occurrence after the silence ended", async () => {
    const operator = await app.client("OPERATOR", "late-silencer");
    const created = await operator.http.data<{ createSilence: { id: string } }>(
      `mutation($until: DateTimeISO!) {
        createSilence(input: { namePattern: "late-*", kinds: [PROCESS_CRASHED], until: $until, comment: "deploy" }) { id } }`,
      { until: new Date(Date.now() + 3_600_000).toISOString() },
    );
    await createOnFake("late-1");
    const at = Date.now();
    await report(app, "late-1", "RUNNING", at, { pid: 301 });
    await report(app, "late-1", "EXITED", at + 1, { pid: 0, expected: false });
    const [silenced] = await incidentsOf(app, "late-1");
    expect(silenced).toMatchObject({ kind: "PROCESS_CRASHED", state: "OPEN", silenced: true, occurrences: 1 });

    await operator.http.data(`mutation($id: ID!) { expireSilence(id: $id) { id } }`, { id: created.createSilence.id });
    expect((await incidentsOf(app, "late-1"))[0]!.silenced).toBe(false);
    // Ending the silence sends nothing by itself; the next crash does.
    expect(hook.of("late-1")).toEqual([]);
    await report(app, "late-1", "RUNNING", at + 2, { pid: 302 });
    await report(app, "late-1", "EXITED", at + 3, { pid: 0, expected: false });
    await until("the firing POST", async () => hook.of("late-1").length > 0);
    expect(hook.of("late-1").map((p) => [p.status, p.incident.id, p.incident.occurrences])).toEqual([
      ["firing", silenced!.id, 2],
    ]);
    // Once only: a third crash is one more occurrence, no second firing.
    await report(app, "late-1", "RUNNING", at + 4, { pid: 303 });
    await report(app, "late-1", "EXITED", at + 5, { pid: 0, expected: false });
    await until("the third occurrence", async () => (await incidentsOf(app, "late-1"))[0]!.occurrences === 3);
    await app.admin.data(`mutation { deleteProcess(name: "late-1") { name } }`);
    await until("its resolved POST", async () => hook.of("late-1").some((p) => p.status === "resolved"));
    expect(hook.of("late-1").map((p) => p.status)).toEqual(["firing", "resolved"]);
  });
});

describe("an unreachable supervisord whose programs go away", () => {
  it("its SUPERVISOR_UNREACHABLE incident stays open while a program on it is unreachable, and ends when none is", async () => {
    // Nothing listens on port 2: each poll (every second) is refused at once.
    const app = await startTestApp(db.url, {
      ALERT_WEBHOOK_URL: hook.url,
      SUPERVISOR_POLL_INTERVAL_SECONDS: "1",
      SUPERVISOR_UNREACHABLE_POLLS: "1",
      SUPERVISOR_TIMEOUT_MS: "500",
      FLAP_WINDOW_SECONDS: "4",
    });
    stops.push(() => app.stop());
    for (const name of ["away-1", "away-2"]) {
      await app.admin.data(`mutation($input: CreateProcessInput!) { createProcess(input: $input) { id } }`, {
        input: { name, port: 8000, supervisorHost: "127.0.0.1", supervisorPort: 2, program: name },
      });
    }
    // This supervisord's: the rows earlier tests left on port 1 make another of their own.
    const unreachable = async () =>
      (await incidents(app)).filter(
        (i) => i.kind === "SUPERVISOR_UNREACHABLE" && i.processName === null && i.supervisorPort === 2,
      );
    const [opened] = await until("the SUPERVISOR_UNREACHABLE incident", async () => {
      const found = (await unreachable()).filter((i) => i.state === "OPEN");
      return found.length > 0 && found;
    });
    await app.admin.data(`mutation { deleteProcess(name: "away-1") { name } }`);
    // A settle pass (every second) later, away-2 still makes it unreachable.
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    expect((await unreachable()).find((i) => i.id === opened!.id)?.state).toBe("OPEN");

    await app.admin.data(`mutation { deleteProcess(name: "away-2") { name } }`);
    let seen: unknown;
    await until(
      "the incident resolved",
      async () => {
        seen = (await unreachable()).find((i) => i.id === opened!.id);
        return (seen as Incident | undefined)?.state === "RESOLVED";
      },
      8_000,
    ).catch(async (error: Error) => {
      // What the settle pass had to go on, for a failure that does not reproduce at will.
      const observed = await db.query(
        "SELECT p.process_name, p.supervisor_port, o.state FROM kb_server_processes p LEFT JOIN fleetvisor_supervisor_observations o ON o.process_name = p.process_name",
      );
      throw new Error(`${error.message}: the incident ${JSON.stringify(seen)}; processes ${JSON.stringify(observed)}`);
    });
    await app.stop();
  });
});

describe("incident retention", () => {
  it("resolved incidents and silences over, older than EVENT_RETENTION_DAYS, are pruned with the events", async () => {
    const app = await startTestApp(db.url, { EVENT_RETENTION_DAYS: "30" });
    stops.push(() => app.stop());
    await loseHeartbeat([app], "aged-resolved");
    await app.admin.data(`mutation { heartbeat(name: "aged-resolved", pid: 41) { ok } }`);
    await loseHeartbeat([app], "aged-open");
    const long = new Date(Date.now() - 40 * 86_400_000);
    await db.query(
      "UPDATE fleetvisor_incidents SET opened_at = ?, last_seen_at = ?, resolved_at = ? WHERE process_name = ?",
      [long, long, long, "aged-resolved"],
    );
    // Open for 40 days: still open, kept however old.
    await db.query("UPDATE fleetvisor_incidents SET opened_at = ?, last_seen_at = ? WHERE process_name = ?", [
      long,
      long,
      "aged-open",
    ]);
    const silence = (pattern: string) =>
      app.admin.data<{ createSilence: { id: string } }>(
        `mutation($p: String!, $until: DateTimeISO!) { createSilence(input: { namePattern: $p, until: $until, comment: "old" }) { id } }`,
        { p: pattern, until: new Date(Date.now() + 86_400_000).toISOString() },
      );
    const over = (await silence("aged-over-*")).createSilence.id;
    const inForce = (await silence("aged-in-force-*")).createSilence.id;
    await db.query("UPDATE fleetvisor_silences SET until = ?, created_at = ? WHERE id = ?", [long, long, over]);
    await db.query("UPDATE fleetvisor_silences SET created_at = ? WHERE id = ?", [long, inForce]);

    expect(await app.eventPruner.runOnce()).toMatchObject({ outcome: "pruned" });
    const left = await incidents(app);
    expect(left.filter((i) => i.processName === "aged-resolved")).toEqual([]);
    expect(left.filter((i) => i.processName === "aged-open")).toMatchObject([{ state: "OPEN" }]);
    const silences = await app.admin.data<{ silences: { id: string }[] }>(
      `query { silences(includeExpired: true) { id } }`,
    );
    expect(silences.silences.map((s) => s.id)).toContain(inForce);
    expect(silences.silences.map((s) => s.id)).not.toContain(over);
    await app.stop();
  });
});

describe.runIf(onMysql)("incidents across two replicas", () => {
  it("one lost heartbeat seen by both: one incident, one firing POST; the other replica's subscriber sees it", async () => {
    const shared = {
      REDIS_URL: process.env.TEST_REDIS_URL ?? "redis://127.0.0.1:6379",
      ALERT_WEBHOOK_URL: hook.url,
    };
    const [one, two] = await Promise.all([startTestApp(db.url, shared), startTestApp(db.url, shared)]);
    stops.push(
      () => one.stop(),
      () => two.stop(),
    );
    const ws = connectWs(two.url, (await one.client("VIEWER", "replica-watcher")).token);
    stops.push(() => ws.dispose());
    const changes = ws.subscribe<{ incidentChanged: Incident }>(
      `subscription { incidentChanged { ${INCIDENT_FIELDS} } }`,
    );
    await loseHeartbeat([one], "twice-probe");
    await untilLive(one, changes, (await incidentsOf(one, "twice-probe"))[0]!.id);

    const names = ["twice-1", "twice-2", "twice-3"];
    for (const name of names) await loseHeartbeat([one, two], name);
    await until("a POST for each", async () => names.every((name) => hook.of(name).length >= 1));
    for (const name of names) {
      const found = await incidentsOf(two, name);
      expect(found).toHaveLength(1);
      expect(found[0]).toMatchObject({ kind: "HEARTBEAT_LOST", state: "OPEN", occurrences: 1 });
      await changes.until(
        (values) => values.some((v) => v.incidentChanged.processName === name),
        10_000,
        `${name}'s incident on the other replica`,
      );
    }
    // Resolve each, and wait for its resolved POST: a second firing POST sent by the other
    // replica would have been sent on its commit, long before this one.
    for (const name of names)
      await one.admin.data(`mutation($n: String!) { heartbeat(name: $n, pid: 41) { ok } }`, { n: name });
    await until("a resolved POST for each", async () =>
      names.every((name) => hook.of(name).some((p) => p.status === "resolved")),
    );
    for (const name of names) expect(hook.of(name).map((p) => p.status)).toEqual(["firing", "resolved"]);
  }, 40_000);
});
