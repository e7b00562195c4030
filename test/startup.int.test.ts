import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ADMIN_TOKEN } from "./support/app.js";
import { createTestDatabase, type TestDatabase } from "./support/database.js";
import { connectWs } from "./support/graphql-client.js";

let db: TestDatabase;
const children: ChildProcess[] = [];

/** `npm start`'s entry point, run from source. */
function startMain(env: Record<string, string>): { child: ChildProcess; stdout: () => string; stderr: () => string } {
  const child = spawn(process.execPath, ["--import", "tsx", "src/main.ts"], {
    env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  children.push(child);
  let out = "";
  let err = "";
  child.stdout!.on("data", (d: Buffer) => (out += d.toString()));
  child.stderr!.on("data", (d: Buffer) => (err += d.toString()));
  return { child, stdout: () => out, stderr: () => err };
}

async function exitCode(child: ChildProcess, withinMs: number): Promise<number | null> {
  if (child.exitCode !== null) return child.exitCode;
  const timer = setTimeout(() => child.kill("SIGKILL"), withinMs);
  const [code] = (await once(child, "exit")) as [number | null];
  clearTimeout(timer);
  return code;
}

beforeAll(async () => {
  db = await createTestDatabase("startup");
});

afterAll(async () => {
  for (const child of children) child.kill("SIGKILL");
  await db?.drop();
});

describe("the service process", () => {
  it("reports every invalid variable at once and exits non-zero", async () => {
    const run = startMain({
      PORT: "http",
      HEARTBEAT_STALE_SECONDS: "1",
      REDIS_URL: "localhost",
      SUPERVISOR_PASSWORD: "topsecret",
    });
    expect(await exitCode(run.child, 20_000)).toBe(2);
    const stderr = run.stderr();
    for (const variable of ["DATABASE_URL", "PORT", "HEARTBEAT_STALE_SECONDS", "REDIS_URL", "SUPERVISOR_USERNAME"]) {
      expect(stderr).toContain(`- ${variable} `);
    }
    expect(stderr).not.toContain("topsecret");
  });

  it("stops gracefully on SIGTERM: open subscriptions are closed, the process exits 0", async () => {
    const run = startMain({
      DATABASE_URL: db.url,
      HOST: "127.0.0.1",
      PORT: "0",
      FLEETVISOR_BOOTSTRAP_ADMIN_TOKEN: ADMIN_TOKEN,
    });
    const started = Date.now();
    let url: string | undefined;
    while (!url) {
      const line = run
        .stdout()
        .split("\n")
        .find((l) => l.includes("fleetvisor is listening"));
      if (line) url = (JSON.parse(line) as { url: string }).url.replace(/\/graphql$/, "");
      else if (run.child.exitCode !== null || Date.now() - started > 30_000)
        throw new Error(`did not start: ${run.stderr()}${run.stdout()}`);
      else await new Promise((r) => setTimeout(r, 100));
    }
    // Nothing it logs carries the bootstrap token.
    expect(run.stdout()).not.toContain(ADMIN_TOKEN);

    const ws = connectWs(url, ADMIN_TOKEN);
    await ws.connected;
    ws.subscribe(`subscription { processChanged { id } }`);
    run.child.kill("SIGTERM");
    expect(await exitCode(run.child, 20_000)).toBe(0);
    expect(await ws.closed).toBe(1001);
    expect(run.stdout()).toContain('"msg":"stopped"');
    await ws.dispose();
  });
});
