import { describe, expect, it } from "vitest";
import { isRawProcessInfo, parseProcessInfo, SupervisorState } from "./supervisor-state.js";

const raw = {
  name: "worker",
  group: "workers",
  start: 1_795_700_000,
  stop: 0,
  now: 1_795_700_100,
  state: 20,
  statename: "RUNNING",
  spawnerr: "",
  exitstatus: 0,
  pid: 4242,
  description: "pid 4242, uptime 0:01:40",
  logfile: "/var/log/worker.log",
};

describe("isRawProcessInfo", () => {
  it("accepts the struct supervisord sends, extra members included", () => {
    expect(isRawProcessInfo(raw)).toBe(true);
    expect(parseProcessInfo(raw)).toMatchObject({
      program: "workers:worker",
      state: SupervisorState.RUNNING,
      pid: 4242,
    });
  });

  it.each([
    ["a string", "worker"],
    ["null", null],
    ["a list", [raw]],
    ["a struct without pid", { ...raw, pid: undefined }],
    ["a struct whose state is text", { ...raw, state: "RUNNING" }],
    ["a struct whose name is a number", { ...raw, name: 7 }],
  ])("refuses %s", (_, value) => {
    expect(isRawProcessInfo(value)).toBe(false);
  });
});
