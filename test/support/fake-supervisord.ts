import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

/** How the fake answers one XML-RPC call. */
export type Answer = (request: { readonly method: string }, response: ServerResponse) => void;

/**
 * An HTTP server on a free loopback port that answers `/RPC2` as a test scripts it: a
 * supervisord that lies (huge, endless, dripping, not XML, wrong-shaped answers). It counts
 * the bytes each answer got out before the client hung up, to show what a client held.
 * Correctness tests use real supervisord; this is for what no real one does.
 */
export class FakeSupervisord {
  /** Bytes written per answer, in call order (`Infinity` never: writes stop on close). */
  readonly bytesSent: number[] = [];
  answer: Answer = (_request, response) => response.end();

  private constructor(
    private readonly server: Server,
    readonly port: number,
  ) {}

  readonly host = "127.0.0.1";

  static async start(): Promise<FakeSupervisord> {
    let fake!: FakeSupervisord;
    const server = createServer((request, response) => void fake.handle(request, response));
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    fake = new FakeSupervisord(server, (server.address() as AddressInfo).port);
    return fake;
  }

  private async handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of request) chunks.push(chunk as Buffer);
    const method = /<methodName>([^<]*)<\/methodName>/.exec(Buffer.concat(chunks).toString())?.[1] ?? "";
    const index = this.bytesSent.push(0) - 1;
    const write = response.write.bind(response);
    response.write = ((chunk: string | Buffer, ...rest: never[]) => {
      this.bytesSent[index]! += Buffer.byteLength(chunk);
      return write(chunk, ...rest);
    }) as typeof response.write;
    this.answer({ method }, response);
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

/** Writes `chunk` until the client hangs up (or `limitBytes` were written). */
export function writeForever(response: ServerResponse, chunk: string, limitBytes = 512 * 1024 * 1024): void {
  let written = 0;
  const pump = (): void => {
    while (!response.destroyed && written < limitBytes) {
      written += chunk.length;
      if (!response.write(chunk)) {
        response.once("drain", pump);
        return;
      }
    }
    if (!response.destroyed) response.end();
  };
  response.on("close", () => response.removeAllListeners("drain"));
  pump();
}

/** An XML-RPC answer holding `value` (already XML). */
export function methodResponse(value: string): string {
  return `<?xml version="1.0"?><methodResponse><params><param><value>${value}</value></param></params></methodResponse>`;
}
