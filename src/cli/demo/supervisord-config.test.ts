import { describe, expect, it } from "vitest";
import { renderSupervisordConfig, tokenFile, type InstanceSpec, type ProgramsSpec } from "./supervisord-config.js";

const instance: InstanceSpec = {
  name: "domaeka-test-01",
  dir: "/tmp/fleetvisor-demo-x/domaeka-test-01",
  port: 9101,
  username: "fleetvisor-test-01",
  password: "s3cret-Pw_9",
};
const programs: ProgramsSpec = {
  python: "/usr/bin/python3",
  exampleServer: "/src/fleetvisor/client-examples/python/example_server.py",
  listener: "/src/fleetvisor/client-examples/supervisor-listener/fleetvisor_listener.py",
  fleetvisorUrl: "http://127.0.0.1:4000",
};

/** The `key=value` lines of one `[section]`. */
function section(config: string, name: string): Record<string, string> {
  const lines = config.split(`[${name}]\n`)[1]?.split("\n\n")[0]?.split("\n") ?? [];
  return Object.fromEntries(
    lines.map((line) => [line.slice(0, line.indexOf("=")).trim(), line.slice(line.indexOf("=") + 1).trim()]),
  );
}

describe("renderSupervisordConfig", () => {
  const config = renderSupervisordConfig(instance, programs);

  it("listens on loopback with its own username and password, and supervisorctl can use it", () => {
    expect(section(config, "inet_http_server")).toEqual({
      port: "127.0.0.1:9101",
      username: "fleetvisor-test-01",
      password: "s3cret-Pw_9",
    });
    expect(section(config, "supervisorctl")).toMatchObject({ serverurl: "http://127.0.0.1:9101" });
    expect(section(config, "rpcinterface:supervisor")).toEqual({
      "supervisor.rpcinterface_factory": "supervisor.rpcinterface:make_main_rpcinterface",
    });
  });

  it("runs the guide's python-server program: the example server under its registry name", () => {
    const program = section(config, "program:python-server");
    expect(program.command).toBe(
      "/usr/bin/python3 -u /src/fleetvisor/client-examples/python/example_server.py --name domaeka-test-01 --host 127.0.0.1",
    );
    expect(program).toMatchObject({ autostart: "true", stopasgroup: "true", killasgroup: "true" });
  });

  it("hands the agent token over in a file, never on a command line", () => {
    const program = section(config, "program:python-server");
    const listener = section(config, "eventlistener:fleetvisor-listener");
    const file = tokenFile(instance);
    expect(program.environment).toBe(`FLEETVISOR_URL="http://127.0.0.1:4000",FLEETVISOR_TOKEN_FILE="${file}"`);
    expect(listener.environment).toBe(
      `FLEETVISOR_URL="http://127.0.0.1:4000",FLEETVISOR_TOKEN_FILE="${file}",FLEETVISOR_SUPERVISOR="127.0.0.1:9101"`,
    );
    expect(listener.events).toBe("PROCESS_STATE");
    expect(config).not.toMatch(/FLEETVISOR_TOKEN=/);
  });

  it("quotes paths with spaces and escapes % for supervisord's expansion", () => {
    const odd = renderSupervisordConfig(
      { ...instance, dir: "/tmp/100% demo" },
      { ...programs, exampleServer: "/home/me/My Projects/fleetvisor/example_server.py" },
    );
    const program = section(odd, "program:python-server");
    expect(program.command).toContain(`'/home/me/My Projects/fleetvisor/example_server.py' --name`);
    expect(program.stdout_logfile).toBe("/tmp/100%% demo/python-server.out.log");
    expect(program.environment).toContain(`FLEETVISOR_TOKEN_FILE="/tmp/100%% demo/agent-token"`);
  });
});
