import { describe, expect, it } from "vitest";
import {
  findExecutable,
  findPython,
  lastProblemLine,
  MissingPrerequisite,
  planSupervisord,
  venvDirectory,
} from "./prerequisites.js";

const VENV = "/home/me/.cache/fleetvisor/demo-supervisor-venv";

/** A file system holding exactly these executables. */
const only =
  (...files: string[]) =>
  (file: string): boolean =>
    files.includes(file);

describe("findExecutable", () => {
  it("takes the first directory of PATH that has it, skipping empty entries", () => {
    const isExecutable = only("/opt/bin/python3", "/usr/bin/python3");
    expect(findExecutable("python3", "::/opt/bin:/usr/bin", isExecutable)).toBe("/opt/bin/python3");
    expect(findExecutable("python3", "/usr/bin:/opt/bin", isExecutable)).toBe("/usr/bin/python3");
  });

  it.each([undefined, "", "/nowhere"])("finds nothing on PATH=%j", (path) => {
    expect(findExecutable("python3", path, only("/usr/bin/python3"))).toBeUndefined();
  });
});

describe("planSupervisord", () => {
  it.each([
    {
      case: "supervisord on the PATH wins, even with a venv",
      files: ["/usr/bin/supervisord", "/usr/bin/supervisorctl", `${VENV}/bin/supervisord`],
      plan: {
        action: "use",
        binaries: { supervisord: "/usr/bin/supervisord", supervisorctl: "/usr/bin/supervisorctl", from: "PATH" },
      },
    },
    {
      case: "supervisord on the PATH without supervisorctl",
      files: ["/usr/bin/supervisord"],
      plan: {
        action: "use",
        binaries: { supervisord: "/usr/bin/supervisord", supervisorctl: undefined, from: "PATH" },
      },
    },
    {
      case: "none on the PATH: the venv an earlier run made is reused",
      files: [`${VENV}/bin/python`, `${VENV}/bin/supervisord`, `${VENV}/bin/supervisorctl`],
      plan: {
        action: "use",
        binaries: {
          supervisord: `${VENV}/bin/supervisord`,
          supervisorctl: `${VENV}/bin/supervisorctl`,
          from: "venv",
        },
      },
    },
    {
      case: "a venv whose install failed: only pip runs again",
      files: [`${VENV}/bin/python`],
      plan: { action: "install", venvDir: VENV, createVenv: false },
    },
    {
      case: "nothing yet: make the venv, then install",
      files: [],
      plan: { action: "install", venvDir: VENV, createVenv: true },
    },
  ])("$case", ({ files, plan }) => {
    expect(planSupervisord("/usr/local/bin:/usr/bin", VENV, only(...files))).toEqual(plan);
  });
});

describe("venvDirectory", () => {
  it("lives in the user's cache, XDG_CACHE_HOME first", () => {
    expect(venvDirectory({ XDG_CACHE_HOME: "/xdg", HOME: "/home/me" })).toBe("/xdg/fleetvisor/demo-supervisor-venv");
    expect(venvDirectory({ HOME: "/home/me" })).toBe(VENV);
  });
});

describe("lastProblemLine", () => {
  it("picks pip's last ERROR line over the warnings around it", () => {
    const pip = [
      "WARNING: Retrying (Retry(total=0, ...)) after connection broken by 'NewConnectionError(...)': /simple/supervisor/",
      "ERROR: Could not find a version that satisfies the requirement supervisor>=4.3,<5 (from versions: none)",
      "ERROR: No matching distribution found for supervisor>=4.3,<5",
      "",
    ].join("\n");
    expect(lastProblemLine(pip)).toBe("ERROR: No matching distribution found for supervisor>=4.3,<5");
  });

  it("falls back to the last line", () => {
    expect(lastProblemLine("creating\nensurepip is not available\n")).toBe("ensurepip is not available");
    expect(lastProblemLine("")).toBeUndefined();
  });
});

describe("findPython", () => {
  it("without python3 on the PATH, says in one line what to install", async () => {
    const error = await findPython("/nonexistent-dir").catch((e: unknown) => e);
    expect(error).toBeInstanceOf(MissingPrerequisite);
    expect((error as Error).message).not.toContain("\n");
    expect((error as Error).message).toMatch(/needs python3 on the PATH.*sudo apt-get install python3/);
  });
});
