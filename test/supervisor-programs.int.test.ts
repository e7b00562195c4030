import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestApp, type TestApp, type TokenClient } from "./support/app.js";
import { createTestDatabase, type TestDatabase } from "./support/database.js";
import { freePort, Supervisord } from "./support/supervisord.js";

/** Query.supervisors' programs and unregisteredPrograms, against real supervisord instances. */

const AUTH = { username: "fleet", password: "programs-pass-31d7" };

let db: TestDatabase;
let app: TestApp;
let viewer: TokenClient;
let operator: TokenClient;
let agent: TokenClient;
let edge: Supervisord;
let closedPort: number;

interface SupervisorJson {
  host: string;
  port: number;
  reachable: boolean;
  processCount: number | null;
  registeredProcessCount: number;
  programs:
    { program: string; state: string; pid: number | null; description: string; processNames: string[] }[] | null;
  unregisteredPrograms: string[] | null;
  errorCode: string | null;
}

const QUERY = `{ supervisors { host port reachable processCount registeredProcessCount
  programs { program state pid description processNames } unregisteredPrograms errorCode } }`;

async function createRow(name: string, supervisorPort: number, program: string): Promise<void> {
  await app.admin.data(`mutation($input: CreateProcessInput!) { createProcess(input: $input) { id } }`, {
    input: { name, port: 8000, supervisorHost: "127.0.0.1", supervisorPort, program },
  });
}

async function metric(name: string, labels: Record<string, string>): Promise<number> {
  const text = await (await fetch(`${app.url}/metrics`)).text();
  const wanted = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
  let total = 0;
  for (const line of text.split("\n")) {
    if (line.startsWith(`${name}{`) && wanted.every((w) => line.includes(w))) total += Number(line.split(" ").at(-1));
  }
  return total;
}

beforeAll(async () => {
  db = await createTestDatabase("supervisor_programs");
  app = await startTestApp(db.url, { SUPERVISOR_USERNAME: AUTH.username, SUPERVISOR_PASSWORD: AUTH.password });
  viewer = await app.client("VIEWER", "watcher");
  operator = await app.client("OPERATOR", "ops");
  agent = await app.client("AGENT", "edge-agent", "edge-*");
  edge = await Supervisord.start({
    auth: AUTH,
    programs: {
      web: { command: "sleep 3600" },
      // In the group "batch": supervisord calls it batch:cron.
      cron: { command: "sleep 3600", autostart: false, extra: ["", "[group:batch]", "programs=cron"] },
      sidecar: { command: "sleep 3600" },
    },
  });
  await edge.waitForState("web", "RUNNING");
  await edge.waitForState("sidecar", "RUNNING");
  closedPort = await freePort();
  await createRow("edge-web-01", edge.port, "web");
  await createRow("edge-web-02", edge.port, "web");
  // A row whose program this supervisord does not run: not one of its programs.
  await createRow("edge-ghost-01", edge.port, "ghost");
  await createRow("edge-gone-01", closedPort, "web");
}, 60_000);

afterAll(async () => {
  await edge?.stop();
  await app?.stop();
  await db?.drop();
});

describe("Query.supervisors: programs and unregisteredPrograms", () => {
  it("lists what each supervisord runs, with the registry's processes per program, from one call per supervisord", async () => {
    const multicalls = () =>
      metric("fleetvisor_supervisor_calls_total", {
        supervisor: `127.0.0.1:${edge.port}`,
        method: "system.multicall",
      });
    const otherCalls = async () =>
      (await metric("fleetvisor_supervisor_calls_total", { supervisor: `127.0.0.1:${edge.port}` })) -
      (await multicalls());
    const [multicallsBefore, otherBefore] = [await multicalls(), await otherCalls()];

    const { supervisors } = await viewer.http.data<{ supervisors: SupervisorJson[] }>(QUERY);

    expect(await multicalls()).toBe(multicallsBefore + 1);
    expect(await otherCalls()).toBe(otherBefore);
    expect(supervisors.map((s) => s.port)).toEqual([edge.port, closedPort].sort((a, b) => a - b));
    const live = supervisors.find((s) => s.port === edge.port)!;
    expect(live).toMatchObject({
      host: "127.0.0.1",
      reachable: true,
      processCount: 3,
      registeredProcessCount: 3,
      unregisteredPrograms: ["batch:cron", "sidecar"],
      errorCode: null,
    });
    const byProgram = new Map(live.programs!.map((p) => [p.program, p]));
    expect([...byProgram.keys()].sort()).toEqual(["batch:cron", "sidecar", "web"]);
    expect(byProgram.get("web")).toMatchObject({
      state: "RUNNING",
      pid: await edge.programPid("web"),
      processNames: ["edge-web-01", "edge-web-02"],
    });
    expect(byProgram.get("web")!.description).toContain("pid");
    expect(byProgram.get("batch:cron")).toMatchObject({ state: "STOPPED", pid: null, processNames: [] });
    expect(byProgram.get("sidecar")).toMatchObject({ state: "RUNNING", processNames: [] });

    // supervisord could not say what it runs: neither list is guessed.
    expect(supervisors.find((s) => s.port === closedPort)).toMatchObject({
      reachable: false,
      registeredProcessCount: 1,
      programs: null,
      unregisteredPrograms: null,
      errorCode: "SUPERVISOR_UNAVAILABLE",
    });
  });

  it("a program the registry comes to name is no longer unregistered", async () => {
    await createRow("edge-sidecar-01", edge.port, "sidecar");
    const { supervisors } = await operator.http.data<{ supervisors: SupervisorJson[] }>(QUERY);
    const live = supervisors.find((s) => s.port === edge.port)!;
    expect(live.unregisteredPrograms).toEqual(["batch:cron"]);
    expect(live.programs!.find((p) => p.program === "sidecar")!.processNames).toEqual(["edge-sidecar-01"]);
    expect(live.registeredProcessCount).toBe(4);
  });

  it("a viewer bound to a pattern sees only the supervisords its processes name, and there only its programs", async () => {
    const bound = await app.client("VIEWER", "web-01-viewer", "edge-web-01");
    const { supervisors } = await bound.http.data<{ supervisors: SupervisorJson[] }>(QUERY);
    // Not the closed port (only edge-gone-01 names it); not sidecar, batch:cron, nor edge-web-02.
    expect(supervisors).toEqual([
      {
        host: "127.0.0.1",
        port: edge.port,
        reachable: true,
        processCount: 1,
        registeredProcessCount: 1,
        programs: [expect.objectContaining({ program: "web", state: "RUNNING", processNames: ["edge-web-01"] })],
        unregisteredPrograms: [],
        errorCode: null,
      },
    ]);
  });

  it("is for viewers and above: an agent sees no supervisord's programs, not even its own processes'", async () => {
    const error = await agent.http.error(`{ supervisors { programs { program processNames } unregisteredPrograms } }`);
    expect(error.extensions?.code).toBe("FORBIDDEN");
    expect(JSON.stringify(error)).not.toContain("sidecar");
    // What the agent may read of its own processes is unchanged.
    const own = await agent.http.data<{ process: { supervisor: { program: string; state: string } } }>(
      `{ process(name: "edge-web-01") { supervisor { program state } } }`,
    );
    expect(own.process.supervisor).toEqual({ program: "web", state: "RUNNING" });
    const anonymous = await app.anonymous.error(`{ supervisors { unregisteredPrograms } }`);
    expect(anonymous.extensions?.code).toBe("UNAUTHENTICATED");
  });
});
