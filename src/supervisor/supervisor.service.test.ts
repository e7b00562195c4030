import { systemClock } from "../clock.js";
import { describe, expect, it } from "vitest";
import type { SupervisorClient } from "./supervisor-client.js";
import { SupervisorFault, SupervisorUnavailable, type SupervisorAddress } from "./supervisor.errors.js";
import type { RawProcessInfo } from "./supervisor-state.js";
import type { ProcessEntity } from "../db/process.entity.js";
import { SupervisorService } from "./supervisor.service.js";
import { groupBySupervisor, HostAnswers, type HostSnapshot } from "./host-answers.js";

/** An `ask` whose answers the test hands out, one host at a time. */
function controlledAsk() {
  const asked: string[] = [];
  const pending = new Map<string, { resolve: (s: HostSnapshot) => void; reject: (e: Error) => void }>();
  const ask = (key: string): Promise<HostSnapshot> => {
    asked.push(key);
    return new Promise((resolve, reject) => pending.set(key, { resolve, reject }));
  };
  const snapshot = (key: string): HostSnapshot => ({
    address: { host: key.split(":")[0]!, port: Number(key.split(":")[1]) },
    byProgram: new Map(),
    latencyMs: 1,
    observedAt: new Date(0),
  });
  return {
    ask,
    asked,
    answer: (key: string) => pending.get(key)!.resolve(snapshot(key)),
    fail: (key: string, error: Error) => pending.get(key)!.reject(error),
  };
}

const settled = async <T>(promise: Promise<T>): Promise<boolean> => {
  let done = false;
  void promise.then(() => (done = true));
  await new Promise((r) => setImmediate(r));
  return done;
};

describe("HostAnswers", () => {
  it("asks each supervisord once however often it is read, and each answer settles on its own", async () => {
    const hosts = controlledAsk();
    const answers = new HostAnswers(hosts.ask, true);
    answers.prefetch(["a:1", "b:2"]);
    const a = answers.of("a:1");
    const b = answers.of("b:2");
    expect(answers.of("a:1")).toBe(a);
    expect(hosts.asked).toEqual(["a:1", "b:2"]);

    hosts.answer("a:1");
    expect(await a).toMatchObject({ address: { host: "a", port: 1 } });
    // b has not answered yet; a's readers did not wait for it.
    expect(await settled(b)).toBe(false);
    hosts.answer("b:2");
    expect(await b).toMatchObject({ address: { host: "b", port: 2 } });
    expect(hosts.asked).toEqual(["a:1", "b:2"]);
  });

  it("hands back a failure as the answer, never as a rejection", async () => {
    const hosts = controlledAsk();
    const answers = new HostAnswers(hosts.ask, true);
    answers.prefetch(["down:1"]);
    const failure = new SupervisorUnavailable({ host: "down", port: 1 }, "refused", "refused");
    hosts.fail("down:1", failure);
    expect(await answers.of("down:1")).toBe(failure);
  });

  it("without keep, shares only a call still in flight: a settled answer is asked again", async () => {
    const hosts = controlledAsk();
    const answers = new HostAnswers(hosts.ask, false);
    const first = answers.of("a:1");
    expect(answers.of("a:1")).toBe(first);
    hosts.answer("a:1");
    await first;
    await new Promise((r) => setImmediate(r));
    void answers.of("a:1");
    expect(hosts.asked).toEqual(["a:1", "a:1"]);
  });

  it("clear() forgets every answer", async () => {
    const hosts = controlledAsk();
    const answers = new HostAnswers(hosts.ask, true);
    void answers.of("a:1");
    hosts.answer("a:1");
    answers.clear();
    void answers.of("a:1");
    expect(hosts.asked).toEqual(["a:1", "a:1"]);
  });
});

