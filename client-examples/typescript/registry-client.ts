/**
 * Fleetvisor registry client for managed Node servers: the Python client's twin.
 *
 *   const registry = RegistryClient.fromEnvironment({ name: "domaeka-test-01" });
 *   const port = await registry.start();   // registers; heartbeats from now on
 *   server.listen(port);
 *   registry.installSignalHandlers();      // SIGTERM / SIGINT deregister, then exit
 *
 * Configuration: FLEETVISOR_URL, Fleetvisor's address (`http://fleetvisor:4000`) or its
 * GraphQL endpoint (`http://fleetvisor:4000/graphql`), with or without a trailing slash;
 * FLEETVISOR_TOKEN (an AGENT token bound to this process), or FLEETVISOR_TOKEN_FILE naming a
 * file that holds it (preferred: it keeps the token out of supervisord.conf and `ps`);
 * FLEETVISOR_CONFIG_RETRY_SECONDS (see below). The name is given, or comes from
 * SUPERVISOR_PROCESS_NAME under supervisord.
 *
 * Fleetvisor being down never throws into the server once it has its port: heartbeats
 * retry with backoff, and a heartbeat answered `ok: false` registers again. What goes
 * wrong falls in two kinds, retried differently:
 *
 * - Fleetvisor cannot answer now (connection refused, a timeout, HTTP 5xx,
 *   DATABASE_UNAVAILABLE): {@link FleetvisorUnreachable}, retried with backoff (0.5 s
 *   doubling up to 30 s, or up to the heartbeat interval once registered), a warning each.
 * - Something is configured wrong, which retrying soon cannot fix: nothing answers GraphQL at
 *   FLEETVISOR_URL (HTTP 404, or an answer that is not Fleetvisor's), the token is refused
 *   (HTTP 401 / 403, or bound to other processes), or the registry has no process of this
 *   name: {@link FleetvisorRefused}, logged once as one line that names the URL or the
 *   process and what to change, then retried every `configRetrySeconds`, so that a fix on
 *   Fleetvisor's side (creating the token or the process) is picked up without a restart.
 */
import { readFileSync } from "node:fs";

export interface RegistryClientOptions {
  /** The process name in the registry. */
  readonly name: string;
  /** Fleetvisor's address (`http://fleetvisor:4000`) or its `/graphql` endpoint. */
  readonly url: string;
  readonly token: string;
  /** @default process.pid */
  readonly pid?: number;
  /** Per request. @default 3000 */
  readonly timeoutMs?: number;
  /** Serve here if Fleetvisor is unreachable at start, and register later. */
  readonly fallbackPort?: number;
  /**
   * How often a configuration error (a refused token, an unknown process, a wrong URL) is
   * retried; `fromEnvironment` reads FLEETVISOR_CONFIG_RETRY_SECONDS.
   * @default 30
   */
  readonly configRetrySeconds?: number;
  /** @default console */
  readonly logger?: Pick<Console, "info" | "warn" | "error">;
}

/** @see RegistryClientOptions.configRetrySeconds */
export const DEFAULT_CONFIG_RETRY_SECONDS = 30;

/**
 * A configuration error: Fleetvisor (or whatever answers at FLEETVISOR_URL) refused the
 * call, and retrying soon will not help. The message is one line naming the URL or the
 * process and what to change, never the token.
 */
export class FleetvisorRefused extends Error {
  constructor(
    message: string,
    /** Fleetvisor's `extensions.code`, or `HTTP_<status>` when the answer was not GraphQL. */
    readonly code: string | undefined,
  ) {
    super(message);
    this.name = "FleetvisorRefused";
  }
}

/** Fleetvisor could not be reached or could not answer now: retrying soon may help. */
export class FleetvisorUnreachable extends Error {
  constructor(message: string) {
    super(message);
    this.name = "FleetvisorUnreachable";
  }
}

