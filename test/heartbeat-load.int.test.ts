import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { agents, createAndRegister } from "./support/agents.js";
import { startTestApp, type TestApp } from "./support/app.js";
import { createTestDatabase, type TestDatabase } from "./support/database.js";
import { connectWs, type WsConnection } from "./support/graphql-client.js";

/** Open sockets' tokens are checked again this often (`WS_TOKEN_RECHECK_SECONDS`)… */
const RECHECK_SECONDS = 2;
/** …and no verdict is remembered from one check to the next. */
const TOKEN_CACHE_TTL_MS = 1_000;
/** Three re-checks of the 500 sockets' five tokens, each looked up in the database again. */
const LOAD_SECONDS = 3 * RECHECK_SECONDS;

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
      TOKEN_CACHE_TTL_MS: String(TOKEN_CACHE_TTL_MS),
      WS_TOKEN_RECHECK_SECONDS: String(RECHECK_SECONDS),
    });
  });

  afterAll(async () => {
    await Promise.all(sockets.map((s) => s.dispose()));
    await app?.stop();
    await db?.drop();
  });

  it(`200 heartbeats/s beside 500 open subscriptions for ${LOAD_SECONDS} s of token re-checks: not one refused`, async () => {
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
    // 100 agents, each twice a second: 200 heartbeats/s, through three re-checks of the
    // open sockets' tokens with every cached verdict expired.
    const beating = agents(app, agent, names, 500);
    await sleep(LOAD_SECONDS * 1000);
    await beating.stop();
    const refused = beating.outcomes.filter((o) => o.outcome !== "ok");
    // The load was real: over 100 heartbeats a second even on a busy machine.
    expect(beating.outcomes.length).toBeGreaterThan(100 * LOAD_SECONDS);
    expect(refused).toEqual([]);
  }, 90_000);
});
