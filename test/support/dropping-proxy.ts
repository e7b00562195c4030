import { createServer, request as httpRequest, type Server } from "node:http";
import type { AddressInfo } from "node:net";

/**
 * A real HTTP proxy in front of a real supervisord that passes every XML-RPC call on, except
 * that it drops the connection of the next {@link drop} calls of one method, as a network
 * that fails at the wrong moment would: the call never reaches supervisord, which goes on
 * as it was. Everything else (and every call after those) is supervisord's own answer.
 */
export class DroppingProxy {
  /** Calls of each method to drop from now on (the counter goes down as they are dropped). */
  readonly drop = new Map<string, number>();
  /** Methods whose calls were dropped, in order. */
  readonly dropped: string[] = [];

  private constructor(
    private readonly server: Server,
    readonly port: number,
  ) {}

  static async start(targetPort: number, targetHost = "127.0.0.1"): Promise<DroppingProxy> {
    let proxy!: DroppingProxy;
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (chunk: Buffer) => chunks.push(chunk));
      req.on("end", () => {
        const body = Buffer.concat(chunks);
        const method = /<methodName>([^<]*)<\/methodName>/.exec(body.toString())?.[1] ?? "";
        const left = proxy.drop.get(method) ?? 0;
        if (left > 0) {
          proxy.drop.set(method, left - 1);
          proxy.dropped.push(method);
          req.socket.destroy();
          return;
        }
        const upstream = httpRequest(
          { host: targetHost, port: targetPort, method: req.method, path: req.url, headers: req.headers },
          (answer) => {
            res.writeHead(answer.statusCode ?? 502, answer.headers);
            answer.pipe(res);
          },
        );
        upstream.on("error", () => res.destroy());
        upstream.end(body);
      });
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    proxy = new DroppingProxy(server, (server.address() as AddressInfo).port);
    return proxy;
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