/**
 * Fleetvisor's GraphQL endpoint from FLEETVISOR_URL: its address and its endpoint are both
 * accepted, with or without a trailing slash (`http://fleetvisor:4000`,
 * `http://fleetvisor:4000/` and `http://fleetvisor:4000/graphql/` all give
 * `http://fleetvisor:4000/graphql`). Anything but an http(s) URL is an error that says so.
 */
export function graphqlEndpoint(url: string): string {
  let parsed: URL | undefined;
  try {
    parsed = new URL(url.trim());
  } catch {
    parsed = undefined;
  }
  if (!parsed || (parsed.protocol !== "http:" && parsed.protocol !== "https:") || !parsed.hostname) {
    throw new Error(
      `FLEETVISOR_URL must be Fleetvisor's http:// or https:// address, such as http://fleetvisor:4000 (got "${withoutCredentials(url)}")`,
    );
  }
  const path = parsed.pathname.replace(/\/+$/, "");
  parsed.pathname = path.endsWith("/graphql") ? path : `${path}/graphql`;
  parsed.hash = "";
  return parsed.href;
}

/** A URL as it may appear in a log line: without a `user:password@` part. */
function withoutCredentials(url: string): string {
  try {
    const parsed = new URL(url);
    parsed.username = "";
    parsed.password = "";
    return parsed.href;
  } catch {
    return url.replace(/\/\/[^/@]*@/, "//");
  }
}

/**
 * FLEETVISOR_CONFIG_RETRY_SECONDS, or the default when it is unset; anything but a number of
 * seconds above 0 is an error that names the variable.
 */
export function configRetrySecondsFromEnvironment(
  env: Readonly<Record<string, string | undefined>> = process.env,
): number {
  const value = env.FLEETVISOR_CONFIG_RETRY_SECONDS;
  if (value === undefined || value.trim() === "") return DEFAULT_CONFIG_RETRY_SECONDS;
  const seconds = Number(value);
  if (!Number.isFinite(seconds) || seconds <= 0) {
    throw new Error(`FLEETVISOR_CONFIG_RETRY_SECONDS must be a number of seconds above 0 (got "${value}")`);
  }
  return seconds;
}

/**
 * The token from the file `FLEETVISOR_TOKEN_FILE` names (surrounding whitespace dropped, as
 * secrets files often end in a newline), else `FLEETVISOR_TOKEN`, else "". A file that is
 * named but cannot be read or is empty is an error that says so: falling back to another
 * token would hide the mistake.
 */
export function tokenFromEnvironment(env: Readonly<Record<string, string | undefined>> = process.env): string {
  const path = env.FLEETVISOR_TOKEN_FILE;
  if (!path) return env.FLEETVISOR_TOKEN ?? "";
  let token: string;
  try {
    token = readFileSync(path, "utf8").trim();
  } catch (error) {
    throw new Error(
      `FLEETVISOR_TOKEN_FILE cannot be read: ${(error as NodeJS.ErrnoException).code ?? "error"} ${path}`,
    );
  }
  if (!token) throw new Error(`FLEETVISOR_TOKEN_FILE is empty: ${path}`);
  return token;
}

const REGISTER = `mutation ($name: String!, $pid: Int!) {
  registerProcess(name: $name, pid: $pid) { port heartbeatIntervalSeconds }
}`;
const HEARTBEAT = `mutation ($name: String!, $pid: Int!) {
  heartbeat(name: $name, pid: $pid) { ok nextHeartbeatInSeconds message }
}`;
const DEREGISTER = `mutation ($name: String!) { deregisterProcess(name: $name) { status } }`;

/** Answers that mean "not now" rather than "no". */
const RETRYABLE = new Set(["DATABASE_UNAVAILABLE", "INTERNAL_SERVER_ERROR"]);
/** HTTP statuses below 500 that mean "not now" too (a proxy's timeout, rate limiting). */
const RETRYABLE_STATUSES = new Set([408, 429]);

interface GraphQLAnswer {
  data?: Record<string, unknown> | null;
  errors?: { message?: string; extensions?: { code?: string } }[];
}

