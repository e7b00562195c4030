import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join, posix } from "node:path";
import { describe, expect, it } from "vitest";
import { SUPERVISOR_REQUIREMENT } from "../src/cli/demo/prerequisites.js";
import { CONFIG_VARIABLES, loadConfig } from "../src/config/config.js";
import { MAX_BODY_BYTES } from "../src/http/request-limits.js";
import {
  buildOf,
  environmentOf,
  expandSupervisorConfig,
  filesNamedBy,
  interpolate,
  InterpolationError,
  modelImage,
  readCompose,
  REPOSITORY,
  supervisorCommands,
  variablesIn,
  type ComposeService,
} from "./support/deployment-files.js";
import { tempDir } from "./support/temp-dir.js";

/**
 * No Docker engine runs where the tests run, so the deployment is checked as files: the
 * compose file must parse, every image it builds must hold what its commands run, and what
 * it gives Fleetvisor must be a configuration Fleetvisor accepts. test/compose.int.test.ts
 * runs the seed and the managed containers' supervisord config against a real Fleetvisor.
 */

const compose = readCompose("docker-compose.yml");
const services = Object.entries(compose.services);
const replicas = services.filter(([, service]) => buildOf(service)?.context === ".");
const managed = services.filter(([name]) => /^domaeka-test-\d\d$/.test(name));
const fleet = JSON.parse(readFileSync(join(REPOSITORY, "deploy/fleet.json"), "utf8")) as {
  processes: { name: string; port: number; supervisorHost: string; supervisorPort: number; program: string }[];
};

/** What a user's .env holds: every variable that .env.example lists, with a value. */
const DOT_ENV: Readonly<Record<string, string>> = Object.fromEntries(
  readFileSync(join(REPOSITORY, ".env.example"), "utf8")
    .split("\n")
    .filter((line) => /^\w+=/.test(line))
    .map((line) => {
      const [name, value] = line.split("=", 2) as [string, string];
      return [name, value || `value-of-${name.toLowerCase()}-0123456789`];
    }),
);

/** The service's volumes as `source:target[:mode]`, split. */
function mounts(service: ComposeService): { source: string; target: string; readOnly: boolean }[] {
  return (service.volumes ?? []).map((volume) => {
    const [source, target, mode] = volume.split(":") as [string, string, string | undefined];
    return { source, target, readOnly: mode === "ro" };
  });
}

