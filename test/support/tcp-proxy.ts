import { createServer, connect, type Server, type Socket } from "node:net";
import type { AddressInfo } from "node:net";

/**
 * A TCP proxy in front of a real server, to make it disappear on demand:
 * `refuse()` closes the port (connection refused), `blackhole()` keeps accepting but
 * never forwards a byte (a hung server), `restore()` brings it back on the same port,
 * `retarget()` puts another server behind the same port at once.
 */
export class TcpProxy {
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
  private mode: "forward" | "blackhole" | "refuse" = "forward";
  port = 0;

  private constructor(
    private readonly targetHost: string,
    private targetPort: number,
  ) {}

  static async start(targetHost: string, targetPort: number): Promise<TcpProxy> {
    const proxy = new TcpProxy(targetHost, targetPort);
    await proxy.listen(0);
    return proxy;
  }

  private listen(port: number): Promise<void> {
    const server = createServer((client) => this.accept(client));
    this.server = server;
    return new Promise((resolve, reject) => {
      server.once("error", reject);
      server.listen(port, "127.0.0.1", () => {
        this.port = (server.address() as AddressInfo).port;
        resolve();
      });
    });
  }

  private accept(client: Socket): void {
    this.sockets.add(client);
    client.on("close", () => this.sockets.delete(client));
    client.on("error", () => client.destroy());
    if (this.mode === "blackhole") return;
    const upstream = connect(this.targetPort, this.targetHost);
    this.sockets.add(upstream);
    upstream.on("close", () => {
      this.sockets.delete(upstream);
      client.destroy();
    });
    upstream.on("error", () => upstream.destroy());
    client.on("close", () => upstream.destroy());
    client.on("data", (data) => {
      if (this.mode === "forward") upstream.write(data);
    });
    upstream.on("data", (data) => {
      if (this.mode === "forward") client.write(data);
    });
  }

  /** From now on forwards to `port` instead; connections open to the old target are closed. */
  retarget(port: number): void {
    this.targetPort = port;
    for (const socket of this.sockets) socket.destroy();
  }

  /** Accepts connections but forwards nothing, in either direction. */
  blackhole(): void {
    this.mode = "blackhole";
  }

  /** Closes the port and every connection. */
  async refuse(): Promise<void> {
    this.mode = "refuse";
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
    this.server = undefined;
  }

  /** Forwards again; after `refuse()`, listens again on the same port. */
  async restore(): Promise<void> {
    if (this.mode === "blackhole") for (const socket of this.sockets) socket.destroy();
    this.mode = "forward";
    if (!this.server) await this.listen(this.port);
  }

  async stop(): Promise<void> {
    await this.refuse();
  }
}