export class RegistryClient {
  readonly name: string;
  readonly pid: number;
  port: number | undefined;
  heartbeatIntervalSeconds = 30;
  /** How often a configuration error is retried. */
  readonly configRetrySeconds: number;
  /** The GraphQL endpoint the client calls, as log lines name it (no credentials). */
  readonly endpoint: string;
  private readonly url: string;
  private registered = false;
  private stopped = false;
  private timer: NodeJS.Timeout | undefined;
  private failures = 0;
  /** Cuts short the pause between attempts at start, so that `stop()` need not wait it out. */
  private wakeUp: (() => void) | undefined;
  /** The configuration error last logged: the same one again is not logged again. */
  private problem: string | undefined;
  /** The registration in flight, which a deregister waits for (or the row stays RUNNING). */
  private registering: Promise<void> | undefined;
  private readonly logger: Pick<Console, "info" | "warn" | "error">;

  constructor(private readonly options: RegistryClientOptions) {
    if (!options.url || !options.token) {
      throw new Error("set FLEETVISOR_URL and FLEETVISOR_TOKEN (or FLEETVISOR_TOKEN_FILE)");
    }
    const retry = options.configRetrySeconds ?? DEFAULT_CONFIG_RETRY_SECONDS;
    if (!Number.isFinite(retry) || retry <= 0) {
      throw new Error(`configRetrySeconds must be a number of seconds above 0 (got ${retry})`);
    }
    this.url = graphqlEndpoint(options.url);
    this.endpoint = withoutCredentials(this.url);
    this.configRetrySeconds = retry;
    this.name = options.name;
    this.pid = options.pid ?? process.pid;
    this.logger = options.logger ?? console;
  }

  /**
   * Options not given come from `FLEETVISOR_URL`, `FLEETVISOR_TOKEN_FILE` / `FLEETVISOR_TOKEN`,
   * `FLEETVISOR_CONFIG_RETRY_SECONDS`, `SUPERVISOR_PROCESS_NAME`.
   */
  static fromEnvironment(
    options: Partial<RegistryClientOptions> = {},
    env: Readonly<Record<string, string | undefined>> = process.env,
  ): RegistryClient {
    const name = options.name ?? env.SUPERVISOR_PROCESS_NAME;
    if (!name) throw new Error("give a process name, or run under supervisord (SUPERVISOR_PROCESS_NAME)");
    return new RegistryClient({
      ...options,
      name,
      url: options.url ?? env.FLEETVISOR_URL ?? "",
      token: options.token ?? tokenFromEnvironment(env),
      configRetrySeconds: options.configRetrySeconds ?? configRetrySecondsFromEnvironment(env),
    });
  }

  /** Whether Fleetvisor currently counts this process as registered. */
  get isRegistered(): boolean {
    return this.registered;
  }

  /**
   * Registers and starts the heartbeats; resolves with the port to listen on. Waits while
   * Fleetvisor is unreachable (retrying with backoff) and while the configuration is wrong
   * (retrying every `configRetrySeconds`), since the port can only come from the registry;
   * with `fallbackPort` it does not wait, and registers later. Rejects only if `stop()` is
   * called before there is a port.
   */
  async start(): Promise<number> {
    let delayMs = 500;
    while (!this.stopped) {
      try {
        await this.register();
        break;
      } catch (error) {
        if (!(error instanceof FleetvisorUnreachable) && !(error instanceof FleetvisorRefused)) throw error;
        if (this.options.fallbackPort !== undefined) {
          const then = `serving on fallback port ${this.options.fallbackPort}, registering later`;
          if (error instanceof FleetvisorRefused) this.configurationError(error, then);
          else this.logger.warn(`${error.message}; ${then}`);
          this.port = this.options.fallbackPort;
          break;
        }
        if (error instanceof FleetvisorRefused) {
          this.configurationError(error);
          delayMs = 500;
          await this.pause(this.configRetrySeconds * 1000);
        } else {
          this.logger.warn(`${error.message}; retrying in ${delayMs} ms`);
          await this.pause(delayMs);
          delayMs = Math.min(delayMs * 2, 30_000);
        }
      }
    }
    if (this.port === undefined) throw new Error(`stopped before Fleetvisor gave ${this.name} a port`);
    this.schedule(this.registered ? this.heartbeatIntervalSeconds * 1000 : 0);
    return this.port;
  }

