import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { loadConfig } from "../src/config/config.js";

/**
 * No Docker engine runs where the tests run, so the compose file is checked as a file:
 * it must parse, and what it gives Fleetvisor must be a configuration Fleetvisor accepts.
 */
describe("docker-compose.yml", () => {
  const compose = parse(readFileSync(new URL("../docker-compose.yml", import.meta.url), "utf8"), { merge: true }) as {
    services: Record<
      string,
      { build?: string; environment?: Record<string, string>; depends_on?: Record<string, unknown>; image?: string }
    >;
  };
  const replicas = Object.entries(compose.services).filter(([, service]) => service.build === ".");

  it("runs more than one replica, with Redis, against MySQL", () => {
    expect(replicas.length).toBeGreaterThanOrEqual(2);
    expect(compose.services.mysql?.image).toMatch(/^mysql:8/);
    expect(compose.services.redis?.image).toMatch(/^redis:/);
    for (const [, service] of replicas) {
      expect(Object.keys(service.depends_on ?? {}).sort()).toEqual(["mysql", "redis"]);
      expect(service.environment?.REDIS_URL).toBe("redis://redis:6379");
    }
  });

  it("gives each replica a configuration that Fleetvisor accepts, with no secret written in the file", () => {
    const substitute = (value: string): string =>
      value.replace(/\$\{(\w+)(?::[-?][^}]*)?\}/g, (_m, name: string) => `value-of-${name.toLowerCase()}-0123456789`);
    for (const [, service] of replicas) {
      const env = Object.fromEntries(
        Object.entries(service.environment ?? {}).map(([k, v]) => [k, substitute(String(v))]),
      );
      const config = loadConfig(env);
      expect(config.database).toMatchObject({ host: "mysql", port: 3306, user: "fleetvisor", database: "fleetvisor" });
      // Nothing in it is a misspelling Fleetvisor would warn about at start.
      expect(config.unknownVariables).toEqual([]);
      for (const secret of ["FLEETVISOR_BOOTSTRAP_ADMIN_TOKEN", "SUPERVISOR_PASSWORD"]) {
        expect(service.environment?.[secret]).toMatch(/^\$\{/);
      }
      expect(service.environment?.DATABASE_URL).toContain("${MYSQL_PASSWORD");
    }
  });

  it("builds the image from a Dockerfile that runs what `npm start` runs", () => {
    const dockerfile = readFileSync(new URL("../Dockerfile", import.meta.url), "utf8");
    const pkg = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as {
      scripts: { start: string };
    };
    expect(dockerfile).toContain(`CMD ["${pkg.scripts.start.split(" ").join('", "')}"]`);
    // The dashboard is served from the image, not from a CDN.
    expect(dockerfile).toMatch(/^COPY client-examples\/dashboard /m);
  });
});

/** Whether `version` (e.g. 24.21.0) is in an engines range of `^a.b.c` and `>=a.b.c` parts joined by `||`. */
function satisfies(version: string, range: string): boolean {
  const [major, minor, patch] = version.split(".").map(Number) as [number, number, number];
  const atLeast = (min: number[]) =>
    major !== min[0] ? major > min[0]! : minor !== min[1] ? minor > min[1]! : patch >= min[2]!;
  return range.split("||").some((part) => {
    const match = /^\s*(\^|>=)(\d+)\.(\d+)\.(\d+)\s*$/.exec(part);
    if (!match) throw new Error(`engines part not understood: ${part}`);
    const min = [Number(match[2]), Number(match[3]), Number(match[4])];
    return atLeast(min) && (match[1] === ">=" || major === min[0]);
  });
}

describe("the Node versions", () => {
  const pkg = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as {
    engines: { node: string };
    dependencies: Record<string, string>;
  };
  const dockerfile = readFileSync(new URL("../Dockerfile", import.meta.url), "utf8");

  it("builds and runs the image on Node 24, the LTS line, in both stages", () => {
    const bases = [...dockerfile.matchAll(/^FROM (\S+)/gm)].map((m) => m[1]);
    expect(bases).toEqual(["node:24-bookworm-slim", "node:24-bookworm-slim"]);
  });

  it("engines admits this machine's Node and Node 24, and no Node the runtime dependencies refuse", () => {
    const engines = pkg.engines.node;
    expect(satisfies(process.versions.node, engines)).toBe(true);
    expect(satisfies("24.11.0", engines)).toBe(true);
    expect(satisfies("20.18.3", engines)).toBe(false);
    expect(satisfies("23.11.0", engines)).toBe(false);
    // What TypeORM, the strictest of them, asks for.
    const typeorm = JSON.parse(
      readFileSync(new URL("../node_modules/typeorm/package.json", import.meta.url), "utf8"),
    ) as { engines: { node: string } };
    for (const version of ["20.19.0", "22.12.0", "22.13.0", "24.10.0", "24.11.0", "26.0.0"]) {
      if (satisfies(version, engines)) expect(satisfies(version, typeorm.engines.node), version).toBe(true);
    }
  });
});
