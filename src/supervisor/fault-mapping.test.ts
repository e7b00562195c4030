import { describe, expect, it } from "vitest";
import { httpStatusError, notXmlRpc, toFault, translateSocketError, unexpectedAnswer } from "./fault-mapping.js";
import { SupervisorFault, SupervisorUnavailable } from "./supervisor.errors.js";

const at = { host: "domaeka-server-test-01", port: 9101 };

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

describe("translateSocketError", () => {
  const socketError = (code: string) => Object.assign(new Error(code), { code });
  it.each([
    ["ECONNREFUSED", "refused", "supervisord at domaeka-server-test-01:9101 refused the connection"],
    ["ECONNRESET", "reset", "closed the connection during supervisor.getState"],
    ["EPIPE", "reset", "closed the connection during supervisor.getState"],
    ["ENOTFOUND", "unresolvable", "the host name does not resolve"],
    ["EHOSTUNREACH", "unreachable", "is unreachable (EHOSTUNREACH)"],
    ["EWHATEVER", "reset", "failed during supervisor.getState: EWHATEVER"],
  ])("%s", (code, reason, message) => {
    const translated = translateSocketError(at, "supervisor.getState", socketError(code));
    expect(translated).toBeInstanceOf(SupervisorUnavailable);
    expect(translated.reason).toBe(reason);
    expect(translated.message).toContain(message);
    expect(translated.extensions.code).toBe("SUPERVISOR_UNAVAILABLE");
  });
});

describe("httpStatusError and notXmlRpc", () => {
  it("a 401 names the host whose supervisord rejected the credentials", () => {
    const error = httpStatusError(at, "supervisor.getState", 401);
    expect(error).toMatchObject({
      reason: "unauthorized",
      message: "supervisord at domaeka-server-test-01:9101 rejected the credentials (HTTP 401)",
    });
  });

  it("other statuses and non-XML-RPC bodies are protocol errors", () => {
    expect(httpStatusError(at, "supervisor.getState", 500)).toMatchObject({
      reason: "protocol",
      message: expect.stringContaining("answered supervisor.getState with HTTP 500, not XML-RPC"),
    });
    expect(notXmlRpc(at, "supervisor.getState", new Error("not an XML-RPC methodResponse")).reason).toBe("protocol");
  });
});

describe("unexpectedAnswer", () => {
  it("is SUPERVISOR_UNAVAILABLE (protocol), naming the host, the method and what was expected", () => {
    const error = unexpectedAnswer(at, "supervisor.getAllProcessInfo", "a list of processes");
    expect(error).toBeInstanceOf(SupervisorUnavailable);
    expect(error.reason).toBe("protocol");
    expect(error.message).toBe(
      "supervisord at domaeka-server-test-01:9101 answered supervisor.getAllProcessInfo with something other than a list of processes",
    );
  });
});
