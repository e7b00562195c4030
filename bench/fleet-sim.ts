/**
 * bench/fleet-sim — a simulated fleet for scale benches: one Node process serving N
 * supervisord XML-RPC endpoints (one port each), so that 500 hosts × 20 programs fit on
 * one machine. Not a test double for correctness: tests of behaviour run real supervisord.
 *
 * Each host answers what Fleetvisor and its clients call — `getAllProcessInfo`,
 * `getProcessInfo`, `getState`, `getSupervisorVersion`, `getAPIVersion`,
 * `getIdentification`, `startProcess`, `stopProcess`, the log reads and `system.multicall` —
 * with the structs a real supervisord 4.2 sends (every field, log file paths included, so
 * payloads are as large as real ones), its faults (`BAD_NAME`, `ALREADY_STARTED`,
 * `NOT_RUNNING`, `UNKNOWN_METHOD`) and, with credentials set, its 401 page. Start and stop
 * change state as supervisord does; `setState` changes it behind Fleetvisor's back.
 * Every answer can be held back by `delayMs`, as a host across a network would.
 *
 *   const fleet = await startFleetSim({ hosts: 500, programsPerHost: 20, delayMs: 2 });
 *   fleet.hosts[0]; // { host: "127.0.0.1", port: 41234, programs: ["p00", …] }
 *   fleet.calls(); // XML-RPC requests answered so far, all hosts together
 *   await fleet.stop();
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import Deserializer from "xmlrpc/lib/deserializer.js";

/** supervisord's process states and their codes (supervisor/states.py). */
const STATE_CODES = {
  STOPPED: 0,
  STARTING: 10,
  RUNNING: 20,
  BACKOFF: 30,
  STOPPING: 40,
  EXITED: 100,
  FATAL: 200,
  UNKNOWN: 1000,
} as const;
export type SimState = keyof typeof STATE_CODES;

/** supervisord's fault codes (supervisor/xmlrpc.py, Faults). */
const FAULTS = { UNKNOWN_METHOD: 1, BAD_NAME: 10, ALREADY_STARTED: 60, NOT_RUNNING: 70 } as const;

export interface FleetSimOptions {
  /** How many supervisords. */
  readonly hosts: number;
  /** Programs on each (`p00`, `p01`, …), all RUNNING at the start. */
  readonly programsPerHost: number;
  /** How long each answer is held back, in ms. @default 0 */
  readonly delayMs?: number;
  /** Basic-auth credentials every host requires; none by default. */
  readonly auth?: { readonly username: string; readonly password: string };
  /** The address to listen on. @default "127.0.0.1" */
  readonly host?: string;
}

export interface SimHost {
  readonly host: string;
  readonly port: number;
  /** Program names, as `getAllProcessInfo` names them. */
  readonly programs: readonly string[];
}

export interface FleetSim {
  readonly hosts: readonly SimHost[];
  /** XML-RPC requests answered so far (a multicall counts once), optionally of one host (its port). */
  calls(port?: number): number;
  /** Requests answered so far, by method name (the calls inside a multicall included). */
  callsByMethod(): Record<string, number>;
  /** When the host on `port` last got a request (performance.now()), or undefined. */
  lastCallAt(port: number): number | undefined;
  /** Changes a program's state behind Fleetvisor's back (a crash, a stop by hand). */
  setState(port: number, program: string, state: SimState): void;
  /** The current answer delay, changeable during a run. */
  delayMs: number;
  stop(): Promise<void>;
}

interface Program {
  readonly name: string;
  state: SimState;
  pid: number;
  start: number;
  stop: number;
  exitstatus: number;
}

interface HostState {
  readonly address: SimHost;
  readonly programs: Map<string, Program>;
  calls: number;
  lastCallAt: number | undefined;
}

type Value = string | number | boolean | Value[] | { [key: string]: Value };

const escapeXml = (text: string): string =>
  text.replace(/[&<>]/g, (c) => (c === "&" ? "&amp;" : c === "<" ? "&lt;" : "&gt;"));

function serialize(value: Value): string {
  if (typeof value === "string") return `<value><string>${escapeXml(value)}</string></value>`;
  if (typeof value === "boolean") return `<value><boolean>${value ? 1 : 0}</boolean></value>`;
  if (typeof value === "number") return `<value><int>${value}</int></value>`;
  if (Array.isArray(value)) return `<value><array><data>${value.map(serialize).join("")}</data></array></value>`;
  const members = Object.entries(value)
    .map(([name, member]) => `<member><name>${name}</name>${serialize(member)}</member>`)
    .join("");
  return `<value><struct>${members}</struct></value>`;
}

