/**
 * bench/soak — not a test, not in CI: minutes long. 1,000 agents heartbeating every second
 * and 200 subscribers, for 5 minutes, while an admin changes a process every second.
 * Expected: zero errors, every subscriber's event count equal to the event log's, and the
 * server's resident memory flat (the first and last samples after the warm-up within 10%).
 *
 *   npm run soak                          # 5 minutes
 *   BENCH_SOAK_SECONDS=60 npm run soak    # a trial run
 */
import { createClient, type Client } from "graphql-ws";
import WebSocket from "ws";
import { connectDatabase, report, sleep, waitFor } from "./figures.js";
import { ADMIN_TOKEN, graphqlCaller, startServer } from "./support.js";

const SECONDS = Number(process.env.BENCH_SOAK_SECONDS ?? 300);
const AGENTS = 1_000;
const SUBSCRIBERS = 200;
const MB = 1024 * 1024;

const server = await startServer("soak", {
  WS_MAX_CONNECTIONS_PER_TOKEN: "10000",
  HEARTBEAT_INTERVAL_SECONDS: "1",
  HEARTBEAT_STALE_SECONDS: "30",
  SUPERVISOR_POLL_INTERVAL_SECONDS: "0",
});
const clients: Client[] = [];
const timers: NodeJS.Timeout[] = [];
try {
  const admin = graphqlCaller(server.url, ADMIN_TOKEN, 4);
  const { createApiToken } = (await admin(
    `mutation { createApiToken(input: { name: "soak-agents", role: AGENT, processPattern: "soak-*" }) { token } }`,
  )) as { createApiToken: { token: string } };
  for (let i = 0; i < AGENTS; i += 50) {
    await Promise.all(
      Array.from({ length: 50 }, (_, j) =>
        admin(`mutation($n: String!) { createProcess(input: { name: $n, port: 8000 }) { id } }`, {
          n: `soak-${String(i + j).padStart(4, "0")}`,
        }),
      ),
    );
  }
  const agent = graphqlCaller(server.url, createApiToken.token, 64);
  for (let i = 0; i < AGENTS; i++) {
    await agent(`mutation($n: String!, $p: Int!) { registerProcess(name: $n, pid: $p) { port } }`, {
      n: `soak-${String(i).padStart(4, "0")}`,
      p: 10_000 + i,
    });
  }
  const db = await connectDatabase(server.databaseUrl);
  const [startRows] = (await db.query("SELECT COALESCE(MAX(id), 0) AS id FROM fleetvisor_process_events")) as [
    { id: number }[],
    unknown,
  ];
  const startId = Number(startRows[0]!.id);

  // 200 subscribers from the same cursor: each must see every recorded change after it.
  const counts = new Array<number>(SUBSCRIBERS).fill(0);
  let subscriptionErrors = 0;
  for (let i = 0; i < SUBSCRIBERS; i++) {
    const client = createClient({
      url: `${server.url.replace(/^http/, "ws")}/graphql`,
      webSocketImpl: WebSocket,
      connectionParams: { authorization: `Bearer ${ADMIN_TOKEN}` },
      lazy: false,
      retryAttempts: 0,
      onNonLazyError: () => void subscriptionErrors++,
    });
    clients.push(client);
    client.subscribe(
      {
        query: "subscription($after: ID) { processChanged(after: $after) { id kind } }",
        variables: { after: String(startId) },
      },
      {
        next: (result) => (result.errors ? subscriptionErrors++ : counts[i]!++),
        error: () => void subscriptionErrors++,
        complete: () => undefined,
      },
    );
    // 200 a second: each subscription reads the log where it starts (see bench/fanout.ts).
    if (i % 50 === 49) await sleep(250);
  }

  // Every agent beats once a second, spread over the second.
  let heartbeats = 0;
  let heartbeatErrors = 0;
  for (let i = 0; i < AGENTS; i++) {
    const name = `soak-${String(i).padStart(4, "0")}`;
    const beat = () =>
      agent(`mutation($n: String!, $p: Int!) { heartbeat(name: $n, pid: $p) { ok } }`, { n: name, p: 10_000 + i }).then(
        (data) => ((data as { heartbeat: { ok: boolean } }).heartbeat.ok ? heartbeats++ : heartbeatErrors++),
        () => heartbeatErrors++,
      );
    timers.push(
      setTimeout(() => {
        void beat();
        timers.push(setInterval(() => void beat(), 1_000));
      }, Math.random() * 1_000),
    );
  }
  // An admin changes a process every second: recorded events for the subscribers.
  let changes = 0;
  let changeErrors = 0;
  timers.push(
    setInterval(() => {
      admin(`mutation($n: String!, $p: Int!) { updateProcess(name: $n, input: { port: $p }) { id } }`, {
        n: `soak-${String(changes % AGENTS).padStart(4, "0")}`,
        p: 9_000 + (changes % 1000),
      }).then(
        () => changes++,
        () => changeErrors++,
      );
    }, 1_000),
  );

  await sleep(20_000); // warm-up
  const samples: number[] = [];
  const deadline = Date.now() + SECONDS * 1000;
  while (Date.now() < deadline) {
    samples.push(server.rssBytes());
    await sleep(5_000);
  }
  samples.push(server.rssBytes());
  for (const timer of timers) clearInterval(timer);
  await sleep(2_000); // the last calls settle

  const [recordedRows] = (await db.query(
    "SELECT COUNT(*) AS n FROM fleetvisor_process_events WHERE id > ? AND process_name <> ''",
    [startId],
  )) as [{ n: number }[], unknown];
  const recorded = Number(recordedRows[0]!.n);
  await waitFor("every subscriber caught up", async () => counts.every((c) => c >= Number(recorded)), 30_000).catch(
    () => undefined,
  );
  await db.end();
  const matching = counts.filter((c) => c === Number(recorded)).length;
  const errors = heartbeatErrors + changeErrors + subscriptionErrors;
  const start = samples[0]!;
  const end = samples.at(-1)!;
  console.log(`RSS MB ${samples.map((s) => (s / MB).toFixed(0)).join(" ")}`);
  report("soak", [
    {
      name: `errors over ${SECONDS} s (heartbeats, changes, subscriptions)`,
      value: errors,
      unit: "errors",
      baseline: { name: "heartbeats answered", value: heartbeats, unit: "" },
      target: "0",
      met: errors === 0,
      note: `${heartbeatErrors} heartbeat, ${changeErrors} change, ${subscriptionErrors} subscription errors`,
    },
    {
      name: `subscribers whose event count equals the event log's`,
      value: matching,
      unit: `of ${SUBSCRIBERS}`,
      baseline: { name: "events recorded", value: Number(recorded), unit: "" },
      target: `${SUBSCRIBERS}`,
      met: matching === SUBSCRIBERS,
      note: `counts seen: ${[...new Set(counts)].slice(0, 5).join(", ")}`,
    },
    {
      name: "resident memory, end against start",
      value: ((end - start) / start) * 100,
      unit: "%",
      baseline: { name: "start", value: start / MB, unit: "MB" },
      target: "within ±10%",
      met: Math.abs(end - start) / start <= 0.1,
      note: `end ${(end / MB).toFixed(0)} MB, peak ${(Math.max(...samples) / MB).toFixed(0)} MB`,
    },
  ]);
} finally {
  for (const timer of timers) clearInterval(timer);
  await Promise.all(clients.map((c) => c.dispose()));
  await server.stop();
}