describe("docker-compose.yml", () => {
  it("runs more than one replica, with Redis, against MySQL, behind one address", () => {
    expect(replicas.map(([name]) => name).sort()).toEqual(["fleetvisor-1", "fleetvisor-2"]);
    expect(compose.services.mysql?.image).toMatch(/^mysql:8/);
    expect(compose.services.redis?.image).toMatch(/^redis:/);
    for (const [, service] of replicas) {
      expect(Object.keys(service.depends_on ?? {}).sort()).toEqual(["mysql", "redis"]);
      expect(environmentOf(service, DOT_ENV).REDIS_URL).toBe("redis://redis:6379");
      // Clients reach the replicas through the load balancer only.
      expect(service.ports ?? []).toEqual([]);
    }
    const balancer = compose.services.fleetvisor!;
    expect(balancer.image).toMatch(/^nginx:/);
    expect(balancer.ports).toEqual(["4000:4000"]);
    expect(Object.entries(balancer.depends_on ?? {}).sort()).toEqual([
      ["fleetvisor-1", { condition: "service_healthy" }],
      ["fleetvisor-2", { condition: "service_healthy" }],
    ]);
  });

  it("gives each replica a configuration that Fleetvisor accepts, with no secret written in the file", () => {
    for (const [name, service] of replicas) {
      // Only variables Fleetvisor reads: a misspelt one would be ignored without a word.
      expect(
        Object.keys(service.environment ?? {}).filter((v) => !CONFIG_VARIABLES.includes(v)),
        name,
      ).toEqual([]);
      const config = loadConfig(environmentOf(service, DOT_ENV));
      expect(config.database).toMatchObject({ host: "mysql", port: 3306, user: "fleetvisor", database: "fleetvisor" });
      // Nothing in it is a misspelling Fleetvisor would warn about at start.
      expect(config.unknownVariables).toEqual([]);
      expect(config.supervisor.defaultCredentials).toEqual({
        username: "admin",
        password: DOT_ENV.SUPERVISOR_PASSWORD,
      });
      expect(config.production).toBe(true);
    }
  });

  it("writes no secret: every password and token comes from the environment", () => {
    for (const [name, service] of services) {
      for (const [variable, value] of Object.entries(service.environment ?? {})) {
        // MYSQL_RANDOM_ROOT_PASSWORD is a yes/no flag of the mysql image.
        if (!/PASSWORD|TOKEN|SECRET/.test(variable) || /_FILE$|^MYSQL_RANDOM_ROOT_PASSWORD$/.test(variable)) continue;
        expect(String(value), `${name}.${variable}`).toMatch(/^\$\{\w+[:?-]/);
      }
      expect(String(service.environment?.DATABASE_URL ?? "${MYSQL_PASSWORD"), name).toContain("${MYSQL_PASSWORD");
    }
  });

  it("refuses to start without each required secret, and .env.example lists every one", () => {
    const required = new Set<string>();
    for (const [, service] of services) {
      for (const value of Object.values(service.environment ?? {})) {
        for (const variable of variablesIn(String(value))) if (variable.required) required.add(variable.name);
      }
    }
    expect([...required].sort()).toEqual(["FLEETVISOR_BOOTSTRAP_ADMIN_TOKEN", "MYSQL_PASSWORD", "SUPERVISOR_PASSWORD"]);
    const example = readFileSync(join(REPOSITORY, ".env.example"), "utf8");
    for (const variable of required) {
      // Listed, with no value: the user writes their own.
      expect(example).toMatch(new RegExp(`^${variable}=$`, "m"));
      const without = { ...DOT_ENV, [variable]: "" };
      expect(() => services.forEach(([, service]) => environmentOf(service, without)), variable).toThrow(
        InterpolationError,
      );
    }
    // Git and the image's build context both leave a user's .env out.
    expect(readFileSync(join(REPOSITORY, ".gitignore"), "utf8")).toMatch(/^\.env$/m);
    expect(readFileSync(join(REPOSITORY, ".dockerignore"), "utf8")).toMatch(/^\.env$/m);
  });

  it("needs no SUPERVISOR_PASSWORD for Fleetvisor when a credentials file is given", () => {
    const file = join(tempDir("deployment"), "supervisor-credentials.json");
    writeFileSync(file, JSON.stringify({ "domaeka-server-test-01:9101": { username: "admin", password: "x" } }));
    const withFile = {
      MYSQL_PASSWORD: DOT_ENV.MYSQL_PASSWORD,
      FLEETVISOR_BOOTSTRAP_ADMIN_TOKEN: DOT_ENV.FLEETVISOR_BOOTSTRAP_ADMIN_TOKEN,
      SUPERVISOR_CREDENTIALS_FILE: file,
    };
    for (const [, service] of replicas) {
      const config = loadConfig(environmentOf(service, withFile));
      expect(config.supervisor.defaultCredentials).toBeUndefined();
      expect(config.supervisor.credentialsByHost.size).toBe(1);
    }
    // The override that mounts such a file names real services and puts it where it says.
    const override = readCompose("deploy/credentials-file.compose.yml");
    for (const [name, service] of Object.entries(override.services)) {
      expect(replicas.map(([replica]) => replica)).toContain(name);
      expect(service.secrets).toHaveLength(1);
      expect(service.environment?.SUPERVISOR_CREDENTIALS_FILE).toBe(`/run/secrets/${service.secrets![0]}`);
      expect(override.secrets?.[service.secrets![0]!]?.file).toBe("./supervisor-credentials.json");
    }
    expect(readFileSync(join(REPOSITORY, ".gitignore"), "utf8")).toMatch(/^supervisor-credentials\.json$/m);
  });

  it("checks readiness on the port PORT says", () => {
    for (const [name, service] of replicas) {
      const [form, command] = service.healthcheck?.test ?? [];
      expect(form, name).toBe("CMD-SHELL");
      // `$$` reaches the container as `$`: its shell expands PORT, compose does not.
      const inContainer = interpolate(command!, DOT_ENV);
      expect(inContainer).toContain("http://127.0.0.1:${PORT:-4000}/readyz");
    }
  });

  it("builds every image from a context and a Dockerfile whose COPY sources exist and whose command's files it holds", () => {
    const built = services.filter(([, service]) => buildOf(service));
    expect(built.map(([name]) => name).sort()).toEqual(
      ["domaeka-test-01", "domaeka-test-02", "domaeka-test-03", "fleetvisor-1", "fleetvisor-2", "seed"].sort(),
    );
    for (const [name, service] of built) {
      const { context, dockerfile } = buildOf(service)!;
      expect(existsSync(join(REPOSITORY, context, dockerfile)), `${name}: ${context}/${dockerfile}`).toBe(true);
      const image = modelImage(context, dockerfile);
      expect(image.problems, name).toEqual([]);
      const command = service.command ?? image.final.cmd!;
      for (const file of filesNamedBy(command, image.final.workdir)) {
        const mounted = mounts(service).some((m) => m.source.startsWith(".") && file.startsWith(`${m.target}/`));
        expect(image.final.files.has(file) || mounted, `${name} runs ${command.join(" ")}: ${file}`).toBe(true);
      }
    }
  });

  it("mounts files that exist and volumes that are declared", () => {
    for (const [name, service] of services) {
      for (const { source } of mounts(service)) {
        if (source.startsWith(".")) expect(existsSync(join(REPOSITORY, source)), `${name}: ${source}`).toBe(true);
        else expect(Object.keys(compose.volumes ?? {}), `${name}: ${source}`).toContain(source);
      }
    }
  });
});

describe("the load balancer (deploy/nginx.conf)", () => {
  const nginx = readFileSync(join(REPOSITORY, "deploy/nginx.conf"), "utf8");
  const graphqlLocation = /location = \/graphql \{([^}]*)\}/.exec(nginx)?.[1] ?? "";

  it("sends to every replica, on the port the replica listens on", () => {
    const upstream = [...nginx.matchAll(/^\s*server ([\w.-]+):(\d+)\b/gm)].map((m) => `${m[1]}:${m[2]}`);
    const expected = replicas.map(
      ([name, service]) => `${name}:${loadConfig(environmentOf(service, DOT_ENV)).http.port}`,
    );
    expect(upstream.sort()).toEqual(expected.sort());
    const published = compose.services.fleetvisor!.ports![0]!.split(":")[1];
    expect(nginx).toMatch(new RegExp(`^\\s*listen ${published};`, "m"));
  });

  it("passes WebSocket upgrades on /graphql, and bodies as large as Fleetvisor takes", () => {
    expect(nginx).toMatch(/proxy_http_version 1\.1;/);
    expect(graphqlLocation).toMatch(/proxy_set_header Upgrade \$http_upgrade;/);
    expect(graphqlLocation).toMatch(/proxy_set_header Connection \$connection_upgrade;/);
    expect(nginx).toMatch(/map \$http_upgrade \$connection_upgrade \{\s*default upgrade;/);
    const [, size, unit] = /client_max_body_size (\d+)([km]);/.exec(nginx)!;
    expect(Number(size) * (unit === "m" ? 1024 * 1024 : 1024)).toBeGreaterThan(MAX_BODY_BYTES);
  });
});

describe("the managed containers and the seed", () => {
  const image = modelImage("client-examples", "managed-server/Dockerfile");
  const configPath = image.final.cmd![image.final.cmd!.indexOf("-c") + 1]!;
  const configText = readFileSync(join(REPOSITORY, image.final.files.get(configPath)!), "utf8");
  const seed = compose.services.seed!;

  it("are the guide's three, each in deploy/fleet.json with the supervisord it runs", () => {
    expect(managed.map(([name]) => name)).toEqual(["domaeka-test-01", "domaeka-test-02", "domaeka-test-03"]);
    expect(fleet.processes.map((p) => p.name)).toEqual(managed.map(([name]) => name));
    managed.forEach(([name, service], index) => {
      const env = environmentOf(service, DOT_ENV);
      const row = fleet.processes.find((p) => p.name === env.SERVER_NAME)!;
      expect(row.name).toBe(name);
      // XML-RPC on 9101 … as in the guide, under the guide's host names and program.
      expect(row.supervisorPort).toBe(9101 + index);
      expect(env.SUPERVISOR_PORT).toBe(String(row.supervisorPort));
      expect(row.supervisorHost).toBe(`domaeka-server-test-0${index + 1}`);
      expect([name, ...(service.networks?.default?.aliases ?? [])]).toContain(row.supervisorHost);
      expect(env.FLEETVISOR_SUPERVISOR).toBe(`${row.supervisorHost}:${row.supervisorPort}`);
      expect(configText).toContain(`[program:${row.program}]`);
      expect(new Set(fleet.processes.map((p) => p.port)).size).toBe(fleet.processes.length);
    });
  });

  it("give supervisord every variable its config expands, and run programs the image holds", () => {
    const here = posix.dirname(configPath);
    for (const [name, service] of managed) {
      const env = { ...image.final.env, ...environmentOf(service, DOT_ENV) };
      const { text, missing } = expandSupervisorConfig(configText, here, env);
      expect(missing, name).toEqual([]);
      const commands = supervisorCommands(text);
      expect([...commands.keys()].sort()).toEqual(["eventlistener:fleetvisor", "program:python-server"]);
      for (const command of commands.values()) {
        for (const file of filesNamedBy(command.split(/\s+/), here)) {
          expect(image.final.files.has(file), `${name}: ${command}`).toBe(true);
        }
      }
      expect(text).toContain(`--name ${name}`);
      // The registry client and the listener reach Fleetvisor through the load balancer.
      expect(env.FLEETVISOR_URL).toBe(`http://fleetvisor:${compose.services.fleetvisor!.ports![0]!.split(":")[1]}`);
    }
  });

  it("get their agent token from the seed through a volume of their own, read-only, never from the image", () => {
    const seedMounts = mounts(seed);
    const tokenDir = seed.command![seed.command!.indexOf("--token-dir") + 1]!;
    const owner = seed.command![seed.command!.indexOf("--owner") + 1]!;
    for (const [name, service] of managed) {
      const env = environmentOf(service, DOT_ENV);
      expect(env.FLEETVISOR_TOKEN).toBeUndefined();
      const tokenFile = env.FLEETVISOR_TOKEN_FILE!;
      const mount = mounts(service).find((m) => tokenFile.startsWith(`${m.target}/`))!;
      expect(mount.readOnly, name).toBe(true);
      // The seed writes TOKEN_DIR/<name>/agent-token into the same volume.
      const written = seedMounts.find((m) => m.source === mount.source)!;
      expect(written.target).toBe(posix.join(tokenDir, name));
      expect(posix.relative(mount.target, tokenFile)).toBe("agent-token");
      // No other container mounts it.
      const sharing = services.filter(([, other]) => mounts(other).some((m) => m.source === mount.source));
      expect(sharing.map(([n]) => n).sort()).toEqual([name, "seed"].sort());
      expect(Object.entries(service.depends_on ?? {})).toContainEqual([
        "seed",
        { condition: "service_completed_successfully" },
      ]);
    }
    // Owned by the user the managed image runs as.
    expect(image.final.user).toBe("app");
    expect(readFileSync(join(REPOSITORY, "client-examples/managed-server/Dockerfile"), "utf8")).toMatch(
      new RegExp(`--uid ${owner.split(":")[0]} .*--gid app|groupadd .*--gid ${owner.split(":")[1]} app`),
    );
  });

  it("install a supervisord that starts on the image's Python: the release line the demo installs", () => {
    const dockerfile = readFileSync(join(REPOSITORY, "client-examples/managed-server/Dockerfile"), "utf8");
    const installed = /pip install [^\n]*?"?(supervisor[^"\s]*)"?/.exec(dockerfile)?.[1];
    // Older releases import pkg_resources, which current setuptools no longer ships.
    expect(installed).toBe(SUPERVISOR_REQUIREMENT);
  });

  it("seed with the bootstrap admin token, after both replicas are healthy", () => {
    const env = environmentOf(seed, DOT_ENV);
    expect(env.FLEETVISOR_BOOTSTRAP_ADMIN_TOKEN).toBe(DOT_ENV.FLEETVISOR_BOOTSTRAP_ADMIN_TOKEN);
    expect(env.FLEETVISOR_URL).toBe("http://fleetvisor:4000");
    expect(seed.command).toContain("/opt/fleetvisor-seed/fleet.json");
    const fleetMount = mounts(seed).find((m) => m.target === "/opt/fleetvisor-seed")!;
    expect(existsSync(join(REPOSITORY, fleetMount.source, "fleet.json"))).toBe(true);
    expect(seed.depends_on?.["fleetvisor-1"]).toEqual({ condition: "service_healthy" });
    expect(seed.depends_on?.["fleetvisor-2"]).toEqual({ condition: "service_healthy" });
  });
});

describe("Dockerfile", () => {
  const dockerfile = readFileSync(join(REPOSITORY, "Dockerfile"), "utf8");

  it("builds the image from a Dockerfile that runs what `npm start` runs", () => {
    const pkg = JSON.parse(readFileSync(join(REPOSITORY, "package.json"), "utf8")) as {
      scripts: { start: string };
    };
    expect(dockerfile).toContain(`CMD ["${pkg.scripts.start.split(" ").join('", "')}"]`);
    // The dashboard is served from the image, not from a CDN.
    expect(dockerfile).toMatch(/^COPY client-examples\/dashboard /m);
    expect(modelImage(".", "Dockerfile").final.files.has("/app/client-examples/dashboard/index.html")).toBe(true);
  });

  it("checks readiness on the port PORT says", () => {
    expect(modelImage(".", "Dockerfile").final.healthcheck).toContain("process.env.PORT");
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
  const pkg = JSON.parse(readFileSync(join(REPOSITORY, "package.json"), "utf8")) as {
    engines: { node: string };
    dependencies: Record<string, string>;
  };
  const dockerfile = readFileSync(join(REPOSITORY, "Dockerfile"), "utf8");

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
