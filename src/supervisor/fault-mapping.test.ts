import { describe, expect, it } from "vitest";
import { toFault, translateCallError, type XmlRpcError } from "./fault-mapping.js";
import { SupervisorFault, SupervisorUnavailable } from "./supervisor.errors.js";

const at = { host: "domaeka-server-test-01", port: 9101 };

function error(fields: Partial<XmlRpcError> & { message?: string }): XmlRpcError {
  return Object.assign(new Error(fields.message ?? "x"), fields);
}

describe("toFault", () => {
  it.each([
    [10, "BAD_NAME: nope", "BAD_NAME", "nope"],
    [50, "SPAWN_ERROR: python-server", "SPAWN_ERROR", "python-server"],
    [60, "ALREADY_STARTED: python-server", "ALREADY_STARTED", "python-server"],
    [70, "NOT_RUNNING", "NOT_RUNNING", ""],
    [20, "NO_FILE: can't find command '/x'", "NO_FILE", "can't find command '/x'"],
    [40, "weird text", "ABNORMAL_TERMINATION", "weird text"],
    [999, "", "FAULT_999", ""],
  ])("code %i, %j → %s", (code, text, name, detail) => {
    const fault = toFault(at, code, text);
    expect(fault).toBeInstanceOf(SupervisorFault);
    expect(fault).toMatchObject({ faultName: name, faultCode: code, detail });
    expect(fault.extensions).toMatchObject({
      code: "SUPERVISOR_FAULT",
      faultName: name,
      supervisor: "domaeka-server-test-01:9101",
    });
  });

  it("names the missing [rpcinterface:supervisor] section for UNKNOWN_METHOD on supervisor.* calls", () => {
    const fault = toFault(at, 1, "UNKNOWN_METHOD", "supervisor.getAllProcessInfo");
    expect(fault.message).toContain("has no [rpcinterface:supervisor] section");
    expect(toFault(at, 1, "UNKNOWN_METHOD", "system.foo").message).not.toContain("rpcinterface");
  });
});

describe("translateCallError", () => {
  it.each<[string, Partial<XmlRpcError> & { message?: string }, string, string]>([
    [
      "refused",
      { code: "ECONNREFUSED" },
      "refused",
      "supervisord at domaeka-server-test-01:9101 refused the connection",
    ],
    ["reset", { code: "ECONNRESET" }, "reset", "closed the connection during supervisor.getState"],
    ["hang up", { message: "socket hang up" }, "reset", "closed the connection"],
    ["no such host", { code: "ENOTFOUND" }, "unresolvable", "the host name does not resolve"],
    ["unreachable", { code: "EHOSTUNREACH" }, "unreachable", "is unreachable (EHOSTUNREACH)"],
    [
      "401",
      { message: "Unknown XML-RPC tag 'TITLE'", res: { statusCode: 401 } },
      "unauthorized",
      "supervisord at domaeka-server-test-01:9101 rejected the credentials (HTTP 401)",
    ],
    ["500", { res: { statusCode: 500 } }, "protocol", "answered supervisor.getState with HTTP 500, not XML-RPC"],
    [
      "not xml-rpc",
      { message: "Unknown XML-RPC tag 'html'", res: { statusCode: 200 } },
      "protocol",
      "did not answer supervisor.getState with XML-RPC",
    ],
  ])("%s", (_label, fields, reason, message) => {
    const translated = translateCallError(at, "supervisor.getState", error(fields));
    expect(translated).toBeInstanceOf(SupervisorUnavailable);
    expect((translated as SupervisorUnavailable).reason).toBe(reason);
    expect(translated.message).toContain(message);
    expect(translated.extensions.code).toBe("SUPERVISOR_UNAVAILABLE");
  });

  it("passes faults through as SupervisorFault", () => {
    const translated = translateCallError(
      at,
      "supervisor.startProcess",
      error({ faultCode: 50, faultString: "SPAWN_ERROR: x" }),
    );
    expect(translated).toBeInstanceOf(SupervisorFault);
  });
});
