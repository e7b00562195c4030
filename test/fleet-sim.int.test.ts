import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startFleetSim, type FleetSim } from "../bench/fleet-sim.js";
import { SupervisorClient } from "../src/supervisor/supervisor-client.js";
import { SupervisorFault, SupervisorUnavailable } from "../src/supervisor/supervisor.errors.js";

/**
 * The simulated fleet the scale benches and the dashboard's 10,000-row test run against:
 * Fleetvisor's own XML-RPC client must read it as it reads a real supervisord.
 */
const AUTH = { username: "sim", password: "sim-password-1" };
let fleet: FleetSim;
const client = new SupervisorClient({ credentials: () => AUTH, readTimeoutMs: 2_000, controlTimeoutMs: 5_000 });

beforeAll(async () => {
  fleet = await startFleetSim({ hosts: 3, programsPerHost: 20, auth: AUTH });
});

afterAll(async () => {
  client.close();
  await fleet?.stop();
});

describe("the simulated fleet", () => {
  it("serves one supervisord per port, each with its running programs, as supervisord describes them", async () => {
    expect(fleet.hosts).toHaveLength(3);
    expect(new Set(fleet.hosts.map((h) => h.port)).size).toBe(3);
    const [first] = fleet.hosts;
    const infos = await client.getAllProcessInfo(first!);
    expect(infos.map((i) => i.program)).toEqual(first!.programs);
    expect(infos).toHaveLength(20);
    for (const info of infos) {
      expect(info.state).toBe("RUNNING");
      expect(info.pid).toBeGreaterThan(0);
      expect(info.description).toMatch(/^pid \d+, uptime \d+:\d\d:\d\d$/);
    }
    // Every pid in the fleet is its own.
    const all = await Promise.all(fleet.hosts.map((h) => client.getAllProcessInfo(h)));
    expect(new Set(all.flat().map((i) => i.pid)).size).toBe(60);
    const one = await client.getProcessInfo(first!, "p07");
    expect(one).toMatchObject({ program: "p07", state: "RUNNING" });
  });

  it("stops and starts as supervisord does, with its faults", async () => {
    const host = fleet.hosts[1]!;
    await client.stopProcess(host, "p03");
    expect(await client.getProcessInfo(host, "p03")).toMatchObject({ state: "STOPPED", pid: 0 });
    await expect(client.stopProcess(host, "p03")).rejects.toMatchObject({ faultName: "NOT_RUNNING" });
    await client.startProcess(host, "p03");
    expect((await client.getProcessInfo(host, "p03")).state).toBe("RUNNING");
    await expect(client.startProcess(host, "p03")).rejects.toMatchObject({ faultName: "ALREADY_STARTED" });
    const missing = await client.getProcessInfo(host, "nope").catch((e: unknown) => e);
    expect(missing).toBeInstanceOf(SupervisorFault);
    expect((missing as SupervisorFault).faultName).toBe("BAD_NAME");
  });

  it("changes state behind the client's back, answers a multicall, and counts every request", async () => {
    const host = fleet.hosts[2]!;
    fleet.setState(host.port, "p00", "FATAL");
    expect((await client.getProcessInfo(host, "p00")).state).toBe("FATAL");
    const before = fleet.calls(host.port);
    const [state, version, processes] = await client.multicall(host, [
      { method: "supervisor.getState" },
      { method: "supervisor.getSupervisorVersion" },
      { method: "supervisor.getAllProcessInfo" },
      { method: "supervisor.noSuchThing" },
    ]);
    expect(state).toEqual({ statecode: 1, statename: "RUNNING" });
    expect(version).toBe("4.2.5");
    expect(processes).toHaveLength(20);
    expect(fleet.calls(host.port)).toBe(before + 1);
    expect(fleet.callsByMethod()["supervisor.getSupervisorVersion"]).toBeGreaterThanOrEqual(1);
  });

  it("holds each answer back by the delay set, and refuses wrong credentials with supervisord's 401", async () => {
    fleet.delayMs = 150;
    const started = performance.now();
    await client.getAllProcessInfo(fleet.hosts[0]!);
    expect(performance.now() - started).toBeGreaterThanOrEqual(140);
    fleet.delayMs = 0;

    const stranger = new SupervisorClient({
      credentials: () => ({ username: "sim", password: "wrong" }),
      readTimeoutMs: 2_000,
      controlTimeoutMs: 5_000,
    });
    const refused = await stranger.getAllProcessInfo(fleet.hosts[0]!).catch((e: unknown) => e);
    stranger.close();
    expect(refused).toBeInstanceOf(SupervisorUnavailable);
    expect((refused as Error).message).toContain("rejected the credentials");
  });

  it("fits 500 hosts of 20 programs, all answering", async () => {
    const big = await startFleetSim({ hosts: 500, programsPerHost: 20 });
    const reader = new SupervisorClient({
      credentials: () => undefined,
      readTimeoutMs: 10_000,
      controlTimeoutMs: 10_000,
    });
    try {
      const answers = await Promise.all(big.hosts.map((h) => reader.getAllProcessInfo(h)));
      expect(answers.flat()).toHaveLength(10_000);
      expect(big.calls()).toBe(500);
    } finally {
      reader.close();
      await big.stop();
    }
  });
});
