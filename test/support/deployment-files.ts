import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join, posix } from "node:path";
import { fileURLToPath } from "node:url";
import { parse } from "yaml";

/**
 * Reading the deployment files as Docker would, without Docker: no engine runs where the
 * tests run, so compose's interpolation, a Dockerfile's effect on the image's files and
 * supervisord's config expansion are modelled here, as far as the files in this
 * repository use them.
 */

export const REPOSITORY = fileURLToPath(new URL("../../", import.meta.url));

// ---------------------------------------------------------------------------------------
// docker-compose.yml

export interface ComposeService {
  readonly image?: string;
  readonly build?: string | { readonly context: string; readonly dockerfile?: string };
  readonly command?: readonly string[];
  readonly user?: string;
  readonly environment?: Readonly<Record<string, string>>;
  readonly depends_on?: Readonly<Record<string, { readonly condition: string }>>;
  readonly ports?: readonly string[];
  readonly volumes?: readonly string[];
  readonly secrets?: readonly string[];
  readonly networks?: Readonly<Record<string, { readonly aliases?: readonly string[] } | null>>;
  readonly healthcheck?: { readonly test?: readonly string[]; readonly disable?: boolean };
}

export interface ComposeFile {
  readonly services: Readonly<Record<string, ComposeService>>;
  readonly volumes?: Readonly<Record<string, unknown>>;
  readonly secrets?: Readonly<Record<string, { readonly file: string }>>;
}

/** A compose file as compose reads it, YAML merge keys (`<<`) included. */
export function readCompose(path: string): ComposeFile {
  return parse(readFileSync(join(REPOSITORY, path), "utf8"), { merge: true }) as ComposeFile;
}

/** Refused by compose: a `${VAR:?message}` whose variable is unset or empty. */
export class InterpolationError extends Error {}

/**
 * Compose's interpolation of one value: `${VAR}`, `${VAR:-default}`, `${VAR-default}`,
 * `${VAR:?message}`, `${VAR?message}` and `$$` for a literal `$`. A variable that is
 * unset comes out empty, as compose makes it (with a warning).
 */
export function interpolate(value: string, env: Readonly<Record<string, string | undefined>>): string {
  return value.replace(/\$\$|\$\{(\w+)(?:(:?)([-?])([^}]*))?\}|\$(\w+)/g, (match, name, colon, kind, arg, bare) => {
    if (match === "$$") return "$";
    if (bare !== undefined) return env[bare] ?? "";
    const raw = env[name as string];
    const missing = colon === ":" ? !raw : raw === undefined;
    if (kind === "-") return missing ? interpolate(arg as string, env) : raw!;
    if (kind === "?" && missing) throw new InterpolationError(`${name}: ${arg}`);
    return raw ?? "";
  });
}

/** The names of the variables a value interpolates, and which of them it requires. */
export function variablesIn(value: string): { name: string; required: boolean }[] {
  return [...value.replace(/\$\$/g, "").matchAll(/\$\{(\w+)(?:(:?)([-?]))?/g)].map((m) => ({
    name: m[1]!,
    required: m[3] === "?",
  }));
}

/** A service's environment as its container gets it, interpolated with `env`. */
export function environmentOf(
  service: ComposeService,
  env: Readonly<Record<string, string | undefined>>,
): Record<string, string> {
  return Object.fromEntries(
    Object.entries(service.environment ?? {}).map(([key, value]) => [key, interpolate(String(value), env)]),
  );
}

/** The build context (a folder of this repository) and the Dockerfile in it. */
export function buildOf(service: ComposeService): { context: string; dockerfile: string } | undefined {
  if (service.build === undefined) return undefined;
  const context = typeof service.build === "string" ? service.build : service.build.context;
  const dockerfile = typeof service.build === "string" ? "Dockerfile" : (service.build.dockerfile ?? "Dockerfile");
  return { context: posix.normalize(context), dockerfile };
}

// ---------------------------------------------------------------------------------------
// Dockerfiles

export interface Instruction {
  readonly keyword: string;
  readonly args: string;
  readonly line: number;
}

/** Instructions with their line continuations joined and comments left out. */
export function parseDockerfile(text: string): Instruction[] {
  const instructions: Instruction[] = [];
  let pending: { text: string; line: number } | null = null;
  text.split("\n").forEach((raw, index) => {
    const line = raw.trimEnd();
    if (pending === null && (line.trim() === "" || line.trimStart().startsWith("#"))) return;
    if (pending !== null && line.trimStart().startsWith("#")) return;
    const continued = line.endsWith("\\");
    const body = continued ? line.slice(0, -1) : line;
    pending = pending
      ? { text: `${pending.text} ${body.trim()}`, line: pending.line }
      : { text: body, line: index + 1 };
    if (continued) return;
    const match = /^\s*(\w+)\s+([\s\S]*)$/.exec(pending.text);
    if (match) instructions.push({ keyword: match[1]!.toUpperCase(), args: match[2]!.trim(), line: pending.line });
    pending = null;
  });
  return instructions;
}

/** `["a", "b"]` (exec form), or the words of the shell form. */
export function commandWords(args: string): string[] {
  const trimmed = args.trim();
  if (trimmed.startsWith("[")) return JSON.parse(trimmed) as string[];
  return trimmed.split(/\s+/);
}

/** `.dockerignore` as far as it is used here: names and `*` globs, each excluding a path and all below it. */
export function dockerignore(context: string): (path: string) => boolean {
  const file = join(REPOSITORY, context, ".dockerignore");
  if (!existsSync(file)) return () => false;
  const patterns = readFileSync(file, "utf8")
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith("#"))
    .map(
      (p) =>
        new RegExp(
          `^${p
            .replace(/\/$/, "")
            .replace(/[.+^${}()|[\]\\]/g, "\\$&")
            .replace(/\*/g, "[^/]*")}(/|$)`,
        ),
    );
  return (path) => patterns.some((pattern) => pattern.test(path) || pattern.test(posix.basename(path)));
}

