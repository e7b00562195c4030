import { Agent, request as httpRequest } from "node:http";
import serializer from "xmlrpc/lib/serializer.js";
import type { SupervisorCredentials } from "../config/config.js";
import {
  httpStatusError,
  notXmlRpc,
  responseTooLarge,
  toFault,
  translateSocketError,
  unexpectedAnswer,
} from "./fault-mapping.js";
import { readProcessLog, type LogRead, type LogStart, type LogStream } from "./process-log.js";
import { decodeMethodResponse, type MethodResponse } from "./xmlrpc-decoder.js";
import {
  describeAddress,
  SupervisorFault,
  SupervisorUnavailable,
  type SupervisorAddress,
} from "./supervisor.errors.js";
import { isRawProcessInfo, parseProcessInfo, type SupervisorProcessInfo } from "./supervisor-state.js";

export interface SupervisorClientOptions {
  /** Credentials for a supervisord, or `undefined` for none. */
  readonly credentials: (address: SupervisorAddress) => SupervisorCredentials | undefined;
  /** Read calls (state, info, logs). */
  readonly readTimeoutMs: number;
  /** start / stop: they wait for `startsecs` / `stopwaitsecs` (and a SIGKILL). */
  readonly controlTimeoutMs: number;
  /** Open connections per supervisord, reused between calls. @default 4 */
  readonly maxSocketsPerHost?: number;
  /**
   * A larger answer is refused, and its connection dropped as soon as it passes the limit.
   * @default 16 MiB
   */
  readonly maxResponseBytes?: number;
  /** Told of every call, for metrics. */
  readonly observe?: (call: { address: SupervisorAddress; method: string; outcome: string; seconds: number }) => void;
}

export type CallKind = "read" | "control";

/** The default answer cap: the largest expected, a 64 KiB piece of a log, is far below it. */
const MAX_RESPONSE_BYTES = 16 * 1024 * 1024;

/**
 * The only code that knows XML-RPC: calls one supervisord at `http://HOST:PORT/RPC2` with
 * basic auth, a keep-alive connection pool per host, and a timeout on every call that
 * settles it exactly once and frees its socket. Requests are encoded by the `xmlrpc`
 * package; responses are decoded by {@link decodeMethodResponse}, several times faster
 * than the package's own deserializer (reading a fleet's state is dominated by it), and
 * the transport is node:http directly, which the package offers no timeout for.
 *
 * Failures become {@link SupervisorFault} (supervisord answered with a fault) or
 * {@link SupervisorUnavailable} (refused, reset, timed out, credentials rejected, not
 * XML-RPC). No message ever carries a password.
 */
export class SupervisorClient {
  /**
   * Reads and control calls have their own connections: a control call may hold its socket
   * for the whole control timeout, and must never make reads (polls, queries) wait for one.
   */
  private readonly agents: Readonly<Record<CallKind, Agent>>;

  constructor(private readonly options: SupervisorClientOptions) {
    const agent = () => new Agent({ keepAlive: true, maxSockets: options.maxSocketsPerHost ?? 4, maxFreeSockets: 2 });
    this.agents = { read: agent(), control: agent() };
  }

  /** Every program of one supervisord, in one call. */
  async getAllProcessInfo(address: SupervisorAddress): Promise<SupervisorProcessInfo[]> {
    const method = "supervisor.getAllProcessInfo";
    const raw = await this.call<unknown>(address, method, []);
    if (!Array.isArray(raw) || !raw.every(isRawProcessInfo))
      throw unexpectedAnswer(address, method, "a list of processes");
    return raw.map(parseProcessInfo);
  }

  async getProcessInfo(address: SupervisorAddress, program: string): Promise<SupervisorProcessInfo> {
    const method = "supervisor.getProcessInfo";
    const raw = await this.call<unknown>(address, method, [program]);
    if (!isRawProcessInfo(raw)) throw unexpectedAnswer(address, method, "a process");
    return parseProcessInfo(raw);
  }

  /** Starts and waits until the program has been up for `startsecs`. */
  startProcess(address: SupervisorAddress, program: string): Promise<boolean> {
    return this.call<boolean>(address, "supervisor.startProcess", [program, true], "control");
  }

  /** Stops and waits until the program is down (after `stopwaitsecs`, a SIGKILL). */
  stopProcess(address: SupervisorAddress, program: string): Promise<boolean> {
    return this.call<boolean>(address, "supervisor.stopProcess", [program, true], "control");
  }

  /**
   * `maxBytes` of a program's log from `from` (a byte offset, or its end): exactly the bytes
   * there, the offset to go on from, and whether the log was rotated past `from`. See
   * {@link readProcessLog}.
   */
  readLog(
    address: SupervisorAddress,
    program: string,
    stream: LogStream,
    from: LogStart,
    maxBytes: number,
  ): Promise<LogRead> {
    return readProcessLog((to, calls) => this.multicall(to, calls), address, program, stream, from, maxBytes);
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
    const maxResponseBytes = this.options.maxResponseBytes ?? MAX_RESPONSE_BYTES;
    const timeoutMs = kind === "control" ? this.options.controlTimeoutMs : this.options.readTimeoutMs;
    const credentials = this.options.credentials(address);
    const body = serializer.serializeMethodCall(method, params);
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
      const fail = (error: SupervisorFault | SupervisorUnavailable): void =>
        settle(error instanceof SupervisorFault ? "fault" : error.reason, () => reject(error));

      const request = httpRequest(
        {
          host: address.host,
          port: address.port,
          path: "/RPC2",
          method: "POST",
          agent: this.agents[kind],
          headers: {
            "content-type": "text/xml",
            "content-length": Buffer.byteLength(body),
            ...(credentials
              ? {
                  authorization: `Basic ${Buffer.from(`${credentials.username}:${credentials.password}`).toString("base64")}`,
                }
              : {}),
          },
        },
        (response) => {
          const chunks: Buffer[] = [];
          let size = 0;
          response.on("data", (chunk: Buffer) => {
            size += chunk.length;
            if (size > maxResponseBytes) {
              fail(responseTooLarge(address, method, maxResponseBytes));
              request.destroy();
            } else chunks.push(chunk);
          });
          response.on("error", (error) => fail(translateSocketError(address, method, error)));
          response.on("end", () => {
            if (response.statusCode !== 200) return fail(httpStatusError(address, method, response.statusCode ?? 0));
            let decoded: MethodResponse;
            try {
              decoded = decodeMethodResponse(Buffer.concat(chunks).toString("utf8"));
            } catch (error) {
              return fail(notXmlRpc(address, method, error as Error));
            }
            if (decoded.kind === "fault") return fail(toFault(address, decoded.faultCode, decoded.faultString, method));
            settle("ok", () => resolve(decoded.value as T));
          });
        },
      );
      const timer = setTimeout(() => {
        fail(
          new SupervisorUnavailable(
            address,
            "timeout",
            `supervisord at ${describeAddress(address)} did not answer ${method} within ${timeoutMs} ms`,
          ),
        );
        // Frees the socket: a hung supervisord must not hold the pool's connections.
        request.destroy();
      }, timeoutMs);
      request.on("error", (error) => fail(translateSocketError(address, method, error)));
      request.end(body);
    });
  }

  /** Closes idle connections. */
  close(): void {
    this.agents.read.destroy();
    this.agents.control.destroy();
  }
}
