import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestApp, type TestApp } from "./support/app.js";
import { createTestDatabase, type TestDatabase } from "./support/database.js";
import { Supervisord } from "./support/supervisord.js";
import { until } from "./support/wait.js";

const LISTENER = fileURLToPath(
  new URL("../client-examples/supervisor-listener/fleetvisor_listener.py", import.meta.url),
);
const POLL_INTERVAL_SECONDS = 1;

let db: TestDatabase;
let app: TestApp;
/** Polled only. */
let polled: Supervisord;
/** With Fleetvisor's event listener: every state on the way arrives as it happens. */
let listened: Supervisord;

interface ReconcileRollout {
  id: string | null;
  action: string;
  state: string;
  steps: { processName: string; action: string; outcome: string }[];
}

interface DriftRow {
  name: string;
  desiredState: string | null;
  drift: string;
}

async function processDrift(name: string): Promise<DriftRow> {
  const data = await app.admin.data<{ process: DriftRow }>(
    `query($n: String!) { process(name: $n) { name desiredState drift } }`,
    { n: name },
  );
  return data.process;
}

async function driftEvents(name: string): Promise<{ kind: string; message: string; actor: string }[]> {
  return db.query(
    `SELECT kind, message, actor FROM fleetvisor_process_events
     WHERE process_name = ? AND kind IN ('DRIFT_DETECTED', 'DRIFT_RESOLVED') ORDER BY id`,
    [name],
  );
}

async function create(name: string, supervisord: Supervisord, program: string, desiredState?: string): Promise<void> {
  await app.admin.data(`mutation($input: CreateProcessInput!) { createProcess(input: $input) { id } }`, {
    input: { name, port: 8000, supervisorHost: "127.0.0.1", supervisorPort: supervisord.port, program, desiredState },
  });
}

beforeAll(async () => {
  db = await createTestDatabase("drift");
  app = await startTestApp(db.url, { SUPERVISOR_POLL_INTERVAL_SECONDS: String(POLL_INTERVAL_SECONDS) });
  const agent = await app.client("AGENT", "listener", "drift-*");
  [polled, listened] = await Promise.all([
    Supervisord.start({
      programs: {
        web: { command: "sleep 1000" },
        admin: { command: "sleep 1000" },
      },
    }),
    Supervisord.start({
      programs: { worker: { command: "sleep 1000", startsecs: 1 } },
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
    }),
  ]);
  await create("drift-web", polled, "web");
  await create("drift-admin", polled, "admin");
  await create("drift-worker", listened, "worker");
  await polled.waitForState("web", "RUNNING");
  await listened.waitForState("worker", "RUNNING");
}, 60_000);

afterAll(async () => {
  await Promise.all([polled?.stop(), listened?.stop()]);
  await app?.stop();
  await db?.drop();
});

