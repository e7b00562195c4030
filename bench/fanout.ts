/**
 * bench/fanout — not a test. One recorded event delivered to 2,000 graphql-ws subscribers:
 *
 * - on the replica that records it: p99 < 100 ms;
 * - on another replica, through Redis: p99 < 150 ms;
 * - on another replica without Redis (the event-log follower): p99 under one log-read
 *   interval plus 100 ms;
 * - the database cost of the log follower at 2,000 idle subscribers: range reads per read
 *   interval per replica (from /metrics): one, not one per subscriber.
 *
 * Latency is from just before the mutation that records the event is sent to the event's
 * arrival at each subscriber, so it includes the mutation itself.
 *
 *   npm run bench:fanout [-- --subscribers 2000 --events 20]
 */
import { parseArgs } from "node:util";
import { GRAPHQL_TRANSPORT_WS_PROTOCOL, MessageType, parseMessage, stringifyMessage } from "graphql-ws";
import WebSocket from "ws";
import { metric, quantile, report, sleep, type Figure } from "./figures.js";
import { ADMIN_TOKEN, graphqlCaller, startServer, type BenchServer } from "./support.js";

const { values } = parseArgs({
  options: {
    subscribers: { type: "string", default: "2000" },
    events: { type: "string", default: "20" },
    "idle-seconds": { type: "string", default: "10" },
  },
});
const SUBSCRIBERS = Number(values.subscribers);
const EVENTS = Number(values.events);
/** The event feed's read interval (src/app.ts, EVENT_LOG_READ_INTERVAL_MS). */
const LOG_READ_INTERVAL_MS = 500;
const REDIS_URL = process.env.BENCH_REDIS_URL ?? "redis://127.0.0.1:6379";
const SUBSCRIPTION = `subscription { processChanged(names: ["fanout-target"], kinds: [UPDATED]) { id message } }`;
const env = {
  WS_MAX_CONNECTIONS_PER_TOKEN: "100000",
  SUPERVISOR_POLL_INTERVAL_SECONDS: "0",
  HEARTBEAT_CHECK_INTERVAL_SECONDS: "0",
  AUTH_FAILURES_PER_MINUTE: "0",
};

interface Subscribers {
  /** Resolves with each subscriber's arrival time (performance.now()) of the event whose message has `tag`. */
  arrivals(tag: string): Promise<number[]>;
  close(): Promise<void>;
}

interface Waiting {
  readonly tag: string;
  readonly times: number[];
  /** The messages as they arrived, read once every subscriber has one (not while timing). */
  readonly messages: string[];
  readonly resolve: (times: number[]) => void;
  readonly reject: (error: Error) => void;
}

/**
 * The messages that carried an event, read with graphql-ws's own parser once every
 * subscriber has one: each must be a `next` whose data names the event's tag.
 */
function checkDelivered(wait: Waiting): void {
  for (const raw of wait.messages) {
    const message = parseMessage(raw);
    if (message.type !== MessageType.Next) throw new Error(`expected a next message, got ${raw.slice(0, 200)}`);
    const data = message.payload.data as { processChanged?: { message?: string } } | null | undefined;
    if (!data?.processChanged?.message?.includes(wait.tag)) {
      throw new Error(`a next message without the event's tag: ${raw.slice(0, 200)}`);
    }
  }
}

/**
 * `count` subscribers on `server`, one socket and one subscription each, speaking the
 * graphql-ws protocol (graphql-transport-ws) over `ws`. An event's message is timed when
 * its frame arrives and parsed, with graphql-ws's own parser, once all have arrived: 2,000
 * graphql-ws clients in this one process would otherwise parse 2,000 messages in turn
 * before the last arrival is timed, and that queue (about 40 ms of CPU per event, on the
 * cores the replica uses) would be measured as delivery. Each real subscriber parses its
 * one message on its own machine.
 */
