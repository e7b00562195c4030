import { createServer, type Server } from "node:http";

/** One request a client made through a {@link RecordingProxy}, and what it was answered. */
export interface ProxiedRequest {
  /** When it arrived (`Date.now()`). */
  readonly at: number;
  readonly path: string;
  readonly authorization: string | undefined;
  /** The status it was answered with (0 while the answer is pending). */
  status: number;
}

/**
 * A real HTTP server in front of a real Fleetvisor that passes every request on and notes
 * when it came, so that a test can count how often a client asks (and how far apart)
 * without looking inside the client. Paths are passed on as they are, so a client pointed
 * at a wrong path gets Fleetvisor's own 404. With {@link answerWith} set, it answers that
 * status itself instead, as a load balancer in front of a failing upstream would.
 */
export class RecordingProxy {
  readonly requests: ProxiedRequest[] = [];
  /** When set, every request is answered with this status (and a plain-text body) instead of passed on. */
  answerWith: number | undefined;

  private constructor(
    private readonly server: Server,
    readonly url: string,
  ) {}

  static async start(target: string): Promise<RecordingProxy> {
    let proxy: RecordingProxy | undefined;
    const server = createServer((req, res) => {
      const request: ProxiedRequest = {
        at: Date.now(),
        path: req.url ?? "",
        authorization: req.headers.authorization,
        status: 0,
      };
      proxy!.requests.push(request);
      const chunks: Buffer[] = [];
      req.on("data", (chunk: Buffer) => chunks.push(chunk));
      req.on("end", () => {
        void (async () => {
          if (proxy!.answerWith !== undefined) {
            request.status = proxy!.answerWith;
            res.writeHead(request.status, { "content-type": "text/plain" });
            res.end("upstream failed\n");
            return;
          }
          const headers: Record<string, string> = { "content-type": req.headers["content-type"] ?? "application/json" };
          if (req.headers.authorization) headers.authorization = req.headers.authorization;
          const response = await fetch(`${target}${req.url}`, {
            method: req.method,
            headers,
            body: req.method === "GET" || req.method === "HEAD" ? undefined : Buffer.concat(chunks),
            redirect: "manual",
          });
          const body = Buffer.from(await response.arrayBuffer());
          request.status = response.status;
          res.writeHead(response.status, { "content-type": response.headers.get("content-type") ?? "text/plain" });
          res.end(body);
        })().catch(() => res.destroy());
      });
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    proxy = new RecordingProxy(server, `http://127.0.0.1:${(server.address() as { port: number }).port}`);
    return proxy;
  }

  /** The time between each request and the next, in ms. */
  gapsMs(requests: readonly ProxiedRequest[] = this.requests): number[] {
    return requests.slice(1).map((request, i) => request.at - requests[i]!.at);
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise((resolve) => this.server.close(resolve));
  }
}