describe("desired state and drift", () => {
  it("a program stopped with supervisorctl yields one DRIFT_DETECTED within the poll interval", async () => {
    const started = await app.admin.data<{ startProcess: DriftRow }>(
      `mutation { startProcess(name: "drift-web") { name desiredState drift } }`,
    );
    expect(started.startProcess).toEqual({ name: "drift-web", desiredState: "RUNNING", drift: "NONE" });

    await polled.ctl("stop", "web");
    const stoppedAt = Date.now();
    const [detected] = await until(
      "DRIFT_DETECTED",
      async () => {
        const events = await driftEvents("drift-web");
        return events.length > 0 && events;
      },
      // One poll interval, plus the poll itself.
      POLL_INTERVAL_SECONDS * 1000 + 2_000,
    );
    expect(Date.now() - stoppedAt).toBeLessThan(POLL_INTERVAL_SECONDS * 1000 + 2_000);
    expect(detected).toMatchObject({ kind: "DRIFT_DETECTED", actor: "fleetvisor" });
    expect(detected!.message).toContain("SHOULD_RUN: desired RUNNING, supervisord says STOPPED (poll)");
    expect(await processDrift("drift-web")).toEqual({
      name: "drift-web",
      desiredState: "RUNNING",
      drift: "SHOULD_RUN",
    });

    // Further polls see the same drift and record nothing more.
    await app.services.watch.pollOnce();
    await app.services.watch.pollOnce();
    expect((await driftEvents("drift-web")).map((e) => e.kind)).toEqual(["DRIFT_DETECTED"]);

    // reconcile brings it back: a rollout that starts what should run.
    const operator = await app.client("OPERATOR", "reconciler");
    const reconcile = `mutation($dry: Boolean!) {
      reconcile(filter: { namePrefix: "drift-" }, waitForHealthy: false, dryRun: $dry) {
        id action state steps { processName action outcome } } }`;
    const plan = await operator.http.data<{ reconcile: ReconcileRollout }>(reconcile, { dry: true });
    expect(plan.reconcile).toEqual({
      id: null,
      action: "RECONCILE",
      state: "PLANNED",
      steps: [{ processName: "drift-web", action: "START", outcome: "PENDING" }],
    });
    const reconciling = await operator.http.data<{ reconcile: ReconcileRollout }>(reconcile, { dry: false });
    const done = await until("the reconcile to finish", async () => {
      const { rollout } = await operator.http.data<{ rollout: ReconcileRollout }>(
        `query($id: ID!) { rollout(id: $id) { id action state steps { processName action outcome } } }`,
        { id: reconciling.reconcile.id },
      );
      return rollout.state !== "RUNNING" && rollout;
    });
    expect(done).toMatchObject({ state: "SUCCEEDED", steps: [{ processName: "drift-web", outcome: "DONE" }] });
    expect(await polled.programState("web")).toBe("RUNNING");
    await until("DRIFT_RESOLVED", async () => (await driftEvents("drift-web")).length === 2);
    expect((await driftEvents("drift-web")).map((e) => e.kind)).toEqual(["DRIFT_DETECTED", "DRIFT_RESOLVED"]);
    expect((await processDrift("drift-web")).drift).toBe("NONE");
    // Nothing drifts now: nothing to reconcile.
    const nothing = await operator.http.error(`mutation { reconcile(filter: { namePrefix: "drift-" }) { id } }`);
    expect(nothing.extensions?.code).toBe("BAD_USER_INPUT");
  });

  it("restarts, stops and starts through Fleetvisor raise no drift, though the listener reports every state on the way", async () => {
    const operator = await app.client("OPERATOR", "ops");
    await operator.http.data(`mutation { restartProcess(name: "drift-worker") { name } }`);
    await operator.http.data(`mutation { restartProcess(name: "drift-worker") { name } }`);
    const stopped = await operator.http.data<{ stopProcess: DriftRow }>(
      `mutation { stopProcess(name: "drift-worker") { name desiredState drift } }`,
    );
    expect(stopped.stopProcess).toMatchObject({ desiredState: "STOPPED", drift: "NONE" });
    await operator.http.data(`mutation { startProcess(name: "drift-worker") { name } }`);
    // Every state the listener saw is in; the poller has looked twice more.
    await until("the listener's RUNNING after the last start", async () => {
      const [row] = await db.query<{ state: string }>(
        "SELECT state FROM fleetvisor_supervisor_observations WHERE process_name = 'drift-worker'",
      );
      return row?.state === "RUNNING";
    });
    const states = await db.query<{ message: string }>(
      `SELECT message FROM fleetvisor_process_events
       WHERE process_name = 'drift-worker' AND kind = 'SUPERVISOR_STATE_CHANGED' AND message LIKE '%(listener)'`,
    );
    expect(states.some((s) => s.message.includes("→ STOPPED"))).toBe(true);
    await app.services.watch.pollOnce();
    await app.services.watch.pollOnce();
    expect(await driftEvents("drift-worker")).toEqual([]);
    expect(await processDrift("drift-worker")).toEqual({
      name: "drift-worker",
      desiredState: "RUNNING",
      drift: "NONE",
    });
    // The intent changed twice (RUNNING, STOPPED, RUNNING), each recorded with its actor.
    const intents = await db.query<{ message: string; actor: string }>(
      `SELECT message, actor FROM fleetvisor_process_events
       WHERE process_name = 'drift-worker' AND kind = 'UPDATED' AND message LIKE 'desiredState%' ORDER BY id`,
    );
    expect(intents).toEqual([
      { message: "desiredState: null → RUNNING", actor: "ops" },
      { message: "desiredState: RUNNING → STOPPED", actor: "ops" },
      { message: "desiredState: STOPPED → RUNNING", actor: "ops" },
    ]);
  });

  it("a state seen during a restart and reported after it is no drift; one seen after it is", async ({
    onTestFinished,
  }) => {
    // A supervisord of its own: the reports below make it one whose listener reports, which
    // is then polled only now and then.
    const own = await Supervisord.start({ programs: { late: { command: "sleep 1000" } } });
    onTestFinished(() => own.stop());
    await create("drift-late", own, "late");
    await until("a poll to see it", async () => {
      const [row] = await db.query<{ state: string }>(
        "SELECT state FROM fleetvisor_supervisor_observations WHERE process_name = 'drift-late'",
      );
      return row?.state === "RUNNING";
    });
    const agent = await app.client("AGENT", "late-listener", "drift-late");
    const report = (state: string, pid: number | null, at: Date) =>
      agent.http.data(`mutation($input: SupervisorEventInput!) { reportSupervisorEvent(input: $input) { name } }`, {
        input: { supervisorHost: "127.0.0.1", supervisorPort: own.port, program: "late", state, pid, at },
      });
    const stoppedReports = async () =>
      (
        await db.query<{ message: string }>(
          "SELECT message FROM fleetvisor_process_events WHERE process_name = 'drift-late' AND kind = 'SUPERVISOR_STATE_CHANGED'",
        )
      ).filter((e) => e.message.endsWith("→ STOPPED (listener)"));
    const operator = await app.client("OPERATOR", "late-restarter");
    await operator.http.data(`mutation { restartProcess(name: "drift-late") { name } }`);
    const returned = Date.now();
    // The listener's STOPPED from the middle of the restart, held up on the way: it comes
    // after the restart, and is still newer than anything seen (the row says so).
    const during = new Date(returned - 300);
    await db.query("UPDATE fleetvisor_supervisor_observations SET observed_at = ? WHERE process_name = 'drift-late'", [
      new Date(during.getTime() - 1_000),
    ]);
    await report("STOPPED", null, during);
    expect(await stoppedReports()).toHaveLength(1);
    const pid = await own.programPid("late");
    await report("RUNNING", pid, new Date(during.getTime() + 1));
    expect(await driftEvents("drift-late")).toEqual([]);

    // A stop seen after the restart is drift.
    await report("STOPPED", null, new Date());
    expect(await stoppedReports()).toHaveLength(2);
    expect((await driftEvents("drift-late")).map((e) => [e.kind, e.message])).toEqual([
      ["DRIFT_DETECTED", "SHOULD_RUN: desired RUNNING, supervisord says STOPPED (listener)"],
    ]);
    // Running again: the drift ends.
    await report("RUNNING", pid, new Date());
    expect((await driftEvents("drift-late")).map((e) => e.kind)).toEqual(["DRIFT_DETECTED", "DRIFT_RESOLVED"]);
  });

  it("an admin's desired state is judged at once; null clears it; a program supervisord does not have is UNKNOWN_PROGRAM", async () => {
    await app.services.watch.pollOnce();
    const update = (name: string, input: Record<string, unknown>) =>
      app.admin.data<{ updateProcess: DriftRow }>(
        `mutation($n: String!, $i: UpdateProcessInput!) { updateProcess(name: $n, input: $i) { name desiredState drift } }`,
        { n: name, i: input },
      );
    // supervisord runs it; an admin says it should not run.
    expect((await update("drift-admin", { desiredState: "STOPPED" })).updateProcess).toEqual({
      name: "drift-admin",
      desiredState: "STOPPED",
      drift: "SHOULD_NOT_RUN",
    });
    // Another field leaves the desired state as it is.
    expect((await update("drift-admin", { port: 8001 })).updateProcess.desiredState).toBe("STOPPED");
    // reconcile would stop it.
    const plan = await app.admin.data<{ reconcile: ReconcileRollout }>(
      `mutation { reconcile(dryRun: true) { steps { processName action } } }`,
    );
    expect(plan.reconcile.steps).toEqual([{ processName: "drift-admin", action: "STOP" }]);
    // Nobody's intent: no drift.
    expect((await update("drift-admin", { desiredState: null })).updateProcess).toEqual({
      name: "drift-admin",
      desiredState: null,
      drift: "NONE",
    });
    expect((await driftEvents("drift-admin")).map((e) => [e.kind, e.actor])).toEqual([
      ["DRIFT_DETECTED", "bootstrap-admin"],
      ["DRIFT_RESOLVED", "bootstrap-admin"],
    ]);

    await create("drift-ghost", polled, "not-there", "RUNNING");
    expect(await processDrift("drift-ghost")).toMatchObject({ desiredState: "RUNNING", drift: "NONE" });
    await app.services.watch.pollOnce();
    expect(await processDrift("drift-ghost")).toMatchObject({ drift: "UNKNOWN_PROGRAM" });
    const [ghost] = await driftEvents("drift-ghost");
    expect(ghost!.message).toContain("UNKNOWN_PROGRAM: desired RUNNING, supervisord says it has no such program");
    // No start or stop fixes that: nothing for reconcile.
    const nothing = await app.admin.error(`mutation { reconcile(dryRun: true) { id } }`);
    expect(nothing.message).toContain("selects no process that should run and does not");
  });
});