class Fault extends Error {
  constructor(
    readonly code: number,
    readonly text: string,
  ) {
    super(text);
  }
}

const faultValue = (fault: Fault): Value => ({ faultCode: fault.code, faultString: fault.text });

const response = (value: Value): string =>
  `<?xml version='1.0'?>\n<methodResponse>\n<params>\n<param>\n${serialize(value)}\n</param>\n</params>\n</methodResponse>\n`;

const faultResponse = (fault: Fault): string =>
  `<?xml version='1.0'?>\n<methodResponse>\n<fault>\n${serialize(faultValue(fault))}\n</fault>\n</methodResponse>\n`;

/** A method call as the `xmlrpc` package's deserializer reads it from the request. */
function readCall(request: IncomingMessage): Promise<{ method: string; params: Value[] }> {
  return new Promise((resolve, reject) => {
    new Deserializer().deserializeMethodCall(request, (error, method, params) => {
      if (error) reject(error);
      else resolve({ method: method ?? "", params: (params ?? []) as Value[] });
    });
  });
}

const UNAUTHORIZED_PAGE = "<html><head><title>Unauthorized</title></head><body><h1>Unauthorized</h1></body></html>";

/** Starts the simulated fleet; every host is listening when it resolves. */
export async function startFleetSim(options: FleetSimOptions): Promise<FleetSim> {
  const listenHost = options.host ?? "127.0.0.1";
  const expectedAuth = options.auth
    ? `Basic ${Buffer.from(`${options.auth.username}:${options.auth.password}`).toString("base64")}`
    : undefined;
  const byMethod: Record<string, number> = {};
  const servers: Server[] = [];
  const states = new Map<number, HostState>();
  let nextPid = 10_000;
  let total = 0;
  const now = (): number => Math.floor(Date.now() / 1000);
  const programNames = Array.from(
    { length: options.programsPerHost },
    (_, j) => `p${String(j).padStart(String(options.programsPerHost - 1).length, "0")}`,
  );

  const hostList: SimHost[] = [];
  const sim: FleetSim = {
    hosts: hostList,
    delayMs: options.delayMs ?? 0,
    calls: (port) => (port === undefined ? total : (states.get(port)?.calls ?? 0)),
    callsByMethod: () => ({ ...byMethod }),
    lastCallAt: (port) => states.get(port)?.lastCallAt,
    setState(port, name, state) {
      const program = states.get(port)?.programs.get(name);
      if (!program) throw new Error(`no program ${name} on port ${port}`);
      moveTo(program, state);
    },
    async stop() {
      await Promise.all(
        servers.map(
          (server) =>
            new Promise<void>((resolve) => {
              server.closeAllConnections();
              server.close(() => resolve());
            }),
        ),
      );
    },
  };

  function moveTo(program: Program, state: SimState): void {
    const running = state === "RUNNING" || state === "STARTING" || state === "STOPPING";
    if (running && program.pid === 0) {
      program.pid = nextPid++;
      program.start = now();
    }
    if (!running && program.pid !== 0) {
      program.pid = 0;
      program.stop = now();
    }
    program.exitstatus = state === "EXITED" ? 1 : 0;
    program.state = state;
  }

  function info(program: Program): Value {
    const at = now();
    const uptime = at - program.start;
    const clock = `${Math.floor(uptime / 3600)}:${String(Math.floor(uptime / 60) % 60).padStart(2, "0")}:${String(uptime % 60).padStart(2, "0")}`;
    const description =
      program.state === "RUNNING"
        ? `pid ${program.pid}, uptime ${clock}`
        : program.stop
          ? new Date(program.stop * 1000).toUTCString().slice(0, 22)
          : "Not started";
    const logBase = `/var/log/supervisor/${program.name}`;
    return {
      name: program.name,
      group: program.name,
      start: program.start,
      stop: program.stop,
      now: at,
      state: STATE_CODES[program.state],
      statename: program.state,
      spawnerr: "",
      exitstatus: program.exitstatus,
      logfile: `${logBase}-stdout---supervisor-x1y2z3.log`,
      stdout_logfile: `${logBase}-stdout---supervisor-x1y2z3.log`,
      stderr_logfile: `${logBase}-stderr---supervisor-a4b5c6.log`,
      pid: program.pid,
      description,
    };
  }

  function programOf(host: HostState, name: Value | undefined): Program {
    const program = typeof name === "string" ? host.programs.get(name.replace(/^([^:]+):\1$/, "$1")) : undefined;
    if (!program) throw new Fault(FAULTS.BAD_NAME, `BAD_NAME: ${String(name)}`);
    return program;
  }

  function answer(host: HostState, method: string, params: Value[]): Value {
    byMethod[method] = (byMethod[method] ?? 0) + 1;
    switch (method) {
      case "supervisor.getAllProcessInfo":
        return [...host.programs.values()].map(info);
      case "supervisor.getProcessInfo":
        return info(programOf(host, params[0]));
      case "supervisor.getState":
        return { statecode: 1, statename: "RUNNING" };
      case "supervisor.getSupervisorVersion":
        return "4.2.5";
      case "supervisor.getAPIVersion":
      case "supervisor.getVersion":
        return "3.0";
      case "supervisor.getIdentification":
        return "supervisor";
      case "supervisor.getPID":
        return 1;
      case "supervisor.startProcess": {
        const program = programOf(host, params[0]);
        if (program.state === "RUNNING" || program.state === "STARTING") {
          throw new Fault(FAULTS.ALREADY_STARTED, `ALREADY_STARTED: ${program.name}`);
        }
        moveTo(program, "RUNNING");
        return true;
      }
      case "supervisor.stopProcess": {
        const program = programOf(host, params[0]);
        if (program.state !== "RUNNING" && program.state !== "STARTING" && program.state !== "BACKOFF") {
          throw new Fault(FAULTS.NOT_RUNNING, `NOT_RUNNING: ${program.name}`);
        }
        moveTo(program, "STOPPED");
        return true;
      }
      case "supervisor.tailProcessStdoutLog":
      case "supervisor.tailProcessStderrLog":
        programOf(host, params[0]);
        return ["", 0, false];
      case "supervisor.readProcessStdoutLog":
      case "supervisor.readProcessStderrLog":
        programOf(host, params[0]);
        return "";
      case "system.multicall": {
        const calls = Array.isArray(params[0]) ? params[0] : [];
        return calls.map((call) => {
          const { methodName, params: inner } = call as { methodName?: Value; params?: Value };
          try {
            // multicall results are bare values (not one-element arrays), faults are structs.
            return answer(host, String(methodName), Array.isArray(inner) ? inner : []);
          } catch (error) {
            if (error instanceof Fault) return faultValue(error);
            throw error;
          }
        });
      }
      default:
        throw new Fault(FAULTS.UNKNOWN_METHOD, "UNKNOWN_METHOD");
    }
  }

  async function handle(host: HostState, request: IncomingMessage, res: ServerResponse): Promise<void> {
    host.calls += 1;
    host.lastCallAt = performance.now();
    total += 1;
    if (expectedAuth && request.headers.authorization !== expectedAuth) {
      request.resume();
      res.writeHead(401, { "content-type": "text/html" }).end(UNAUTHORIZED_PAGE);
      return;
    }
    const { method, params } = await readCall(request);
    let body: string;
    try {
      body = response(answer(host, method, params));
    } catch (error) {
      if (!(error instanceof Fault)) throw error;
      body = faultResponse(error);
    }
    const send = () => {
      if (res.destroyed) return;
      res.writeHead(200, { "content-type": "text/xml", "content-length": Buffer.byteLength(body) }).end(body);
    };
    if (sim.delayMs > 0) setTimeout(send, sim.delayMs);
    else send();
  }

  try {
    // Listening in batches: a thousand listen() calls at once are fine, but errors stay readable.
    for (let i = 0; i < options.hosts; i += 50) {
      await Promise.all(
        Array.from({ length: Math.min(50, options.hosts - i) }, async () => {
          const programs = new Map<string, Program>();
          for (const name of programNames) {
            programs.set(name, { name, state: "STOPPED", pid: 0, start: 0, stop: 0, exitstatus: 0 });
          }
          let host!: HostState;
          const server = createServer((request, res) => {
            handle(host, request, res).catch(() => res.destroy());
          });
          server.keepAliveTimeout = 60_000;
          servers.push(server);
          await new Promise<void>((resolve, reject) => {
            server.once("error", reject);
            server.listen(0, listenHost, resolve);
          });
          const port = (server.address() as AddressInfo).port;
          host = {
            address: { host: listenHost, port, programs: programNames },
            programs,
            calls: 0,
            lastCallAt: undefined,
          };
          for (const program of programs.values()) moveTo(program, "RUNNING");
          states.set(port, host);
        }),
      );
    }
  } catch (error) {
    await sim.stop();
    throw error;
  }
  hostList.push(...[...states.values()].map((state) => state.address));
  return sim;
}
