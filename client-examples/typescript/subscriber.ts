/**
 * A small graphql-ws subscriber, for frontend teams: prints every change of the registry
 * as a JSON line, and resumes after a lost connection from the last event it printed, so
 * that it misses nothing.
 *
 *   FLEETVISOR_URL=http://localhost:4000 FLEETVISOR_TOKEN=... npx tsx client-examples/typescript/subscriber.ts [--names a,b] [--after ID]
 *
 * FLEETVISOR_URL may also be the GraphQL endpoint (http://localhost:4000/graphql).
 * The token may come from a file named by FLEETVISOR_TOKEN_FILE instead. When Fleetvisor
 * refuses the token or the subscription, it prints one line saying why and exits 1;
 * everything else (a restart, a lost network) it rides out.
 */
import { parseArgs } from "node:util";
import { CloseCode, createClient, type Client } from "graphql-ws";
import WebSocket from "ws";
import { graphqlEndpoint, tokenFromEnvironment } from "./registry-client.js";

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
  /**
   * `reconnecting` after a lost connection (with the close code), `error` for an event
   * Fleetvisor could not resolve, and `closed` when the subscription has ended for good
   * (the token or the subscription refused): `detail` then says why, in one sentence.
   */
  readonly onStatus?: (status: SubscriberStatus, detail?: string) => void;
}

export type SubscriberStatus = "connected" | "reconnecting" | "error" | "closed";

function isCloseEvent(value: unknown): value is { code: number; reason: string } {
  return typeof value === "object" && value !== null && typeof (value as { code?: unknown }).code === "number";
}

/** Why a subscription ended, for people: graphql-ws hands over a CloseEvent, GraphQL errors or an Error. */
export function describeFailure(failure: unknown): string {
  if (isCloseEvent(failure)) {
    const reason = failure.reason ? `: ${failure.reason}` : "";
    if (failure.code === CloseCode.Unauthorized || failure.code === CloseCode.Forbidden) {
      return `Fleetvisor refused the token (${failure.code}${reason}); check FLEETVISOR_TOKEN or FLEETVISOR_TOKEN_FILE`;
    }
    return `Fleetvisor closed the connection (${failure.code}${reason})`;
  }
  if (Array.isArray(failure)) {
    const messages = failure.map((e) => {
      const error = e as { message?: unknown; extensions?: { code?: unknown } };
      const code = typeof error.extensions?.code === "string" ? `${error.extensions.code}: ` : "";
      return `${code}${String(error.message)}`;
    });
    return `Fleetvisor refused the subscription (${messages.join("; ")})`;
  }
  if (failure instanceof Error) return failure.message;
  return JSON.stringify(failure);
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
  let lastClose: number | undefined;
  const client: Client = createClient({
    // FLEETVISOR_URL may be Fleetvisor's address or its /graphql endpoint, as for the registry client.
    url: graphqlEndpoint(options.url).replace(/^http/, "ws"),
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
        lastClose = isCloseEvent(event) ? event.code : undefined;
      },
      // Only retries are news: a close that ends it all reaches the subscription's error.
      connecting: (isRetry) => {
        if (isRetry) options.onStatus?.("reconnecting", lastClose ? `code ${lastClose}` : undefined);
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
          if (errors) options.onStatus?.("error", errors.map((e) => e.message).join("; "));
          if (!data) return;
          lastId = data.processChanged.id;
          options.onChange(data.processChanged);
        },
        // graphql-ws has retried whatever could be retried: this one is final.
        error: (failure) => options.onStatus?.("closed", describeFailure(failure)),
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
  let token: string;
  try {
    token = tokenFromEnvironment();
  } catch (error) {
    process.stderr.write(`subscriber: ${(error as Error).message}\n`);
    process.exit(2);
  }
  if (!url || !token) {
    process.stderr.write("subscriber: set FLEETVISOR_URL and FLEETVISOR_TOKEN (or FLEETVISOR_TOKEN_FILE)\n");
    process.exit(2);
  }
  try {
    graphqlEndpoint(url);
  } catch (error) {
    process.stderr.write(`subscriber: ${(error as Error).message}\n`);
    process.exit(2);
  }
  const stop = subscribeToChanges({
    url,
    token,
    names: values.names?.split(",").filter(Boolean),
    after: values.after,
    onChange: (change) => process.stdout.write(`${JSON.stringify(change)}\n`),
    onStatus: (status, detail) => {
      if (status === "closed") {
        process.stderr.write(`subscriber: ${detail}\n`);
        process.exit(1);
      }
      process.stderr.write(`subscriber: ${status}${detail ? ` (${detail})` : ""}\n`);
    },
  });
  for (const signal of ["SIGINT", "SIGTERM"] as const)
    process.once(signal, () => void stop().then(() => process.exit(0)));
}

if (process.argv[1] && import.meta.url === new URL(`file://${process.argv[1]}`).href) void main();