  /** Stops the heartbeats and deregisters (bounded by the request timeout). Never throws. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    this.wakeUp?.();
    await this.registering?.catch(() => undefined);
    if (!this.registered) return;
    try {
      await this.call(DEREGISTER, { name: this.name });
      this.registered = false;
      this.logger.info(`deregistered ${this.name}`);
    } catch (error) {
      this.logger.warn(`could not deregister ${this.name}: ${(error as Error).message}`);
    }
  }

  /** SIGTERM / SIGINT: deregister, then exit with 0. */
  installSignalHandlers(exit: (code: number) => void = (code) => process.exit(code)): void {
    const onSignal = (): void => {
      void this.stop().then(() => exit(0));
    };
    process.once("SIGTERM", onSignal);
    process.once("SIGINT", onSignal);
  }

  /** Logs a configuration error once, in one line, however often it is met again. */
  private configurationError(error: FleetvisorRefused, then = `retrying every ${this.configRetrySeconds} s`): void {
    if (error.message === this.problem) return;
    this.problem = error.message;
    this.logger.error(`${error.message}; ${then}`);
  }

  private pause(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.wakeUp = undefined;
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.wakeUp = done;
    });
  }

  private register(): Promise<void> {
    this.registering = this.doRegister().finally(() => {
      this.registering = undefined;
    });
    return this.registering;
  }

  private async doRegister(): Promise<void> {
    const data = (await this.call(REGISTER, { name: this.name, pid: this.pid })) as {
      registerProcess: { port: number; heartbeatIntervalSeconds: number };
    };
    this.port ??= data.registerProcess.port;
    this.heartbeatIntervalSeconds = data.registerProcess.heartbeatIntervalSeconds;
    this.registered = true;
    this.problem = undefined;
    this.logger.info(`registered ${this.name} (pid ${this.pid}, port ${this.port})`);
  }

  private schedule(delayMs: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => void this.beat(), delayMs);
    this.timer.unref();
  }

  private async beat(): Promise<void> {
    let nextMs = this.heartbeatIntervalSeconds * 1000;
    try {
      if (!this.registered) {
        await this.register();
      } else {
        const { heartbeat } = (await this.call(HEARTBEAT, { name: this.name, pid: this.pid })) as {
          heartbeat: { ok: boolean; nextHeartbeatInSeconds: number; message: string | null };
        };
        if (this.problem !== undefined) {
          this.problem = undefined;
          this.logger.info(`Fleetvisor accepts ${this.name} again`);
        }
        if (!heartbeat.ok) {
          this.logger.warn(`heartbeat not accepted (${heartbeat.message}); registering again`);
          this.registered = false;
          await this.register();
        } else {
          this.heartbeatIntervalSeconds = heartbeat.nextHeartbeatInSeconds;
        }
      }
      this.failures = 0;
      nextMs = this.heartbeatIntervalSeconds * 1000;
    } catch (error) {
      if (error instanceof FleetvisorUnreachable) {
        this.failures++;
        nextMs = Math.min(500 * 2 ** (this.failures - 1), this.heartbeatIntervalSeconds * 1000);
        this.logger.warn(`${error.message}; next try in ${nextMs} ms`);
      } else if (error instanceof FleetvisorRefused) {
        // Configured wrong (an unknown name, a revoked token): the server keeps running,
        // and Fleetvisor is asked again rarely, said once.
        this.configurationError(error);
        this.failures = 0;
        nextMs = this.configRetrySeconds * 1000;
      } else {
        // A bug here must never take the server down.
        this.logger.error(`unexpected error in the heartbeat loop: ${(error as Error).stack ?? String(error)}`);
      }
    }
    this.schedule(nextMs);
  }

  private async call(query: string, variables: { name: string; pid?: number }): Promise<Record<string, unknown>> {
    let response: Response;
    let text: string;
    try {
      response = await fetch(this.url, {
        method: "POST",
        headers: {
          "content-type": "application/json",
          accept: "application/json",
          authorization: `Bearer ${this.options.token}`,
        },
        body: JSON.stringify({ query, variables }),
        // Not followed: a POST redirected becomes a GET elsewhere, which would hide a wrong URL.
        redirect: "manual",
        signal: AbortSignal.timeout(this.options.timeoutMs ?? 3_000),
      });
      text = await response.text();
    } catch (error) {
      const cause = (error as { cause?: { code?: string; message?: string } }).cause;
      const reason = cause?.code ?? cause?.message ?? (error as Error).message;
      throw new FleetvisorUnreachable(`Fleetvisor at ${this.endpoint} is unreachable (${reason})`);
    }
    return this.answer(response.status, text, variables.name, response.headers.get("location"));
  }

  /** The data of a successful answer; otherwise the error that says which kind of failure it is. */
  private answer(status: number, text: string, name: string, location: string | null): Record<string, unknown> {
    const url = this.endpoint;
    if (status >= 500 || RETRYABLE_STATUSES.has(status)) {
      throw new FleetvisorUnreachable(`Fleetvisor at ${url} answered HTTP ${status}`);
    }
    if (status >= 300 && status < 400) {
      throw new FleetvisorRefused(
        `${url} redirects (HTTP ${status}) to ${location ? withoutCredentials(new URL(location, url).href) : "elsewhere"}: ` +
          "set FLEETVISOR_URL to where Fleetvisor is (often https:// instead of http://)",
        `HTTP_${status}`,
      );
    }
    let body: GraphQLAnswer | undefined;
    try {
      const parsed: unknown = JSON.parse(text);
      body = typeof parsed === "object" && parsed !== null ? (parsed as GraphQLAnswer) : undefined;
    } catch {
      body = undefined;
    }
    const first = Array.isArray(body?.errors) ? body.errors[0] : undefined;
    const code = first?.extensions?.code;
    const message = first?.message ?? "";

    if (status === 404 || status === 405) {
      throw new FleetvisorRefused(
        `no GraphQL endpoint at ${url} (HTTP ${status}): set FLEETVISOR_URL to Fleetvisor's address, ` +
          "such as http://fleetvisor:4000 (or its /graphql endpoint)",
        `HTTP_${status}`,
      );
    }
    if (status === 401 || status === 403 || code === "UNAUTHENTICATED") {
      throw new FleetvisorRefused(
        `Fleetvisor at ${url} refused the token (HTTP ${status}${message ? `: ${message}` : ""}): ` +
          `set FLEETVISOR_TOKEN or FLEETVISOR_TOKEN_FILE to an AGENT token bound to "${name}"`,
        code ?? `HTTP_${status}`,
      );
    }
    if (!body || (!first && (typeof body.data !== "object" || body.data === null))) {
      throw new FleetvisorRefused(
        `the answer from ${url} is not Fleetvisor's (HTTP ${status}, not a GraphQL result): ` +
          "set FLEETVISOR_URL to Fleetvisor's address, such as http://fleetvisor:4000",
        `HTTP_${status}`,
      );
    }
    if (!first) return body.data!;
    if (code && RETRYABLE.has(code)) {
      throw new FleetvisorUnreachable(`Fleetvisor at ${url} could not answer now (${code}: ${message})`);
    }
    if (code === "NOT_FOUND") {
      throw new FleetvisorRefused(
        `Fleetvisor at ${url} has no process named "${name}": add it to the registry (createProcess), ` +
          "or run this server under the name the registry has for it",
        code,
      );
    }
    if (code === "FORBIDDEN") {
      throw new FleetvisorRefused(
        `Fleetvisor at ${url} refused "${name}" to this token (${message}): ` +
          "use an AGENT token bound to this process's name or to a prefix-* that matches it",
        code,
      );
    }
    throw new FleetvisorRefused(`Fleetvisor at ${url} refused the call for "${name}" (${code}: ${message})`, code);
  }
}
