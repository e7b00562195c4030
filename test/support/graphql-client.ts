import { createClient, type Client, type ExecutionResult } from "graphql-ws";
import WebSocket from "ws";

export interface HttpResult<T = Record<string, unknown>> {
  readonly status: number;
  readonly headers: Headers;
  readonly body: ExecutionResult<T> & { errors?: ReadonlyArray<GraphQLErrorJson> };
}

export interface GraphQLErrorJson {
  readonly message: string;
  readonly path?: readonly (string | number)[];
  readonly extensions?: { readonly code?: string; readonly [key: string]: unknown };
}

/** A plain GraphQL-over-HTTP client, as a frontend team would write one. */
export class GraphQLHttpClient {
  constructor(
    readonly url: string,
    private readonly token?: string,
  ) {}

  as(token: string | undefined): GraphQLHttpClient {
    return new GraphQLHttpClient(this.url, token);
  }

  async request<T = Record<string, unknown>>(
    query: string,
    variables?: Record<string, unknown>,
  ): Promise<HttpResult<T>> {
    const response = await fetch(`${this.url}/graphql`, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        accept: "application/graphql-response+json, application/json",
        ...(this.token ? { authorization: `Bearer ${this.token}` } : {}),
      },
      body: JSON.stringify({ query, variables }),
    });
    return {
      status: response.status,
      headers: response.headers,
      body: (await response.json()) as HttpResult<T>["body"],
    };
  }

  /** The data, or an exception carrying the errors. */
  async data<T = Record<string, unknown>>(query: string, variables?: Record<string, unknown>): Promise<T> {
    const result = await this.request<T>(query, variables);
    if (result.body.errors?.length || !result.body.data) {
      throw new Error(`GraphQL errors (HTTP ${result.status}): ${JSON.stringify(result.body.errors)}`);
    }
    return result.body.data;
  }

  /** The single error a request is expected to fail with. */
  async error(query: string, variables?: Record<string, unknown>): Promise<GraphQLErrorJson & { status: number }> {
    const result = await this.request(query, variables);
    const error = result.body.errors?.[0];
    if (!error) throw new Error(`expected an error, got ${JSON.stringify(result.body)}`);
    return { ...error, status: result.status };
  }
}

/** What a subscriber saw. */
export class SubscriptionRecorder<T> {
  readonly values: T[] = [];
  readonly errors: unknown[] = [];
  completed = false;
  private readonly waiters = new Set<() => unknown>();

  push(value: T): void {
    this.values.push(value);
    this.notify();
  }

  fail(error: unknown): void {
    this.errors.push(error);
    this.notify();
  }

  complete(): void {
    this.completed = true;
    this.notify();
  }

  private notify(): void {
    for (const waiter of this.waiters) waiter();
  }

  /** Waits until `predicate` holds for what was seen so far, or fails after `timeoutMs`. */
  until(predicate: (values: readonly T[]) => boolean, timeoutMs = 10_000, what = "the expected events"): Promise<T[]> {
    return this.wait<T[]>(
      () => {
        if (predicate(this.values)) return { done: this.values };
        if (this.errors.length > 0 || this.completed) {
          return {
            failed: `subscription ended before ${what}: ${JSON.stringify(this.errors)} after ${JSON.stringify(this.values)}`,
          };
        }
        return undefined;
      },
      timeoutMs,
      what,
    );
  }

  /** Waits until the server completes the subscription; fails on an error, or after `timeoutMs`. */
  completion(timeoutMs = 10_000, what = "the subscription to complete"): Promise<readonly T[]> {
    return this.wait<readonly T[]>(
      () => {
        if (this.errors.length > 0)
          return { failed: `expected ${what}, but it failed: ${JSON.stringify(this.errors)}` };
        return this.completed ? { done: this.values } : undefined;
      },
      timeoutMs,
      what,
    );
  }

