import { execFile, spawn } from "node:child_process";
import { accessSync, constants, rmSync, statSync } from "node:fs";
import { homedir } from "node:os";
import { delimiter, join } from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);

/**
 * What the demo installs when no supervisord is on the PATH. 4.3 is the first release that
 * needs no `pkg_resources` on Python 3.8+, which setuptools 82 no longer ships.
 */
export const SUPERVISOR_REQUIREMENT = "supervisor>=4.3,<5";

const INSTALL_SUPERVISOR =
  "install supervisord (Debian/Ubuntu: sudo apt-get install supervisor; macOS: brew install supervisor)";

/** Something the demo needs is not there; the message is one line that says what to install. */
export class MissingPrerequisite extends Error {
  constructor(message: string) {
    super(message);
    this.name = "MissingPrerequisite";
  }
}

export type IsExecutable = (file: string) => boolean;

function isExecutableFile(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return statSync(file).isFile();
  } catch {
    return false;
  }
}

/** The first executable file called `name` in a PATH value (empty entries skipped), or undefined. */
export function findExecutable(
  name: string,
  path: string | undefined,
  isExecutable: IsExecutable = isExecutableFile,
): string | undefined {
  for (const dir of (path ?? "").split(delimiter)) {
    if (dir === "") continue;
    const candidate = join(dir, name);
    if (isExecutable(candidate)) return candidate;
  }
  return undefined;
}

/** The Python interpreter the demo's programs run with. */
export interface Python {
  /** The interpreter itself (`sys.executable`), so that shims such as pyenv's are not in the way. */
  readonly executable: string;
  readonly version: string;
}

/** python3 from the PATH, 3.8 or later, or a {@link MissingPrerequisite}. */
export async function findPython(path: string | undefined): Promise<Python> {
  const python3 = findExecutable("python3", path);
  const install =
    "install Python 3.8 or later (Debian/Ubuntu: sudo apt-get install python3; macOS: brew install python), then run npm run demo again";
  if (!python3) {
    throw new MissingPrerequisite(`npm run demo needs python3 on the PATH for its example servers: ${install}`);
  }
  const probe =
    "import sys; print(sys.executable); print('%d.%d.%d' % sys.version_info[:3]); print(sys.version_info >= (3, 8))";
  const answer = await run(python3, ["-c", probe], { timeout: 30_000 }).catch((error: Error) => {
    throw new MissingPrerequisite(`${python3} does not run (${firstLine(error.message)}): ${install}`);
  });
  const [executable, version, recent] = answer.stdout.trim().split("\n");
  if (recent !== "True" || !executable || !version) {
    throw new MissingPrerequisite(`${python3} is Python ${version ?? "of an unknown version"}: ${install}`);
  }
  return { executable, version };
}

/** Where the demo keeps its own supervisord when the machine has none: one folder, made once. */
export function venvDirectory(env: Readonly<Record<string, string | undefined>>): string {
  const cache = env.XDG_CACHE_HOME || join(env.HOME || homedir(), ".cache");
  return join(cache, "fleetvisor", "demo-supervisor-venv");
}

/** supervisord and supervisorctl, and where they came from. */
export interface SupervisordBinaries {
  readonly supervisord: string;
  readonly supervisorctl: string | undefined;
  readonly from: "PATH" | "venv";
}

/** What to do to have a supervisord. */
export type SupervisordPlan =
  | { readonly action: "use"; readonly binaries: SupervisordBinaries }
  /** `createVenv` is false when an earlier run made the virtual environment but its install failed. */
  | { readonly action: "install"; readonly venvDir: string; readonly createVenv: boolean };

/**
 * supervisord from the PATH when there is one (a system's own, e.g. Debian's `supervisor`
 * package); else the one installed in the demo's virtual environment by an earlier run;
 * else install it there.
 */
