import { describe, expect, it } from "vitest";
import type { Principal } from "../auth/principal.js";
import { Role } from "../domain/role.js";
import { recheckOpenSockets } from "./ws-transport.js";

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