  /**
   * Waits until the subscription fails, and returns its first error; fails if it delivers
   * or completes instead, or after `timeoutMs`.
   */
  failure(timeoutMs = 10_000, what = "the subscription to fail"): Promise<unknown> {
    return this.wait<unknown>(
      () => {
        if (this.values.length > 0 || (this.completed && this.errors.length === 0)) {
          return { failed: `expected ${what}, but it delivered ${JSON.stringify(this.values)}` };
        }
        return this.errors.length > 0 ? { done: this.errors[0] } : undefined;
      },
      timeoutMs,
      what,
    );
  }

  /** Settles as soon as `outcome` says so after something arrives, or fails after `timeoutMs`. */
  private wait<R>(
    outcome: () => { readonly done: R } | { readonly failed: string } | undefined,
    timeoutMs: number,
    what: string,
  ): Promise<R> {
    return new Promise((resolve, reject) => {
      const check = (): boolean => {
        const now = outcome();
        if (!now) return false;
        cleanup();
        if ("done" in now) resolve(now.done);
        else reject(new Error(now.failed));
        return true;
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`timed out waiting for ${what}; saw ${JSON.stringify(this.values)}`));
      }, timeoutMs);
      const cleanup = (): void => {
        clearTimeout(timer);
        this.waiters.delete(check);
      };
      if (!check()) this.waiters.add(check);
    });
  }

  count(n: number, timeoutMs?: number): Promise<T[]> {
    return this.until((values) => values.length >= n, timeoutMs, `${n} events`);
  }
}

export interface WsConnection {
  readonly client: Client;
  /** Resolves with the close code once the socket closes. */
  readonly closed: Promise<number>;
  subscribe<T = Record<string, unknown>>(query: string, variables?: Record<string, unknown>): SubscriptionRecorder<T>;
  /** Resolves once the server acknowledged the connection. */
  readonly connected: Promise<void>;
  dispose(): Promise<void>;
}

/** A real graphql-ws client, connected at once, without retries (tests want to see failures). */
export function connectWs(httpUrl: string, token?: string): WsConnection {
  let resolveClosed!: (code: number) => void;
  const closed = new Promise<number>((resolve) => (resolveClosed = resolve));
  let resolveConnected!: () => void;
  let rejectConnected!: (error: unknown) => void;
  const connected = new Promise<void>((resolve, reject) => {
    resolveConnected = resolve;
    rejectConnected = reject;
  });
  connected.catch(() => undefined);
  const client = createClient({
    url: `${httpUrl.replace(/^http/, "ws")}/graphql`,
    webSocketImpl: WebSocket,
    connectionParams: token ? { authorization: `Bearer ${token}` } : {},
    lazy: false,
    retryAttempts: 0,
    on: {
      connected: () => resolveConnected(),
      closed: (event) => {
        const code = (event as { code?: number }).code ?? 0;
        rejectConnected(new Error(`closed with ${code}`));
        resolveClosed(code);
      },
    },
    onNonLazyError: () => undefined,
  });
  return {
    client,
    closed,
    connected,
    subscribe<T>(query: string, variables?: Record<string, unknown>) {
      const recorder = new SubscriptionRecorder<T>();
      client.subscribe<T>(
        { query, variables },
        {
          next: (result) => {
            if (result.errors) recorder.fail(result.errors);
            else recorder.push(result.data as T);
          },
          error: (error) => recorder.fail(error),
          complete: () => recorder.complete(),
        },
      );
      return recorder;
    },
    async dispose() {
      await client.dispose();
    },
  };
}

/**
 * The input fields a refusal names, sorted. Throws when `error` is not BAD_USER_INPUT, or
 * when its message leaves out a field it names: a refusal must say what was wrong.
 */
export function refusedFields(error: GraphQLErrorJson): string[] {
  if (error.extensions?.code !== "BAD_USER_INPUT") {
    throw new Error(`expected BAD_USER_INPUT, got ${JSON.stringify(error)}`);
  }
  const fields = ((error.extensions.invalidFields ?? []) as { field: string }[]).map((f) => f.field).sort();
  const unnamed = fields.filter((field) => !error.message.includes(field));
  if (unnamed.length > 0) throw new Error(`"${error.message}" does not name ${unnamed.join(", ")}`);
  return fields;
}