export function planSupervisord(
  path: string | undefined,
  venvDir: string,
  isExecutable: IsExecutable = isExecutableFile,
): SupervisordPlan {
  const onPath = findExecutable("supervisord", path, isExecutable);
  if (onPath) {
    return {
      action: "use",
      binaries: {
        supervisord: onPath,
        supervisorctl: findExecutable("supervisorctl", path, isExecutable),
        from: "PATH",
      },
    };
  }
  const bin = join(venvDir, "bin");
  if (isExecutable(join(bin, "supervisord"))) {
    const supervisorctl = join(bin, "supervisorctl");
    return {
      action: "use",
      binaries: {
        supervisord: join(bin, "supervisord"),
        supervisorctl: isExecutable(supervisorctl) ? supervisorctl : undefined,
        from: "venv",
      },
    };
  }
  return { action: "install", venvDir, createVenv: !isExecutable(join(bin, "python")) };
}

/**
 * Carries out the plan: creates the virtual environment with `python -m venv` when needed and
 * installs {@link SUPERVISOR_REQUIREMENT} into it with its pip. Either failure is a
 * {@link MissingPrerequisite} naming what to install instead. `say` reports progress.
 */
export async function ensureSupervisord(
  plan: SupervisordPlan,
  python: Python,
  say: (line: string) => void,
): Promise<SupervisordBinaries> {
  if (plan.action === "use") return plan.binaries;
  const { venvDir } = plan;
  say(`supervisord is not on the PATH: installing the ${SUPERVISOR_REQUIREMENT} Python package into ${venvDir} (once)`);
  if (plan.createVenv) {
    const created = await runQuietly(python.executable, ["-m", "venv", venvDir]);
    if (!created.ok) {
      // A half-made environment (Debian without python3-venv leaves one) would be taken for a
      // usable one next time.
      rmSync(venvDir, { recursive: true, force: true });
      throw new MissingPrerequisite(
        `could not create a Python virtual environment in ${venvDir} (${created.reason}); ` +
          `${INSTALL_SUPERVISOR}, or Python's venv module (Debian/Ubuntu: sudo apt-get install python3-venv), then run npm run demo again`,
      );
    }
  }
  const venvPython = join(venvDir, "bin", "python");
  const installed = await runQuietly(venvPython, [
    "-m",
    "pip",
    "install",
    "--disable-pip-version-check",
    "--no-input",
    SUPERVISOR_REQUIREMENT,
  ]);
  const supervisord = join(venvDir, "bin", "supervisord");
  if (!installed.ok || !isExecutableFile(supervisord)) {
    throw new MissingPrerequisite(
      `could not install the Python package "${SUPERVISOR_REQUIREMENT}" (pip: ${installed.ok ? "no supervisord was installed" : installed.reason}); ` +
        `${INSTALL_SUPERVISOR} or make PyPI reachable, then run npm run demo again`,
    );
  }
  return { supervisord, supervisorctl: join(venvDir, "bin", "supervisorctl"), from: "venv" };
}

type Outcome = { readonly ok: true } | { readonly ok: false; readonly reason: string };

/** Runs a command for its exit status, keeping the end of its output to say why it failed. */
function runQuietly(command: string, args: readonly string[]): Promise<Outcome> {
  return new Promise((resolve) => {
    let output = "";
    const child = spawn(command, args, { stdio: ["ignore", "pipe", "pipe"] });
    const keep = (chunk: Buffer): void => {
      output = (output + chunk.toString("utf8")).slice(-8_192);
    };
    child.stdout.on("data", keep);
    child.stderr.on("data", keep);
    child.once("error", (error) => resolve({ ok: false, reason: error.message }));
    child.once("close", (code, signal) => {
      if (code === 0) resolve({ ok: true });
      else resolve({ ok: false, reason: lastProblemLine(output) ?? `exit ${code ?? signal}` });
    });
  });
}

/** pip and venv end with the line that matters ("ERROR: No matching distribution found for …"). */
export function lastProblemLine(output: string): string | undefined {
  const lines = output
    .split("\n")
    .map((line) => line.trim())
    .filter((line) => line !== "");
  return [...lines].reverse().find((line) => /^(ERROR|Error)\b/.test(line)) ?? lines.at(-1);
}

function firstLine(text: string): string {
  return text.split("\n")[0] ?? text;
}
