import { Agent } from "node:http";
import xmlrpc from "xmlrpc";
import type { SupervisorCredentials } from "../config/config.js";
import { toFault, translateCallError, type XmlRpcError } from "./fault-mapping.js";
import {
  describeAddress,
  SupervisorFault,
  SupervisorUnavailable,
  type SupervisorAddress,
} from "./supervisor.errors.js";
import { parseProcessInfo, type RawProcessInfo, type SupervisorProcessInfo } from "./supervisor-state.js";

export interface SupervisorClientOptions {
  /** Credentials for a supervisord, or `undefined` for none. */
  readonly credentials: (address: SupervisorAddress) => SupervisorCredentials | undefined;
  /** Read calls (state, info, logs). */
  readonly readTimeoutMs: number;
  /** start / stop: they wait for `startsecs` / `stopwaitsecs` (and a SIGKILL). */
  readonly controlTimeoutMs: number;
  /** Open connections per supervisord, reused between calls. @default 4 */
  readonly maxSocketsPerHost?: number;
  /** Told of every call, for metrics. */
  readonly observe?: (call: { address: SupervisorAddress; method: string; outcome: string; seconds: number }) => void;
}

export type CallKind = "read" | "control";

/** supervisord's `getState`. */
export interface SupervisordState {
  readonly statecode: number;
  readonly statename: string;
}

/** `tailProcessStdoutLog` / `tailProcessStderrLog`. */
export interface LogTail {
  readonly text: string;
  readonly offset: number;
  readonly overflow: boolean;
}

/**
 * The only code that knows XML-RPC: calls one supervisord at `http://HOST:PORT/RPC2` with
 * basic auth, a keep-alive connection pool per host, and a timeout on every call that
 * settles it exactly once and frees its socket.
 *
 * Failures become {@link SupervisorFault} (supervisord answered with a fault) or
 * {@link SupervisorUnavailable} (refused, reset, timed out, credentials rejected, not
 * XML-RPC). No message ever carries a password.
 */
export class SupervisorClient {
  private readonly agent: Agent;

  constructor(private readonly options: SupervisorClientOptions) {
    this.agent = new Agent({ keepAlive: true, maxSockets: options.maxSocketsPerHost ?? 4, maxFreeSockets: 2 });
  }

  /** Every program of one supervisord, in one call. */
  async getAllProcessInfo(address: SupervisorAddress): Promise<SupervisorProcessInfo[]> {
    const raw = await this.call<RawProcessInfo[]>(address, "supervisor.getAllProcessInfo", []);
    return raw.map(parseProcessInfo);
  }

  async getProcessInfo(address: SupervisorAddress, program: string): Promise<SupervisorProcessInfo> {
    return parseProcessInfo(await this.call<RawProcessInfo>(address, "supervisor.getProcessInfo", [program]));
  }

  getState(address: SupervisorAddress): Promise<SupervisordState> {
    return this.call<SupervisordState>(address, "supervisor.getState", []);
  }

  getSupervisorVersion(address: SupervisorAddress): Promise<string> {
    return this.call<string>(address, "supervisor.getSupervisorVersion", []);
  }

  /** Starts and waits until the program has been up for `startsecs`. */
  startProcess(address: SupervisorAddress, program: string): Promise<boolean> {
    return this.call<boolean>(address, "supervisor.startProcess", [program, true], "control");
  }

  /** Stops and waits until the program is down (after `stopwaitsecs`, a SIGKILL). */
  stopProcess(address: SupervisorAddress, program: string): Promise<boolean> {
    return this.call<boolean>(address, "supervisor.stopProcess", [program, true], "control");
  }

  async tailLog(
    address: SupervisorAddress,
    program: string,
    stream: "stdout" | "stderr",
    offset: number,
    length: number,
  ): Promise<LogTail> {
    const method = stream === "stdout" ? "supervisor.tailProcessStdoutLog" : "supervisor.tailProcessStderrLog";
    const [text, newOffset, overflow] = await this.call<[string, number, boolean]>(address, method, [
      program,
      offset,
      length,
    ]);
    return { text, offset: newOffset, overflow };
  }

  /**
   * Several calls in one round trip (`system.multicall`). Each result is the bare value,
   * or a {@link SupervisorFault} for a call that faulted.
   */
  async multicall(
    address: SupervisorAddress,
    calls: readonly { readonly method: string; readonly params?: readonly unknown[] }[],
  ): Promise<unknown[]> {
    const results = await this.call<unknown[]>(address, "system.multicall", [
      calls.map((c) => ({ methodName: c.method, params: c.params ?? [] })),
    ]);
    return results.map((result, i) => {
      if (result && typeof result === "object" && "faultCode" in result) {
        const fault = result as { faultCode: number; faultString: string };
        return toFault(address, fault.faultCode, fault.faultString, calls[i]?.method);
      }
      return result;
    });
  }

  /** One XML-RPC call with the timeout of its kind. */
  call<T>(address: SupervisorAddress, method: string, params: readonly unknown[], kind: CallKind = "read"): Promise<T> {
    const timeoutMs = kind === "control" ? this.options.controlTimeoutMs : this.options.readTimeoutMs;
    const credentials = this.options.credentials(address);
    const controller = new AbortController();
    const client = xmlrpc.createClient({
      host: address.host,
      port: address.port,
      path: "/RPC2",
      agent: this.agent,
      signal: controller.signal,
      headers: credentials
        ? {
            Authorization: `Basic ${Buffer.from(`${credentials.username}:${credentials.password}`).toString("base64")}`,
          }
        : {},
      // `agent` and `signal` go through to http.request; @types/xmlrpc does not list them.
    } as Parameters<typeof xmlrpc.createClient>[0]);
    const started = performance.now();

    return new Promise<T>((resolve, reject) => {
      let settled = false;
      const settle = (outcome: string, finish: () => void): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        this.options.observe?.({ address, method, outcome, seconds: (performance.now() - started) / 1000 });
        finish();
      };
      const timer = setTimeout(() => {
        settle("timeout", () =>
          reject(
            new SupervisorUnavailable(
              address,
              "timeout",
              `supervisord at ${describeAddress(address)} did not answer ${method} within ${timeoutMs} ms`,
            ),
          ),
        );
        // Frees the socket: a hung supervisord must not hold the pool's connections.
        controller.abort();
      }, timeoutMs);
      try {
        client.methodCall(method, [...params], (error: unknown, value: unknown) => {
          if (error) {
            const translated = translateCallError(address, method, error as XmlRpcError);
            settle(translated instanceof SupervisorFault ? "fault" : translated.reason, () => reject(translated));
          } else {
            settle("ok", () => resolve(value as T));
          }
        });
      } catch (error) {
        settle("error", () => reject(error));
      }
    });
  }

  /** Closes idle connections. */
  close(): void {
    this.agent.destroy();
  }
}
