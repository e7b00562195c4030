import type { IncomingMessage } from "node:http";
import { isIP } from "node:net";

/**
 * The address of the client that sent `req`, as a key for per-client limits.
 *
 * Each proxy appends the address it received a request from to `X-Forwarded-For`, so
 * read from the right the header is a chain: the socket's peer (the nearest proxy), then
 * the address that proxy saw, and so on. Only the last `trustedProxyHops` steps were written
 * by proxies Fleetvisor trusts; everything further left is whatever the client sent. The
 * client is therefore the entry `trustedProxyHops` steps along that chain (`Infinity`:
 * the leftmost), or the last valid address before an entry that is not one. With 0 the
 * header is ignored, since without a proxy anyone can send it.
 *
 * IPv6 clients are keyed by their /64: one host is usually given a whole /64, and keying
 * by single addresses would give it 2^64 fresh budgets.
 */
export function clientAddress(req: Pick<IncomingMessage, "headers" | "socket">, trustedProxyHops: number): string {
  let address = normalizeAddress(req.socket.remoteAddress ?? "") ?? "unknown";
  if (trustedProxyHops > 0) {
    const header = req.headers["x-forwarded-for"];
    const forwarded = (Array.isArray(header) ? header.join(",") : (header ?? "")).split(",");
    for (let hop = 0; hop < trustedProxyHops && forwarded.length > 0; hop++) {
      const next = normalizeAddress(forwarded.pop()!.trim());
      if (next === undefined) break;
      address = next;
    }
  }
  return addressKey(address);
}

/**
 * An IP address as written in a socket or an `X-Forwarded-For` entry, without brackets,
 * port or zone, IPv4-mapped IPv6 as IPv4; `undefined` when it is not an IP address.
 */
export function normalizeAddress(raw: string): string | undefined {
  let address = raw;
  const bracketed = /^\[([^\]]+)\](?::\d+)?$/.exec(address);
  if (bracketed) address = bracketed[1]!;
  else if (/^[\d.]+:\d+$/.test(address)) address = address.slice(0, address.lastIndexOf(":"));
  address = address.replace(/%.*$/, "");
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped) address = mapped[1]!;
  return isIP(address) === 0 ? undefined : address.toLowerCase();
}

/** An IPv4 address as it is; an IPv6 address as its /64 (`2001:db8:0:1::/64`). */
export function addressKey(address: string): string {
  if (isIP(address) !== 6) return address;
  return `${ipv6Groups(address).slice(0, 4).join(":")}::/64`;
}

/** The eight groups of an IPv6 address, without leading zeros. */
function ipv6Groups(address: string): string[] {
  const [head = "", tail] = address.split("::") as [string, string | undefined];
  const groups = (part: string): string[] => {
    if (part === "") return [];
    return part.split(":").flatMap((group) => {
      if (!group.includes(".")) return [group];
      // A trailing dotted IPv4 part is two groups.
      const [a, b, c, d] = group.split(".").map(Number) as [number, number, number, number];
      return [((a << 8) | b).toString(16), ((c << 8) | d).toString(16)];
    });
  };
  const front = groups(head);
  const back = tail === undefined ? [] : groups(tail);
  const zeros = Array.from({ length: 8 - front.length - back.length }, () => "0");
  return [...front, ...zeros, ...back].map((group) => Number.parseInt(group, 16).toString(16));
}
