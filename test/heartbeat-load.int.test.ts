import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { agents, createAndRegister } from "./support/agents.js";
import { startTestApp, type TestApp } from "./support/app.js";
import { createTestDatabase, type TestDatabase } from "./support/database.js";
import { connectWs, type WsConnection } from "./support/graphql-client.js";

/**
 * Nothing of Fleetvisor's own background work (open sockets' tokens checked again, their
 * subscriptions fed) makes heartbeats fail. A load test: it runs alone (vitest.config.ts),
 * so that what it measures is the service's, not other test files' supervisords'.
 */
describe("background work never starves heartbeats", () => {
  let db: TestDatabase;
  let app: TestApp;
  const sockets: WsConnection[] = [];

  beforeAll(async () => {
    db = await createTestDatabase("starvation");
    app = await startTestApp(db.url, {
      HEARTBEAT_INTERVAL_SECONDS: "1",
      HEARTBEAT_STALE_SECONDS: "30",
      HEARTBEAT_CHECK_INTERVAL_SECONDS: "1",
      TOKEN_CACHE_TTL_MS: "5000",
    });
  });

  afterAll(async () => {
    await Promise.all(sockets.map((s) => s.dispose()));
    await app?.stop();
    await db?.drop();
  });

  it("200 heartbeats/s beside 500 open subscriptions for 15 s: not one refused", async () => {
    const names = Array.from({ length: 100 }, (_, i) => `hb-${String(i).padStart(3, "0")}`);
    await createAndRegister(app, names);
    // Five people's dashboards, a hundred tabs each (one token may hold 200 sockets).
    const viewers = await Promise.all(
      [1, 2, 3, 4, 5].map(async (i) => (await app.client("VIEWER", `dashboards-${i}`)).token),
    );
    const { token: agent } = await app.client("AGENT", "hb-agents", "hb-*");
    for (let i = 0; i < 500; i++) {
      const ws = connectWs(app.url, viewers[i % viewers.length]!);
      sockets.push(ws);
      ws.subscribe(`subscription { processChanged { id } }`);
    }
    await Promise.all(sockets.map((s) => s.connected));
    // 100 agents, each twice a second: 200 heartbeats/s. Longer than the 10 s period at
    // which open sockets' tokens are checked again, with every cached token expired by then.
    const beating = agents(app, agent, names, 500);
    await sleep(15_000);
    await beating.stop();
    const refused = beating.outcomes.filter((o) => o.outcome !== "ok");
    // The load was real: over 100 heartbeats a second even on a busy machine.
    expect(beating.outcomes.length).toBeGreaterThan(1_500);
    expect(refused).toEqual([]);
  }, 90_000);
});