async function subscribe(server: BenchServer, count: number): Promise<Subscribers> {
  const url = `${server.url.replace(/^http/, "ws")}/graphql`;
  const sockets: WebSocket[] = [];
  let waiting: Waiting | undefined;
  let subscribed = 0;
  let refused = 0;
  let lost: Error | undefined;
  let closing = false;
  let allSubscribed!: () => void;
  const ready = new Promise<void>((resolve) => (allSubscribed = resolve));
  const fail = (error: Error): void => {
    lost ??= error;
    waiting?.reject(error);
  };
  for (let i = 0; i < count; i++) {
    const socket = new WebSocket(url, GRAPHQL_TRANSPORT_WS_PROTOCOL);
    sockets.push(socket);
    let live = false;
    let subscription = 0;
    const open = (): void => {
      if (socket.readyState !== WebSocket.OPEN) return;
      socket.send(
        stringifyMessage({ type: MessageType.Subscribe, id: String(++subscription), payload: { query: SUBSCRIPTION } }),
      );
    };
    socket.on("open", () =>
      socket.send(
        stringifyMessage({ type: MessageType.ConnectionInit, payload: { authorization: `Bearer ${ADMIN_TOKEN}` } }),
      ),
    );
    socket.on("message", (data: Buffer) => {
      const at = performance.now();
      const text = data.toString();
      if (live && waiting && text.includes(waiting.tag)) {
        waiting.times.push(at);
        waiting.messages.push(text);
        if (waiting.times.length === count) {
          const done = waiting;
          waiting = undefined;
          try {
            checkDelivered(done);
            done.resolve(done.times);
          } catch (error) {
            done.reject(error as Error);
          }
        }
        return;
      }
      const message = parseMessage(text);
      if (message.type === MessageType.ConnectionAck) return open();
      if (message.type === MessageType.Next) {
        if (!live) {
          live = true;
          if (++subscribed === count) allSubscribed();
        }
        return;
      }
      if (message.type === MessageType.Error || message.type === MessageType.Complete) {
        // As a dashboard's client does: a subscription refused (the database busy) is made again.
        if (live) return fail(new Error(`a live subscription ended: ${text.slice(0, 300)}`));
        refused++;
        setTimeout(open, 500);
      }
    });
    socket.on("error", (error) => fail(new Error(`a subscriber's socket failed: ${error.message}`)));
    socket.on("close", (code, reason) => {
      if (!closing) fail(new Error(`a subscriber's socket closed: ${code} ${reason.toString()}`));
    });
    // 200 a second: each subscription reads where the log ends and replays from there, and
    // 2,000 in one second overflow the request pool's queue (DATABASE_UNAVAILABLE).
    if (i % 50 === 49) await sleep(250);
  }
  // Every subscription is live once it has seen an event recorded after it subscribed.
  const admin = graphqlCaller(server.url, ADMIN_TOKEN, 1);
  const deadline = Date.now() + 120_000;
  let round = 0;
  while (subscribed < count) {
    if (lost) throw lost;
    if (Date.now() > deadline) throw new Error(`only ${subscribed} of ${count} subscriptions became live`);
    await admin(`mutation($p: Int!) { updateProcess(name: "fanout-target", input: { port: $p }) { id } }`, {
      p: 30_000 + (round++ % 1000),
    }).catch(() => undefined);
    await Promise.race([ready, sleep(1_000)]);
  }
  if (refused > 0) console.log(`${refused} subscriptions were refused at first and made again`);
  return {
    arrivals(tag) {
      if (lost) return Promise.reject(lost);
      return new Promise((resolve, reject) => (waiting = { tag, times: [], messages: [], resolve, reject }));
    },
    async close() {
      closing = true;
      await Promise.all(
        sockets.map(
          (socket) =>
            new Promise<void>((resolve) => {
              if (socket.readyState === WebSocket.CLOSED) return resolve();
              socket.once("close", () => resolve());
              socket.close(1000);
            }),
        ),
      );
    },
  };
}