function filesUnder(root: string, ignored: (path: string) => boolean, context: string): string[] {
  const found: string[] = [];
  const walk = (relativePath: string): void => {
    if (ignored(relativePath)) return;
    const absolute = join(REPOSITORY, context, relativePath);
    if (statSync(absolute).isDirectory()) {
      for (const entry of readdirSync(absolute)) walk(posix.join(relativePath, entry));
    } else found.push(relativePath);
  };
  walk(root);
  return found;
}

/** What one stage of an image holds, as far as this model knows it. */
export interface Stage {
  readonly name: string | undefined;
  readonly base: string;
  workdir: string;
  /**
   * The files this stage's instructions put there (the base image's are unknown), by
   * absolute path: each with the repository file it is a copy of, or `null` for what a
   * RUN step made.
   */
  readonly files: Map<string, string | null>;
  cmd: string[] | undefined;
  healthcheck: string | undefined;
  user: string | undefined;
  env: Record<string, string>;
}

export interface ImageModel {
  readonly stages: Stage[];
  /** The image `docker build` produces: the last stage. */
  readonly final: Stage;
  /** Whatever could not be followed: a COPY source missing from the context, say. */
  readonly problems: string[];
}

/**
 * The files an image holds, built from `dockerfile` in `context` (both relative to the
 * repository): FROM, WORKDIR, COPY (from the context, through its .dockerignore, or from
 * an earlier stage), ENV, USER, CMD, HEALTHCHECK, and the RUN steps whose output the
 * image uses: `npm ci` (node_modules), `npm run build` (what package.json's build script,
 * `tsc -p <tsconfig>`, emits for the files that tsconfig includes) and `mkdir`.
 */
export function modelImage(context: string, dockerfile: string): ImageModel {
  const text = readFileSync(join(REPOSITORY, context, dockerfile), "utf8");
  const ignored = dockerignore(context);
  const stages: Stage[] = [];
  const problems: string[] = [];
  let stage: Stage | undefined;
  const at = (path: string): string => posix.resolve(stage!.workdir, path);

  for (const { keyword, args, line } of parseDockerfile(text)) {
    if (keyword === "FROM") {
      const [base, , name] = args.split(/\s+/);
      stage = {
        name,
        base: base!,
        workdir: "/",
        files: new Map(),
        cmd: undefined,
        healthcheck: undefined,
        user: undefined,
        env: {},
      };
      stages.push(stage);
      continue;
    }
    if (!stage) throw new Error(`${dockerfile}:${line}: ${keyword} before FROM`);
    switch (keyword) {
      case "WORKDIR":
        stage.workdir = at(args);
        break;
      case "ENV":
        for (const [, key, value] of args.matchAll(/(\w+)=(\S+)/g)) stage.env[key!] = value!;
        break;
      case "USER":
        stage.user = args;
        break;
      case "CMD":
        stage.cmd = commandWords(args);
        break;
      case "HEALTHCHECK":
        stage.healthcheck = args;
        break;
      case "COPY": {
        const words = args.split(/\s+/);
        const from = words.find((w) => w.startsWith("--from="))?.slice("--from=".length);
        const operands = words.filter((w) => !w.startsWith("--"));
        const destination = operands.pop()!;
        const intoFolder = destination.endsWith("/") || operands.length > 1;
        for (const source of operands) {
          if (from !== undefined) {
            const origin = stages.find((s) => s.name === from);
            const prefix = posix.resolve(origin?.workdir ?? "/", source);
            const matches = [...(origin?.files ?? [])].filter(([f]) => f === prefix || f.startsWith(`${prefix}/`));
            if (matches.length === 0) problems.push(`${dockerfile}:${line}: stage ${from} has nothing at ${prefix}`);
            for (const [file, copyOf] of matches) {
              const target =
                file === prefix
                  ? intoFolder
                    ? posix.join(at(destination), posix.basename(file))
                    : at(destination)
                  : posix.join(at(destination), posix.relative(prefix, file));
              stage.files.set(target, copyOf);
            }
            continue;
          }
          const normalized = posix.normalize(source).replace(/\/$/, "");
          if (!existsSync(join(REPOSITORY, context, normalized)) || ignored(normalized)) {
            problems.push(`${dockerfile}:${line}: COPY ${source}: not in the build context ${context}`);
            continue;
          }
          if (statSync(join(REPOSITORY, context, normalized)).isDirectory()) {
            for (const file of filesUnder(normalized, ignored, context)) {
              stage.files.set(posix.join(at(destination), posix.relative(normalized, file)), posix.join(context, file));
            }
          } else {
            const target = intoFolder ? posix.join(at(destination), posix.basename(normalized)) : at(destination);
            stage.files.set(target, posix.join(context, normalized));
          }
        }
        break;
      }
      case "RUN":
        if (/\bnpm ci\b/.test(args)) stage.files.set(at("node_modules/.package-lock.json"), null);
        if (/\bnpm run build\b/.test(args)) {
          for (const file of typescriptBuild(stage)) stage.files.set(file, null);
        }
        for (const [, folder] of args.matchAll(/\bmkdir(?:\s+-p)?\s+(\S+)/g)) stage.files.set(`${at(folder!)}/`, null);
        break;
      default:
        break;
    }
  }
  if (!stage) throw new Error(`${dockerfile}: no FROM`);
  return { stages, final: stage, problems };
}

