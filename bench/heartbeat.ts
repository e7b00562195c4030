/**
 * bench/heartbeat — not a test. The heartbeat mutation from 50 concurrent keep-alive
 * clients, against the same server's `{ __typename }` in the same run (the baseline:
 * the cost of HTTP, auth and GraphQL with no work behind it). Target: ratio ≥ 0.6.
 *
 *   npm run bench:heartbeat [-- --seconds 5 --rounds 3]
 */
import { parseArgs } from "node:util";
import { ADMIN_TOKEN, describe, graphqlCaller, measure, startServer, type Measured } from "./support.js";

const { values } = parseArgs({
  options: {
    seconds: { type: "string", default: "5" },
    rounds: { type: "string", default: "3" },
    clients: { type: "string", default: "50" },
  },
});
const seconds = Number(values.seconds);
const rounds = Number(values.rounds);
const clients = Number(values.clients);

const server = await startServer("heartbeat");
try {
  const admin = graphqlCaller(server.url, ADMIN_TOKEN, 4);
  const { createApiToken } = (await admin(
    `mutation { createApiToken(input: { name: "bench-agent", role: AGENT, processPattern: "bench-*" }) { token } }`,
  )) as {
    createApiToken: { token: string };
  };
  for (let i = 0; i < clients; i++) {
    await admin(`mutation($n: String!) { createProcess(input: { name: $n, port: 8000 }) { id } }`, { n: `bench-${i}` });
    await admin(`mutation($n: String!, $p: Int!) { registerProcess(name: $n, pid: $p) { port } }`, {
      n: `bench-${i}`,
      p: 1000 + i,
    });
  }
  const call = graphqlCaller(server.url, createApiToken.token, clients);
  const typename = () => call(`{ __typename }`);
  const heartbeat = (worker: number) =>
    call(`mutation($n: String!, $p: Int!) { heartbeat(name: $n, pid: $p) { ok } }`, {
      n: `bench-${worker}`,
      p: 1000 + worker,
    });

  // Warm-up: JIT, pools, token cache.
  await measure(clients, 1, typename);
  await measure(clients, 1, heartbeat);

  // Alternate the two so that drift on a shared machine hits both alike.
  const baseline: Measured[] = [];
  const beats: Measured[] = [];
  for (let round = 0; round < rounds; round++) {
    baseline.push(await measure(clients, seconds, typename));
    beats.push(await measure(clients, seconds, heartbeat));
  }
  const total = (ms: Measured[]): Measured => {
    const calls = ms.reduce((s, m) => s + m.calls, 0);
    const time = ms.reduce((s, m) => s + m.seconds, 0);
    const median = (key: "p50Ms" | "p99Ms") =>
      [...ms.map((m) => m[key])].sort((a, b) => a - b)[Math.floor(ms.length / 2)]!;
    return { calls, seconds: time, perSecond: calls / time, p50Ms: median("p50Ms"), p99Ms: median("p99Ms") };
  };
  const b = total(baseline);
  const h = total(beats);
  console.log(`bench/heartbeat: ${clients} keep-alive clients, ${rounds} × ${seconds}s each, alternating`);
  console.log(describe("{ __typename } (baseline)", b));
  console.log(describe("heartbeat mutation", h));
  console.log(`ratio heartbeat / baseline: ${(h.perSecond / b.perSecond).toFixed(2)} (target ≥ 0.60)`);
} finally {
  await server.stop();
}
