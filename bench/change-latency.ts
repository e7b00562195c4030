/**
 * bench/change-latency — not a test. Time from a state change in supervisord (a stop or a
 * start, through XML-RPC, timed from the moment supervisord confirms it) to the event at
 * a graphql-ws subscriber, for the push path (the event listener) and the poll path
 * (SUPERVISOR_POLL_INTERVAL_SECONDS, default 5 as in production); p50 and p99.
 *
 *   npm run bench:change-latency [-- --samples 30 --poll-interval 5]
 */
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { SupervisorClient } from "../src/supervisor/supervisor-client.js";
import { connectWs } from "../test/support/graphql-client.js";
import { Supervisord } from "../test/support/supervisord.js";
import { ADMIN_TOKEN, graphqlCaller, startServer, type BenchServer } from "./support.js";

const { values } = parseArgs({
  options: { samples: { type: "string", default: "30" }, "poll-interval": { type: "string", default: "5" } },
});
const SAMPLES = Number(values.samples);
const AUTH = { username: "bench", password: "bench-password" };
const LISTENER = fileURLToPath(
  new URL("../client-examples/supervisor-listener/fleetvisor_listener.py", import.meta.url),
);
const client = new SupervisorClient({ credentials: () => AUTH, readTimeoutMs: 10_000, controlTimeoutMs: 30_000 });

function quantile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

/**
 * `maxPauseMs`: the pause between changes is random up to this long, so that changes fall
 * anywhere in the poll cycle (a fixed pause would measure one phase of it only).
 */
async function measure(
  label: string,
  server: BenchServer,
  supervisord: Supervisord,
  maxPauseMs: number,
): Promise<number[]> {
  const call = graphqlCaller(server.url, ADMIN_TOKEN, 2);
  await call(`mutation($input: CreateProcessInput!) { createProcess(input: $input) { id } }`, {
    input: {
      name: "measured",
      port: 8000,
      supervisorHost: "127.0.0.1",
      supervisorPort: supervisord.port,
      program: "measured",
    },
  });
  const ws = connectWs(server.url, ADMIN_TOKEN);
  await ws.connected;
  const waiting = new Map<string, (at: number) => void>();
  ws.client.subscribe<{ processChanged: { message: string } }>(
    { query: `subscription { processChanged(names: ["measured"], kinds: [SUPERVISOR_STATE_CHANGED]) { message } }` },
    {
      next: (result) => {
        const message = result.data?.processChanged.message ?? "";
        for (const [state, resolve] of waiting) if (message.includes(`→ ${state}`)) resolve(performance.now());
      },
      error: (error) => console.error(error),
      complete: () => undefined,
    },
  );
  const address = { host: "127.0.0.1", port: supervisord.port };
  const arrival = (state: string) => new Promise<number>((resolve) => waiting.set(state, resolve));
  // Let the first observation (the baseline) be made.
  await new Promise((r) => setTimeout(r, 2_000));
  const latencies: number[] = [];
  for (let i = 0; i < SAMPLES; i++) {
    for (const [action, state] of [
      ["stop", "STOPPED"],
      ["start", "RUNNING"],
    ] as const) {
      const arrived = arrival(state);
      await (action === "stop" ? client.stopProcess(address, "measured") : client.startProcess(address, "measured"));
      const changedAt = performance.now();
      latencies.push((await arrived) - changedAt);
      waiting.delete(state);
      await new Promise((r) => setTimeout(r, Math.random() * maxPauseMs));
    }
  }
  await ws.dispose();
  return latencies.sort((a, b) => a - b);
}

const pushServer = await startServer("push", {
  SUPERVISOR_USERNAME: AUTH.username,
  SUPERVISOR_PASSWORD: AUTH.password,
  SUPERVISOR_POLL_INTERVAL_SECONDS: "0",
});
const pollSupervisord = await Supervisord.start({ auth: AUTH, programs: { measured: { command: "sleep 100000" } } });
const pollServer = await startServer("poll", {
  SUPERVISOR_USERNAME: AUTH.username,
  SUPERVISOR_PASSWORD: AUTH.password,
  SUPERVISOR_POLL_INTERVAL_SECONDS: values["poll-interval"],
});
let listening: Supervisord | undefined;
try {
  // The push path: a supervisord whose event listener reports to the push server.
  const { createApiToken } = (await graphqlCaller(
    pushServer.url,
    ADMIN_TOKEN,
    1,
  )(`mutation { createApiToken(input: { name: "bench-listener", role: AGENT, processPattern: "*" }) { token } }`)) as {
    createApiToken: { token: string };
  };
  listening = await Supervisord.start({
    auth: AUTH,
    programs: { measured: { command: "sleep 100000" } },
    eventListeners: {
      fleetvisor: {
        command: `python3 ${LISTENER}`,
        events: "PROCESS_STATE",
        environment: (port) => ({
          FLEETVISOR_URL: pushServer.url,
          FLEETVISOR_TOKEN: createApiToken.token,
          FLEETVISOR_SUPERVISOR: `127.0.0.1:${port}`,
        }),
      },
    },
  });
  const push = await measure("push (event listener)", pushServer, listening, 500);
  const poll = await measure(
    `poll (every ${values["poll-interval"]} s)`,
    pollServer,
    pollSupervisord,
    Number(values["poll-interval"]) * 1000,
  );
  console.log(`\nbench/change-latency: ${SAMPLES * 2} state changes per path (stops and starts)`);
  for (const [label, sorted] of [
    ["push (event listener)", push],
    [`poll (every ${values["poll-interval"]} s)`, poll],
  ] as const) {
    console.log(
      `  ${label.padEnd(24)} p50 ${quantile(sorted, 0.5).toFixed(1).padStart(8)} ms   p99 ${quantile(sorted, 0.99).toFixed(1).padStart(8)} ms   max ${sorted.at(-1)!.toFixed(1).padStart(8)} ms`,
    );
  }
} finally {
  client.close();
  await Promise.all([pushServer.stop(), pollServer.stop()]);
  await Promise.all([pollSupervisord.stop(), listening?.stop()]);
}
