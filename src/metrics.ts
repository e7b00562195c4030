import { Counter, Histogram, Registry, collectDefaultMetrics } from "prom-client";

/** Prometheus metrics of one Fleetvisor process, served at `/metrics`. */
export interface Metrics {
  readonly registry: Registry;
  /** XML-RPC calls to supervisord, by `host:port`, method and outcome (ok, fault, timeout, refused, …). */
  readonly supervisorCalls: Counter<"supervisor" | "method" | "outcome">;
  readonly supervisorCallSeconds: Histogram<"method">;
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
  };
}
