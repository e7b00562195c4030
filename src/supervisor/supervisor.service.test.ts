import { describe, expect, it } from "vitest";
import type { SupervisorClient } from "./supervisor-client.js";
import { SupervisorUnavailable } from "./supervisor.errors.js";
import type { ProcessEntity } from "../db/process.entity.js";
import { groupBySupervisor, HostAnswers, SupervisorService, type HostSnapshot } from "./supervisor.service.js";

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
  const service = () => new SupervisorService({} as SupervisorClient);

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
