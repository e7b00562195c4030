/**
 * Fleetvisor registry client for managed Node servers: the Python client's twin.
 *
 *   const registry = RegistryClient.fromEnvironment({ name: "domaeka-test-01" });
 *   const port = await registry.start();   // registers; heartbeats from now on
 *   server.listen(port);
 *   registry.installSignalHandlers();      // SIGTERM / SIGINT deregister, then exit
 *
 * Configuration: FLEETVISOR_URL and FLEETVISOR_TOKEN (an AGENT token bound to this
 * process), or FLEETVISOR_TOKEN_FILE naming a file that holds it (preferred: it keeps the
 * token out of supervisord.conf and `ps`); the name is given, or comes from
 * SUPERVISOR_PROCESS_NAME under supervisord.
 * Fleetvisor being down never throws into the server once it has its port: heartbeats
 * retry with backoff, and a heartbeat answered `ok: false` registers again.
 */
import { readFileSync } from "node:fs";

export interface RegistryClientOptions {
  /** The process name in the registry. */
  readonly name: string;
  /** e.g. `http://fleetvisor:4000` */
  readonly url: string;
  readonly token: string;
  /** @default process.pid */
  readonly pid?: number;
  /** Per request. @default 3000 */
  readonly timeoutMs?: number;
  /** Serve here if Fleetvisor is unreachable at start, and register later. */
  readonly fallbackPort?: number;
  /** @default console */
  readonly logger?: Pick<Console, "info" | "warn" | "error">;
}

/** Fleetvisor answered and refused (bad token, unknown name): retrying will not help. */
export class FleetvisorRefused extends Error {
  constructor(
    message: string,
    readonly code: string | undefined,
  ) {
    super(message);
    this.name = "FleetvisorRefused";
  }
}

/** Fleetvisor could not be reached or could not answer now: retrying may help. */
export class FleetvisorUnreachable extends Error {
  constructor(message: string) {
    super(message);
    this.name = "FleetvisorUnreachable";
  }
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

export class RegistryClient {
  readonly name: string;
  readonly pid: number;
  port: number | undefined;
  heartbeatIntervalSeconds = 30;
  private registered = false;
  private stopped = false;
  private timer: NodeJS.Timeout | undefined;
  private failures = 0;
  /** The registration in flight, which a deregister waits for (or the row stays RUNNING). */
  private registering: Promise<void> | undefined;
  private readonly logger: Pick<Console, "info" | "warn" | "error">;

  constructor(private readonly options: RegistryClientOptions) {
    if (!options.url || !options.token) {
      throw new Error("set FLEETVISOR_URL and FLEETVISOR_TOKEN (or FLEETVISOR_TOKEN_FILE)");
    }
    this.name = options.name;
    this.pid = options.pid ?? process.pid;
    this.logger = options.logger ?? console;
  }

  /** Options not given come from `FLEETVISOR_URL`, `FLEETVISOR_TOKEN_FILE` / `FLEETVISOR_TOKEN`, `SUPERVISOR_PROCESS_NAME`. */
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
    });
  }

  /** Whether Fleetvisor currently counts this process as registered. */
  get isRegistered(): boolean {
    return this.registered;
  }

  /**
   * Registers (retrying while Fleetvisor is unreachable; with `fallbackPort`, not waiting)
   * and starts the heartbeats. Resolves with the port to listen on.
   */
  async start(): Promise<number> {
    let delayMs = 500;
    while (!this.stopped) {
      try {
        await this.register();
        break;
      } catch (error) {
        // Refused too (not in the registry yet, a token not created yet): the port can only
        // come from the registry, so wait for it rather than crash.
        if (!(error instanceof FleetvisorUnreachable) && !(error instanceof FleetvisorRefused)) throw error;
        if (this.options.fallbackPort !== undefined) {
          this.logger.warn(
            `${error.message}; serving on fallback port ${this.options.fallbackPort}, registering later`,
          );
          this.port = this.options.fallbackPort;
          break;
        }
        this.logger.warn(`${(error as Error).message}; retrying in ${delayMs} ms`);
        await new Promise((resolve) => setTimeout(resolve, delayMs));
        delayMs = Math.min(delayMs * 2, 30_000);
      }
    }
    this.schedule(this.registered ? this.heartbeatIntervalSeconds * 1000 : 0);
    return this.port!;
  }

  /** Stops the heartbeats and deregisters (bounded by the request timeout). Never throws. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
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
      } else {
        // Refused (unknown name, revoked token): the server keeps running; try rarely.
        this.logger.error(`Fleetvisor refused: ${(error as Error).message}`);
        nextMs = Math.max(this.heartbeatIntervalSeconds, 30) * 1000;
      }
    }
    this.schedule(nextMs);
  }

  private async call(query: string, variables: Record<string, unknown>): Promise<Record<string, unknown>> {
    let response: Response;
    try {
      response = await fetch(`${this.options.url.replace(/\/$/, "")}/graphql`, {
        method: "POST",
        headers: { "content-type": "application/json", authorization: `Bearer ${this.options.token}` },
        body: JSON.stringify({ query, variables }),
        signal: AbortSignal.timeout(this.options.timeoutMs ?? 3_000),
      });
    } catch (error) {
      throw new FleetvisorUnreachable(`Fleetvisor is unreachable: ${(error as Error).message}`);
    }
    if (response.status === 401 || response.status === 403) {
      throw new FleetvisorRefused(`Fleetvisor refused the token (HTTP ${response.status})`, "UNAUTHENTICATED");
    }
    if (response.status >= 500) throw new FleetvisorUnreachable(`Fleetvisor answered HTTP ${response.status}`);
    const body = (await response.json().catch(() => ({}))) as {
      data?: Record<string, unknown>;
      errors?: { message: string; extensions?: { code?: string } }[];
    };
    const error = body.errors?.[0];
    if (error) {
      const code = error.extensions?.code;
      if (code && RETRYABLE.has(code))
        throw new FleetvisorUnreachable(`Fleetvisor could not answer now: ${error.message}`);
      throw new FleetvisorRefused(error.message, code);
    }
    if (!body.data) throw new FleetvisorUnreachable(`Fleetvisor answered HTTP ${response.status} without data`);
    return body.data;
  }
}
