import { createServer, type Server } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { canListen, choosePort } from "./ports.js";

const servers: Server[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => new Promise((resolve) => s.close(resolve))));
});

function listen(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer();
    servers.push(server);
    server.listen(0, "127.0.0.1", () => resolve((server.address() as { port: number }).port));
  });
}

describe("choosePort", () => {
  it("takes the preferred port when it is free, and remembers it", async () => {
    const free = await listen();
    await new Promise((resolve) => servers.pop()!.close(resolve));
    const taken = new Set<number>();
    expect(await choosePort(free, taken)).toBe(free);
    expect(taken).toEqual(new Set([free]));
  });

  it("takes another free port when something listens on the preferred one", async () => {
    const busy = await listen();
    const taken = new Set<number>();
    const port = await choosePort(busy, taken);
    expect(port).not.toBe(busy);
    expect(await canListen(port)).toBe(true);
    expect(taken).toEqual(new Set([port]));
  });

  it("never hands out a port twice", async () => {
    const free = await listen();
    await new Promise((resolve) => servers.pop()!.close(resolve));
    const taken = new Set([free]);
    expect(await choosePort(free, taken)).not.toBe(free);
  });
});
