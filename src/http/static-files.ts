import { readFile } from "node:fs/promises";
import type { ServerResponse } from "node:http";
import { dirname, extname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { packageRoot } from "../package-root.js";

const TYPES: Readonly<Record<string, string>> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".ico": "image/x-icon",
};

/** Only plain file names: no directories, no dot files, nothing that climbs out. */
const FILE_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;

export interface StaticFiles {
  /** Serves `pathname` when it is one of the dashboard's files; false when it is not. */
  serve(pathname: string, res: ServerResponse): Promise<boolean>;
}

/**
 * The admin dashboard, served by Fleetvisor itself at `/`: its own files from
 * client-examples/dashboard/, and the graphql-ws browser client from the installed
 * package. Nothing comes from a CDN (the machines that run it often have no internet).
 */
export function dashboardFiles(): StaticFiles {
  const roots: Record<string, string> = {
    "/dashboard/": join(packageRoot(), "client-examples", "dashboard"),
    "/vendor/graphql-ws/": dirname(fileURLToPath(import.meta.resolve("graphql-ws/client"))),
  };
  return {
    async serve(pathname, res) {
      let directory: string | undefined;
      let name: string | undefined;
      if (pathname === "/" || pathname === "/index.html") {
        directory = roots["/dashboard/"];
        name = "index.html";
      } else {
        for (const [prefix, root] of Object.entries(roots)) {
          if (pathname.startsWith(prefix)) {
            directory = root;
            name = pathname.slice(prefix.length);
          }
        }
      }
      if (!directory || !name || !FILE_NAME.test(name) || !TYPES[extname(name)]) return false;
      let body: Buffer;
      try {
        body = await readFile(join(directory, name));
      } catch {
        return false;
      }
      res.statusCode = 200;
      res.setHeader("content-type", TYPES[extname(name)]!);
      res.setHeader("cache-control", "no-cache");
      res.setHeader("x-content-type-options", "nosniff");
      res.setHeader("referrer-policy", "no-referrer");
      res.setHeader(
        "content-security-policy",
        "default-src 'self'; connect-src 'self' ws: wss:; img-src 'self' data:; style-src 'self'; script-src 'self'; frame-ancestors 'none'",
      );
      res.end(body);
      return true;
    },
  };
}
