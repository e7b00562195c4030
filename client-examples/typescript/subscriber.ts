/**
 * A small graphql-ws subscriber, for frontend teams: prints every change of the registry
 * as a JSON line, and resumes after a lost connection from the last event it printed, so
 * that it misses nothing.
 *
 *   FLEETVISOR_URL=http://localhost:4000 FLEETVISOR_TOKEN=... npx tsx client-examples/typescript/subscriber.ts [--names a,b] [--after ID]
 */
import { parseArgs } from "node:util";
import { createClient, type Client } from "graphql-ws";
import WebSocket from "ws";

const CHANGES = `subscription ($names: [String!], $after: ID) {
  processChanged(names: $names, after: $after) {
    id kind processName at actor message status
    process { name status pid lastHeartbeat }
  }
}`;

export interface ProcessChange {
  readonly id: string;
  readonly kind: string;
  readonly processName: string;
  readonly at: string;
  readonly actor: string;
  readonly message: string | null;
  readonly status: string | null;
}

export interface SubscriberOptions {
  readonly url: string;
  readonly token: string;
  readonly names?: readonly string[];
  /** Start after this event id (the last one seen before). */
  readonly after?: string;
  readonly onChange: (change: ProcessChange) => void;
  readonly onStatus?: (status: "connected" | "reconnecting" | "closed", detail?: string) => void;
}

/**
 * Subscribes to `processChanged`; after every reconnect it subscribes again with
 * `after: <last id seen>` (graphql-ws alone would resend the first variables).
 * Returns a function that stops it.
 */
export function subscribeToChanges(options: SubscriberOptions): () => Promise<void> {
  let lastId = options.after;
  let unsubscribe: (() => void) | undefined;
  let everConnected = false;
  const client: Client = createClient({
    url: `${options.url.replace(/^http/, "ws").replace(/\/$/, "")}/graphql`,
    webSocketImpl: WebSocket,
    connectionParams: { authorization: `Bearer ${options.token}` },
    lazy: false,
    // Pings find a connection that died without closing (a half-open TCP path says nothing).
    keepAlive: 15_000,
    retryAttempts: Infinity,
    // 4401: the token is not accepted; retrying will not change that. (1013, a database
    // that cannot check it now, is retried.)
    shouldRetry: (event) => (event as { code?: number }).code !== 4401,
    on: {
      connected: () => {
        options.onStatus?.("connected");
        if (everConnected) resubscribe();
        everConnected = true;
      },
      closed: (event) => {
        const code = (event as { code?: number }).code;
        options.onStatus?.(code === 4401 ? "closed" : "reconnecting", code ? `code ${code}` : undefined);
      },
    },
    onNonLazyError: () => undefined,
  });

  const resubscribe = (): void => {
    unsubscribe?.();
    unsubscribe = client.subscribe<{ processChanged: ProcessChange }>(
      { query: CHANGES, variables: { names: options.names ?? null, after: lastId ?? null } },
      {
        next: ({ data, errors }) => {
          if (errors) options.onStatus?.("closed", errors.map((e) => e.message).join("; "));
          if (!data) return;
          lastId = data.processChanged.id;
          options.onChange(data.processChanged);
        },
        error: (error) => options.onStatus?.("reconnecting", String((error as Error).message ?? error)),
        complete: () => undefined,
      },
    );
  };
  resubscribe();
  return async () => {
    unsubscribe?.();
    await client.dispose();
  };
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { names: { type: "string" }, after: { type: "string" } } });
  const url = process.env.FLEETVISOR_URL;
  const token = process.env.FLEETVISOR_TOKEN;
  if (!url || !token) {
    process.stderr.write("set FLEETVISOR_URL and FLEETVISOR_TOKEN\n");
    process.exit(2);
  }
  const stop = subscribeToChanges({
    url,
    token,
    names: values.names?.split(",").filter(Boolean),
    after: values.after,
    onChange: (change) => process.stdout.write(`${JSON.stringify(change)}\n`),
    onStatus: (status, detail) => process.stderr.write(`subscriber: ${status}${detail ? ` (${detail})` : ""}\n`),
  });
  for (const signal of ["SIGINT", "SIGTERM"] as const)
    process.once(signal, () => void stop().then(() => process.exit(0)));
}

if (process.argv[1] && import.meta.url === new URL(`file://${process.argv[1]}`).href) void main();