describe("SupervisorService.lastNamed", () => {
  const service = () => new SupervisorService({} as SupervisorClient, systemClock);

  it("remembers the supervisords a selection named last, replacing what it named before", () => {
    const supervisors = service();
    expect(supervisors.lastNamed("all")).toBeUndefined();
    supervisors.rememberNamed("all", ["a:1", "b:2"]);
    supervisors.rememberNamed("all", ["b:2"]);
    expect(supervisors.lastNamed("all")).toEqual(["b:2"]);
    expect(supervisors.lastNamed("other")).toBeUndefined();
  });

  it("keeps the 256 selections used last", () => {
    const supervisors = service();
    for (let i = 0; i < 256; i++) supervisors.rememberNamed(`s${i}`, [`h:${i}`]);
    // Reading s0 makes it recent: s1 is now the one used least recently.
    expect(supervisors.lastNamed("s0")).toEqual(["h:0"]);
    supervisors.rememberNamed("s256", ["h:256"]);
    expect(supervisors.lastNamed("s1")).toBeUndefined();
    expect(supervisors.lastNamed("s0")).toEqual(["h:0"]);
    expect(supervisors.lastNamed("s256")).toEqual(["h:256"]);
  });
});

describe("groupBySupervisor", () => {
  it("groups rows by the supervisord they name, host names compared without case; rows naming none are left out", () => {
    const row = (name: string, supervisorHost: string | null, supervisorPort: number | null) =>
      ({ name, supervisorHost, supervisorPort }) as ProcessEntity;
    const groups = groupBySupervisor([
      row("a", "Web-1", 9001),
      row("b", "web-1", 9001),
      row("c", "web-1", 9002),
      row("d", null, null),
    ]);
    expect([...groups].map(([key, rows]) => [key, rows.map((r) => r.name)])).toEqual([
      ["web-1:9001", ["a", "b"]],
      ["web-1:9002", ["c"]],
    ]);
  });
});

