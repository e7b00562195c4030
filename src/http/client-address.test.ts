import { describe, expect, it } from "vitest";
import { addressKey, clientAddress, normalizeAddress } from "./client-address.js";

const request = (remoteAddress: string | undefined, forwardedFor?: string | string[]) => ({
  socket: { remoteAddress } as never,
  headers: forwardedFor === undefined ? {} : { "x-forwarded-for": forwardedFor as string },
});

describe("clientAddress", () => {
  it("ignores X-Forwarded-For unless proxies are trusted", () => {
    expect(clientAddress(request("10.0.0.9", "203.0.113.7"), 0)).toBe("10.0.0.9");
  });

  it.each([
    // [hops trusted, header, client]
    [1, "203.0.113.7", "203.0.113.7"],
    // A client that sends its own header cannot choose its address: the proxy's entry is the last one.
    [1, "198.51.100.1, 203.0.113.7", "203.0.113.7"],
    [2, "198.51.100.1, 203.0.113.7, 10.0.0.2", "203.0.113.7"],
    // More hops trusted than entries: the leftmost there is.
    [3, "203.0.113.7", "203.0.113.7"],
    [Infinity, "198.51.100.1, 203.0.113.7", "198.51.100.1"],
    // An entry that is not an address ends the chain at the last one that was.
    [Infinity, "evil, 203.0.113.7", "203.0.113.7"],
    [1, "not-an-address", "10.0.0.9"],
    [1, "", "10.0.0.9"],
  ])("trusting %s proxies, X-Forwarded-For %j names %s", (hops, header, client) => {
    expect(clientAddress(request("10.0.0.9", header), hops)).toBe(client);
  });

  it("reads X-Forwarded-For sent more than once as one list", () => {
    expect(clientAddress(request("10.0.0.9", ["198.51.100.1", "203.0.113.7"]), 1)).toBe("203.0.113.7");
  });

  it("takes the socket's peer when there is no header", () => {
    expect(clientAddress(request("::ffff:127.0.0.1"), 1)).toBe("127.0.0.1");
    expect(clientAddress(request(undefined), 0)).toBe("unknown");
  });

  it("keys IPv6 clients by their /64", () => {
    expect(clientAddress(request("2001:db8:0:1::17"), 0)).toBe("2001:db8:0:1::/64");
    expect(clientAddress(request("10.0.0.9", "2001:db8:0:1:ffff::1"), 1)).toBe("2001:db8:0:1::/64");
  });
});

describe("normalizeAddress", () => {
  it.each([
    ["203.0.113.7", "203.0.113.7"],
    ["203.0.113.7:5123", "203.0.113.7"],
    ["[2001:DB8::1]:443", "2001:db8::1"],
    ["[2001:db8::1]", "2001:db8::1"],
    ["fe80::1%eth0", "fe80::1"],
    ["::ffff:192.0.2.1", "192.0.2.1"],
    ["unknown", undefined],
    ["203.0.113", undefined],
    ["1.2.3.4.5", undefined],
  ])("%s → %s", (raw, normalized) => {
    expect(normalizeAddress(raw)).toBe(normalized);
  });
});

describe("addressKey", () => {
  it.each([
    ["203.0.113.7", "203.0.113.7"],
    ["::1", "0:0:0:0::/64"],
    ["2001:db8::", "2001:db8:0:0::/64"],
    ["2001:0db8:0000:0001:0000:0000:0000:0001", "2001:db8:0:1::/64"],
    ["64:ff9b::192.0.2.1", "64:ff9b:0:0::/64"],
    ["::192.0.2.1", "0:0:0:0::/64"],
  ])("%s → %s", (address, key) => {
    expect(addressKey(address)).toBe(key);
  });
});
