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