describe("SupervisorService.overview", () => {
  const raw = (group: string, name: string, statename: string, state: number, pid: number): RawProcessInfo => ({
    name,
    group,
    start: pid ? 1_700_000_000 : 0,
    stop: 0,
    now: 1_700_000_060,
    state,
    statename,
    spawnerr: "",
    exitstatus: 0,
    pid,
    description: pid ? `pid ${pid}, uptime 0:01:00` : "Not started",
  });
  const row = (name: string, supervisorHost: string | null, supervisorPort: number | null, program: string) =>
    ({ name, supervisorHost, supervisorPort, program }) as ProcessEntity;

  /** A client whose supervisords answer by port; it records every call. */
  function fakeClient(answers: Record<number, unknown[] | Error>) {
    const calls: { port: number; methods: string[] }[] = [];
    const client = {
      multicall: async (address: SupervisorAddress, list: readonly { method: string }[]) => {
        calls.push({ port: address.port, methods: list.map((c) => c.method) });
        const answer = answers[address.port];
        if (answer instanceof Error) throw answer;
        return answer;
      },
    } as unknown as SupervisorClient;
    return { client, calls };
  }

  it("joins each supervisord's one answer with the registry rows that name it", async () => {
    const { client, calls } = fakeClient({
      9001: [
        { statename: "RUNNING" },
        "4.2.5",
        [
          raw("python-server", "python-server", "RUNNING", 20, 41),
          raw("batch", "cron", "STOPPED", 0, 0),
          raw("fleetvisor", "fleetvisor", "RUNNING", 20, 43),
        ],
      ],
      9002: [{ statename: "RUNNING" }, "4.2.5", [raw("api", "api", "RUNNING", 20, 51)]],
    });
    const overview = await new SupervisorService(client, systemClock).overview([
      row("web-b", "web-1", 9002, "api"),
      row("web-a2", "web-1", 9001, "python-server"),
      row("web-a1", "Web-1", 9001, "python-server"),
      row("web-ghost", "web-1", 9001, "not-there"),
      row("nowhere", null, null, "python-server"),
    ]);

    expect(calls.sort((a, b) => a.port - b.port)).toEqual([
      {
        port: 9001,
        methods: ["supervisor.getState", "supervisor.getSupervisorVersion", "supervisor.getAllProcessInfo"],
      },
      {
        port: 9002,
        methods: ["supervisor.getState", "supervisor.getSupervisorVersion", "supervisor.getAllProcessInfo"],
      },
    ]);
    expect(overview.map((s) => [s.host, s.port])).toEqual([
      ["Web-1", 9001],
      ["web-1", 9002],
    ]);
    const [first, second] = overview;
    expect(first).toMatchObject({
      reachable: true,
      state: "RUNNING",
      version: "4.2.5",
      processCount: 3,
      registeredProcessCount: 3,
      unregisteredPrograms: ["batch:cron", "fleetvisor"],
      error: null,
    });
    expect(first!.programs!.map((p) => [p.info.program, p.info.state, p.info.pid, p.processNames])).toEqual([
      ["python-server", "RUNNING", 41, ["web-a1", "web-a2"]],
      ["batch:cron", "STOPPED", 0, []],
      ["fleetvisor", "RUNNING", 43, []],
    ]);
    expect(second).toMatchObject({ processCount: 1, registeredProcessCount: 1, unregisteredPrograms: [] });
  });

  it("shows a bound token only the programs its processes name, and not how many others run", async () => {
    const { client } = fakeClient({
      9001: [
        { statename: "RUNNING" },
        "4.2.5",
        [
          raw("python-server", "python-server", "RUNNING", 20, 41),
          raw("other", "other", "RUNNING", 20, 42),
          raw("fleetvisor", "fleetvisor", "RUNNING", 20, 43),
        ],
      ],
      9002: new SupervisorUnavailable({ host: "web-2", port: 9002 }, "refused", "refused"),
    });
    // The rows a token bound to "web-a*" sees: "other" is named by a row it does not see.
    const overview = await new SupervisorService(client, systemClock).overview(
      [row("web-a1", "web-1", 9001, "python-server"), row("web-a2", "web-2", 9002, "python-server")],
      { onlyNamedPrograms: true },
    );
    expect(overview[0]).toMatchObject({ processCount: 1, registeredProcessCount: 1, unregisteredPrograms: [] });
    expect(overview[0]!.programs!.map((p) => [p.info.program, p.processNames])).toEqual([
      ["python-server", ["web-a1"]],
    ]);
    expect(overview[1]).toMatchObject({ programs: null, processCount: null, unregisteredPrograms: null });
  });

  it("says nothing of programs where supervisord could not: unreachable, a fault, an odd answer", async () => {
    const address = { host: "127.0.0.1", port: 9001 };
    const { client } = fakeClient({
      9001: new SupervisorUnavailable(address, "refused", "supervisord at 127.0.0.1:9001 refused the connection"),
      9002: [new SupervisorFault({ ...address, port: 9002 }, "UNKNOWN_METHOD", 1, ""), "4.2.5", []],
      9003: [{ statename: "RUNNING" }, "4.2.5", [{ name: "half a struct" }]],
    });
    const overview = await new SupervisorService(client, systemClock).overview([
      row("a", "127.0.0.1", 9001, "python-server"),
      row("b", "127.0.0.1", 9002, "python-server"),
      row("c", "127.0.0.1", 9003, "python-server"),
    ]);
    const nothing = { programs: null, unregisteredPrograms: null, processCount: null, registeredProcessCount: 1 };
    expect(overview[0]).toMatchObject({ ...nothing, reachable: false, errorCode: "SUPERVISOR_UNAVAILABLE" });
    expect(overview[1]).toMatchObject({ ...nothing, reachable: true, errorCode: "SUPERVISOR_FAULT" });
    expect(overview[2]).toMatchObject({
      ...nothing,
      reachable: false,
      error: expect.stringContaining("other than a list of processes"),
    });
  });
});
