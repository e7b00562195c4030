import { createHash, timingSafeEqual } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Registry } from "prom-client";
import { sendJson } from "./send-json.js";

/** The token in `Authorization: Bearer <token>`; the scheme is required here. */
function bearerOf(req: IncomingMessage): string | undefined {
  return /^\s*Bearer\s+(\S+)\s*$/i.exec(req.headers.authorization ?? "")?.[1];
}

const digest = (value: string): Buffer => createHash("sha256").update(value, "utf8").digest();

/**
 * Whether `presented` is `expected`, in a time that depends on neither: both are hashed
 * first, so that even their lengths are compared in constant time.
 */
export function sameSecret(presented: string, expected: string): boolean {
  return timingSafeEqual(digest(presented), digest(expected));
}

/**
 * `GET /metrics` in Prometheus' text format. With `token`, only a request that carries
 * `Authorization: Bearer <token>` gets them; any other gets 401, whose answer names
 * neither the token expected nor the one sent.
 */
export async function serveMetrics(
  req: IncomingMessage,
  res: ServerResponse,
  registry: Registry,
  token: string | undefined,
): Promise<void> {
  if (token !== undefined) {
    const presented = bearerOf(req);
    if (presented === undefined || !sameSecret(presented, token)) {
      res.setHeader("www-authenticate", 'Bearer realm="metrics"');
      return sendJson(res, 401, {
        error:
          presented === undefined
            ? "/metrics needs Authorization: Bearer <METRICS_TOKEN>"
            : "/metrics refused the bearer token: it is not METRICS_TOKEN",
      });
    }
  }
  const text = await registry.metrics();
  res.setHeader("content-type", registry.contentType);
  res.setHeader("cache-control", "no-store");
  res.end(text);
}