/** What `npm run build` (`tsc -p <config>`) emits in `stage`, from the files it was given. */
function typescriptBuild(stage: Stage): string[] {
  const pkg = JSON.parse(readFileSync(join(REPOSITORY, "package.json"), "utf8")) as { scripts: { build: string } };
  const project = /tsc -p (\S+)/.exec(pkg.scripts.build)?.[1];
  if (!project || !stage.files.has(posix.join(stage.workdir, project))) return [];
  const config = JSON.parse(readFileSync(join(REPOSITORY, project), "utf8")) as {
    include: string[];
    exclude?: string[];
  };
  const base = JSON.parse(readFileSync(join(REPOSITORY, "tsconfig.json"), "utf8")) as {
    compilerOptions: { rootDir: string; outDir: string };
  };
  const excluded = (config.exclude ?? []).map(
    (glob) =>
      new RegExp(
        `^${glob
          .replace(/\*\*\//g, "(.*/)?")
          .replace(/\*/g, "[^/]*")
          .replace(/\./g, "\\.")}$`,
      ),
  );
  const emitted: string[] = [];
  for (const file of stage.files.keys()) {
    const inProject = posix.relative(stage.workdir, file);
    if (!inProject.endsWith(".ts") || inProject.endsWith(".d.ts")) continue;
    if (!config.include.some((folder) => inProject.startsWith(`${folder}/`))) continue;
    if (excluded.some((pattern) => pattern.test(inProject))) continue;
    const fromRoot = posix.relative(base.compilerOptions.rootDir, inProject);
    emitted.push(posix.join(stage.workdir, base.compilerOptions.outDir, fromRoot.replace(/\.ts$/, ".js")));
  }
  return emitted;
}

/**
 * The files a command names: every word after the executable with a file extension
 * (`.js`, `.py`, `.conf`, …), resolved against `workdir`. Options (`-c`) are skipped.
 */
export function filesNamedBy(words: readonly string[], workdir: string): string[] {
  return words
    .slice(1)
    .filter((word) => !word.startsWith("-") && /\.(js|mjs|py|conf|json)$/.test(word))
    .map((word) => posix.resolve(workdir, word));
}

// ---------------------------------------------------------------------------------------
// supervisord.conf

/** `%(here)s` and `%(ENV_X)s`, as supervisord expands them; names the ENV_ variables it needs. */
export function expandSupervisorConfig(
  text: string,
  here: string,
  env: Readonly<Record<string, string>>,
): { text: string; missing: string[] } {
  const missing: string[] = [];
  const expanded = text.replace(/%\((here|ENV_(\w+))\)s/g, (_m, key: string, variable: string | undefined) => {
    if (key === "here") return here;
    const value = env[variable!];
    if (value === undefined) missing.push(variable!);
    return value ?? "";
  });
  return { text: expanded, missing: [...new Set(missing)] };
}

/** The `command=` of every [program:x] and [eventlistener:x] section. */
export function supervisorCommands(text: string): Map<string, string> {
  const commands = new Map<string, string>();
  let section: string | undefined;
  for (const line of text.split("\n")) {
    const header = /^\[(program|eventlistener):([^\]]+)\]/.exec(line.trim());
    if (header) section = `${header[1]}:${header[2]}`;
    else if (/^\[/.test(line.trim())) section = undefined;
    const command = /^command\s*=\s*(.*)$/.exec(line.trim());
    if (section && command) commands.set(section, command[1]!);
  }
  return commands;
}
