import { describe, expect, it } from "vitest";
import type { Principal } from "../auth/principal.js";
import { Role } from "../domain/role.js";
import { parseMessage } from "graphql-ws";
import { directTarget, recheckOpenSockets } from "./ws-transport.js";

class Socket {
  closedWith: [number, string] | null = null;
  close(code: number, reason: string): void {
    this.closedWith = [code, reason];
  }
}

const viewer: Principal = { tokenId: 1, name: "viewer", role: Role.VIEWER, processPattern: null };

describe("recheckOpenSockets", () => {
  it("closes the sockets whose token is no longer known, with 4401, and keeps the others", async () => {
    const kept = new Socket();
    const revoked = new Socket();
    await recheckOpenSockets(
      new Map([
        [kept, "fvt_kept"],
        [revoked, "fvt_revoked"],
      ]),
      async (token) => (token === "fvt_kept" ? viewer : null),
    );
    expect(kept.closedWith).toBeNull();
    expect(revoked.closedWith).toEqual([4401, "Unauthorized: the token was revoked"]);
  });

  it("takes a database that cannot answer for no verdict: the socket stays open", async () => {
    const socket = new Socket();
    await recheckOpenSockets(new Map([[socket, "fvt_any"]]), () => Promise.reject(new Error("connect ECONNREFUSED")));
    expect(socket.closedWith).toBeNull();
  });
});

describe("directTarget", () => {
  /** A socket that keeps what is sent on it; `bufferedAmount` is set by the test. */
  const socket = () => ({
    OPEN: 1 as const,
    readyState: 1 as 0 | 1 | 2 | 3,
    bufferedAmount: 0,
    sent: [] as string[],
    send(data: string) {
      this.sent.push(data);
    },
  });
  const payloadOf = (result: object) => JSON.stringify(result);

  it("sends graphql-ws next messages for the operation, each result's payload as given", () => {
    const open = socket();
    const target = directTarget(open, 'op "7"', payloadOf);
    expect(target.send({ data: { processChanged: { id: "12" } } })).toBe(true);
    expect(target.send({ data: null, errors: [] })).toBe(true);
    expect(open.sent.map((data) => parseMessage(data))).toEqual([
      { id: 'op "7"', type: "next", payload: { data: { processChanged: { id: "12" } } } },
      { id: 'op "7"', type: "next", payload: { data: null, errors: [] } },
    ]);
  });

  it("refuses, sending nothing, while its peer has not taken more than the limit", () => {
    const slow = socket();
    const target = directTarget(slow, "1", payloadOf, 1_000);
    slow.bufferedAmount = 1_000;
    expect(target.send({ data: {} })).toBe(true);
    slow.bufferedAmount = 1_001;
    expect(target.send({ data: {} })).toBe(false);
    expect(slow.sent).toHaveLength(1);
    expect(target.limit).toBe("1000 bytes of events");
    expect(directTarget(slow, "1", payloadOf).limit).toBe("8 MiB of events");
  });

  it("takes nothing on a socket that is no longer open, and refuses nothing", () => {
    const closing = socket();
    closing.readyState = 2;
    closing.bufferedAmount = 1e9;
    expect(directTarget(closing, "1", payloadOf).send({ data: {} })).toBe(true);
    expect(closing.sent).toEqual([]);
  });
});
