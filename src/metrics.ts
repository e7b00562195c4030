import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";

/** Prometheus metrics of one Fleetvisor process, served at `/metrics`. */
export interface Metrics {
  readonly registry: Registry;
  /** XML-RPC calls to supervisord, by `host:port`, method and outcome (ok, fault, timeout, refused, …). */
  readonly supervisorCalls: Counter<"supervisor" | "method" | "outcome">;
  readonly supervisorCallSeconds: Histogram<"method">;
  /**
   * Token queries that reached the database (one SELECT each), by outcome: a token found
   * valid, unknown, or not answered, or the `list` of unrevoked tokens' hashes read.
   */
  readonly tokenLookups: Counter<"outcome">;
  /** Failed authentications, by how they were answered (rejected, slowed, refused). */
  readonly authFailures: Counter<"answer">;
  /** Client addresses the failed-authentication limit remembers (bounded). */
  readonly authFailureAddresses: Gauge;
  /** Range reads of the event log by this replica's event feed: per interval, not per subscriber. */
  readonly eventFeedReads: Counter;
  /** Observed reads (`maxAgeSeconds` > 0) answered from a shared answer (`hit`) or executed (`miss`). */
  readonly sharedAnswers: Counter<"outcome">;
}

export function createMetrics(): Metrics {
  // A registry per app, not the global one: tests run several apps in one process.
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: "fleetvisor_" });
  return {
    registry,
    supervisorCalls: new Counter({
      name: "fleetvisor_supervisor_calls_total",
      help: "XML-RPC calls to supervisord",
      labelNames: ["supervisor", "method", "outcome"],
      registers: [registry],
    }),
    supervisorCallSeconds: new Histogram({
      name: "fleetvisor_supervisor_call_seconds",
      help: "Duration of XML-RPC calls to supervisord",
      labelNames: ["method"],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers: [registry],
    }),
    tokenLookups: new Counter({
      name: "fleetvisor_token_lookups_total",
      help: "Bearer-token checks that reached the database, by outcome",
      labelNames: ["outcome"],
      registers: [registry],
    }),
    authFailures: new Counter({
      name: "fleetvisor_auth_failures_total",
      help: "Failed authentications, by answer: rejected (401), slowed (401 held back), refused (429)",
      labelNames: ["answer"],
      registers: [registry],
    }),
    authFailureAddresses: new Gauge({
      name: "fleetvisor_auth_failure_addresses",
      help: "Client addresses the failed-authentication limit remembers",
      registers: [registry],
    }),
    eventFeedReads: new Counter({
      name: "fleetvisor_event_feed_reads_total",
      help: "Range reads of the event log by this replica's event feed (one per interval while anyone subscribes)",
      registers: [registry],
    }),
    sharedAnswers: new Counter({
      name: "fleetvisor_shared_answers_total",
      help: "Observed reads (maxAgeSeconds > 0) served from another caller's answer (hit) or executed (miss)",
      labelNames: ["outcome"],
      registers: [registry],
    }),
  };
}

/**
 * Where the fleet-state gauges read their values at each scrape. Each must be cheap: it
 * reads what the watchers and the WebSocket transport already keep, never asks a
 * supervisord.
 */
export interface FleetStateSources {
  /** Processes by health (every health named); rejects when that cannot be read now. */
  processesByHealth(): Promise<ReadonlyMap<string, number>>;
  /** Supervisords that answered this replica's last poll and that did not; `null` when none was polled. */
  supervisors(): { readonly reachable: number; readonly unreachable: number } | null;
  /** Subscriptions streaming over this replica's WebSockets. */
  openSubscriptions(): number;
}

/**
 * Gauges of the fleet's state beside the counters: processes by health, supervisords
 * reachable or not, open subscriptions. A gauge that cannot be read at a scrape (the
 * database away, polling off) has no sample then, rather than a stale one.
 */
export function registerFleetGauges(metrics: Metrics, sources: FleetStateSources): void {
  const registers = [metrics.registry];
  new Gauge({
    name: "fleetvisor_processes",
    help: "Registry processes by health, as the poller and the event listener last saw them",
    labelNames: ["health"],
    registers,
    async collect() {
      let counts: ReadonlyMap<string, number>;
      try {
        counts = await sources.processesByHealth();
      } catch {
        // DATABASE_UNAVAILABLE is reported where it matters (readiness, requests).
        this.reset();
        return;
      }
      for (const [health, count] of counts) this.set({ health }, count);
    },
  });
  new Gauge({
    name: "fleetvisor_supervisors",
    help: "supervisords the registry names, by whether they answered this replica's last poll",
    labelNames: ["state"],
    registers,
    collect() {
      const counts = sources.supervisors();
      if (!counts) return this.reset();
      this.set({ state: "reachable" }, counts.reachable);
      this.set({ state: "unreachable" }, counts.unreachable);
    },
  });
  new Gauge({
    name: "fleetvisor_open_subscriptions",
    help: "GraphQL subscriptions open over this replica's WebSockets",
    registers,
    collect() {
      this.set(sources.openSubscriptions());
    },
  });
}
