import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { agents, call, CLIENT_TIMEOUT_MS, createAndRegister, pidOf, type CallOutcome } from "./support/agents.js";
import { ADMIN_TOKEN, startTestApp, type TestApp } from "./support/app.js";
import { PrivateMariaDb } from "./support/mariadb.js";
import { until } from "./support/wait.js";

/**
 * The registry database goes away for real (a private MariaDB, killed or SIGSTOPped):
 * nothing is declared lost because heartbeats could not be written, and every call
 * answers within its bound. (Heartbeats under Fleetvisor's own background work:
 * heartbeat-load.int.test.ts.)
 */

describe("a private database that is killed, restarted and frozen", () => {
  let server: PrivateMariaDb;
  let app: TestApp;
  let agentToken: string;
  const names = Array.from({ length: 20 }, (_, i) => `beating-${String(i).padStart(2, "0")}`);

  beforeAll(async () => {
    server = await PrivateMariaDb.start();
    app = await startTestApp(server.url(), {
      HEARTBEAT_INTERVAL_SECONDS: "1",
      HEARTBEAT_STALE_SECONDS: "5",
      HEARTBEAT_CHECK_INTERVAL_SECONDS: "1",
      DATABASE_QUERY_TIMEOUT_MS: "4000",
      DATABASE_CONNECT_TIMEOUT_MS: "2000",
    });
    agentToken = (await app.client("AGENT", "beaters", "beating-*")).token;
    await createAndRegister(app, names);
  });

  afterAll(async () => {
    await app?.stop();
    await server?.stop();
  });

  /** Processes declared lost since `after` (an event id), from the log. */
  async function declaredLost(after: string): Promise<string[]> {
    const rows = await server.query<{ name: string }>(
      "SELECT process_name AS name FROM fleetvisor_process_events WHERE kind = 'HEARTBEAT_LOST' AND id > ? ORDER BY id",
      [after],
    );
    return rows.map((row) => row.name);
  }

  async function lastEventId(): Promise<string> {
    const [row] = await server.query<{ id: string }>(
      "SELECT COALESCE(MAX(id), 0) AS id FROM fleetvisor_process_events",
    );
    return String(row!.id);
  }

  it("a restart while agents keep beating: no process declared lost; a real loss afterwards still is", async () => {
    const start = await lastEventId();
    const beating = agents(app, agentToken, names, 1_000);
    try {
      await sleep(2_000);
      await server.kill();
      await sleep(6_000); // longer than the 5 s stale limit
      await server.restart();
      // Recovered: give the watchdog more than one stale period to make a mistake.
      await until("heartbeats answered again", async () => beating.outcomes.at(-1)?.outcome === "ok", 20_000);
      await sleep(7_000);
      const failedDuringOutage = beating.outcomes.filter((o) => o.outcome !== "ok").length;
      expect(failedDuringOutage).toBeGreaterThan(0); // the outage was real
      expect(await declaredLost(start)).toEqual([]);
    } finally {
      await beating.stop();
    }

    // The watchdog still works: one agent stops beating and is declared lost, alone.
    const later = await lastEventId();
    const others = agents(app, agentToken, names.slice(1), 1_000);
    try {
      await until("the silent one declared lost", async () => (await declaredLost(later)).length > 0, 15_000);
      expect(await declaredLost(later)).toEqual([names[0]]);
    } finally {
      await others.stop();
    }
  }, 90_000);

  it("a 10 s freeze: every call answers within its bound, agent calls within the clients' 3 s; then recovery", async () => {
    // Every process beating again before the freeze.
    await app.admin.data(`mutation { heartbeat(name: "${names[0]}", pid: ${pidOf(names[0]!)}) { ok } }`);
    const viewer = (await app.client("VIEWER", "frozen-viewer")).token;
    const beating = agents(app, agentToken, names, 1_000);
    const reads: CallOutcome[] = [];
    const writes: CallOutcome[] = [];
    let reading = true;
    const readers = (async () => {
      for (let i = 0; reading; i++) {
        const [read, write] = await Promise.all([
          call(app.url, viewer, `{ processes { name status } }`, 30_000),
          call(
            app.url,
            ADMIN_TOKEN,
            `mutation { updateProcess(name: "${names[i % names.length]}", input: { port: ${9000 + (i % 100)} }) { port } }`,
            30_000,
          ),
        ]);
        reads.push(read);
        writes.push(write);
        await sleep(200);
      }
    })();
    await sleep(1_500);
    const before = { agents: beating.outcomes.length, reads: reads.length };
    server.freeze();
    await sleep(10_000);
    server.thaw();
    const during = {
      agents: beating.outcomes.slice(before.agents),
      reads: reads.slice(before.reads),
      writes: writes.slice(before.reads),
    };
    await until("calls answered again", async () => reads.at(-1)?.outcome === "ok", 30_000);
    reading = false;
    await readers;
    await beating.stop();

    // The freeze was real: calls were refused, with the code that says why.
    expect(during.agents.filter((o) => o.outcome === "DATABASE_UNAVAILABLE").length).toBeGreaterThan(0);
    // Agent calls: within the clients' wait, never "no answer".
    const slowestAgent = Math.max(...during.agents.map((o) => o.ms));
    expect(during.agents.filter((o) => o.outcome === "no answer")).toEqual([]);
    expect(slowestAgent).toBeLessThan(CLIENT_TIMEOUT_MS);
    // Every other call: within token check (1 s) + acquire (2 s) + query timeout (4 s).
    const bound = 1_000 + 2_000 + 4_000 + 500;
    for (const outcome of [...during.reads, ...during.writes]) {
      expect(["ok", "DATABASE_UNAVAILABLE"]).toContain(outcome.outcome);
      expect(outcome.ms).toBeLessThan(bound);
    }
  }, 120_000);
});