/** Latencies (ms) of `EVENTS` events recorded through `writer`, as `subscribers` saw them. */
async function deliver(writer: BenchServer, subscribers: Subscribers): Promise<number[]> {
  const admin = graphqlCaller(writer.url, ADMIN_TOKEN, 1);
  const latencies: number[] = [];
  for (let i = 0; i < EVENTS; i++) {
    const tag = `fanout-${i}-${Date.now()}`;
    const arrived = subscribers.arrivals(tag);
    // A subscriber lost before the race below is waited on fails the run there, not as an
    // unhandled rejection that would leave the servers running.
    arrived.catch(() => undefined);
    await sleep(200 + Math.random() * 300);
    const sent = performance.now();
    // The registry's change event says what changed: the tag travels as the program's name.
    await admin(
      `mutation($program: String!) { updateProcess(name: "fanout-target", input: { program: $program }) { id } }`,
      { program: tag },
    );
    const times = await Promise.race([
      arrived,
      sleep(30_000).then(() => {
        throw new Error(`event ${i} did not reach every subscriber within 30 s`);
      }),
    ]);
    for (const at of times) latencies.push(at - sent);
  }
  return latencies;
}

const servers: BenchServer[] = [];
const figures: Figure[] = [];
try {
  // Two replicas with Redis, on one database; two without, on another.
  const redisA = await startServer("fanout_redis", { ...env, REDIS_URL });
  servers.push(redisA);
  const redisB = await startServer("fanout_redis", { ...env, REDIS_URL }, { replicaOf: redisA });
  servers.push(redisB);
  const logA = await startServer("fanout_log", env);
  servers.push(logA);
  const logB = await startServer("fanout_log", env, { replicaOf: logA });
  servers.push(logB);
  for (const server of [redisA, logA]) {
    await graphqlCaller(
      server.url,
      ADMIN_TOKEN,
      1,
    )(`mutation { createProcess(input: { name: "fanout-target", port: 30000, program: "ready" }) { id } }`);
  }

  const cases = [
    ["on the recording replica (Redis)", redisA, redisA, 100],
    ["on another replica, through Redis", redisA, redisB, 150],
    ["on another replica, without Redis (log follower)", logA, logB, LOG_READ_INTERVAL_MS + 100],
  ] as const;
  for (const [label, writer, reader, targetMs] of cases) {
    console.log(`${SUBSCRIBERS} subscribers ${label}…`);
    const subscribers = await subscribe(reader, SUBSCRIBERS);
    try {
      const latencies = await deliver(writer, subscribers);
      const p99 = quantile(latencies, 0.99);
      figures.push({
        name: `one event to ${SUBSCRIBERS} subscribers ${label}, p99`,
        value: p99,
        unit: "ms",
        baseline: { name: "p50", value: quantile(latencies, 0.5), unit: "ms" },
        target: `< ${targetMs} ms`,
        met: p99 < targetMs,
        note: `${EVENTS} events, ${latencies.length} deliveries`,
      });
      if (reader === logB) {
        // The log follower's cost with every subscriber idle: range reads per interval.
        const idleSeconds = Number(values["idle-seconds"]);
        const before = await metric(logB.url, "fleetvisor_event_feed_reads_total");
        await sleep(idleSeconds * 1000);
        const reads = (await metric(logB.url, "fleetvisor_event_feed_reads_total")) - before;
        const perInterval = reads / ((idleSeconds * 1000) / LOG_READ_INTERVAL_MS);
        figures.push({
          name: `event-log range reads per ${LOG_READ_INTERVAL_MS} ms interval, one replica, ${SUBSCRIBERS} idle subscribers`,
          value: perInterval,
          unit: "reads",
          baseline: { name: "subscribers", value: SUBSCRIBERS, unit: "" },
          target: "1 per interval, not 1 per subscriber",
          met: perInterval <= 1.05,
          note: `${reads} reads in ${idleSeconds} s`,
        });
      }
    } finally {
      await subscribers.close();
    }
  }
  report("fanout", figures);
} finally {
  // Replicas first: the first of each pair drops the database.
  await Promise.all(servers.filter((_, i) => i % 2 === 1).map((s) => s.stop()));
  await Promise.all(servers.filter((_, i) => i % 2 === 0).map((s) => s.stop()));
}
