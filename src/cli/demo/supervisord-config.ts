import { join } from "node:path";

/** One managed server as the guide runs it: its own supervisord, one program, the event listener. */
export interface InstanceSpec {
  /** The registry name, e.g. `domaeka-test-01`; also supervisord's identifier. */
  readonly name: string;
  /** Where its files go: config, logs, the agent token. */
  readonly dir: string;
  /** The XML-RPC port, on 127.0.0.1. */
  readonly port: number;
  readonly username: string;
  readonly password: string;
}

/** What the programs run and where they find Fleetvisor. */
export interface ProgramsSpec {
  /** The Python interpreter. */
  readonly python: string;
  readonly exampleServer: string;
  readonly listener: string;
  /** Fleetvisor's base URL, as the programs reach it. */
  readonly fleetvisorUrl: string;
}

/** The guide's program name in every container's supervisord. */
export const PROGRAM = "python-server";
export const LISTENER = "fleetvisor-listener";

/** The file holding an instance's agent token (never on a command line or in the config). */
export function tokenFile(instance: InstanceSpec): string {
  return join(instance.dir, "agent-token");
}

export function configFile(instance: InstanceSpec): string {
  return join(instance.dir, "supervisord.conf");
}

/**
 * supervisord expands `%(name)s` in most values, so a literal `%` (possible in a checkout's
 * path) is written `%%`.
 */
function literal(value: string): string {
  return value.replace(/%/g, "%%");
}

/** One argument of `command=`, which supervisord splits like a POSIX shell (shlex). */
function argument(value: string): string {
  return /^[A-Za-z0-9_./:=@+-]+$/.test(value) ? value : `'${value.replace(/'/g, `'"'"'`)}'`;
}

function command(args: readonly string[]): string {
  return literal(args.map(argument).join(" "));
}

/**
 * `environment=` values, quoted. supervisord 4.2 reads them with shlex in its legacy mode,
 * where a backslash escapes nothing: the values here are URLs and paths, which hold no `"`.
 */
function environment(variables: Readonly<Record<string, string>>): string {
  return Object.entries(variables)
    .map(([key, value]) => `${key}="${literal(value)}"`)
    .join(",");
}

/**
 * The supervisord.conf of one instance: `[inet_http_server]` on loopback with its own
 * username and password, `[supervisorctl]` so that `supervisorctl -c` works against it, the
 * rpcinterface Fleetvisor needs, the guide's `python-server` program (the example server
 * with the registry client) and Fleetvisor's event listener. Both read the agent token from
 * a file.
 */
export function renderSupervisordConfig(instance: InstanceSpec, programs: ProgramsSpec): string {
  const { dir, port, username, password } = instance;
  const shared = { FLEETVISOR_URL: programs.fleetvisorUrl, FLEETVISOR_TOKEN_FILE: tokenFile(instance) };
  return [
    "[supervisord]",
    `identifier=${instance.name}`,
    `logfile=${literal(join(dir, "supervisord.log"))}`,
    `pidfile=${literal(join(dir, "supervisord.pid"))}`,
    `childlogdir=${literal(dir)}`,
    "loglevel=info",
    "",
    "[inet_http_server]",
    `port=127.0.0.1:${port}`,
    `username=${username}`,
    `password=${literal(password)}`,
    "",
    "[supervisorctl]",
    `serverurl=http://127.0.0.1:${port}`,
    `username=${username}`,
    `password=${literal(password)}`,
    "",
    "[rpcinterface:supervisor]",
    "supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface",
    "",
    `[program:${PROGRAM}]`,
    `command=${command([programs.python, "-u", programs.exampleServer, "--name", instance.name, "--host", "127.0.0.1"])}`,
    "autostart=true",
    // A crash (kill -9) is restarted; a stop asked for stays stopped.
    "autorestart=unexpected",
    "startsecs=1",
    "startretries=3",
    "stopwaitsecs=5",
    "stopasgroup=true",
    "killasgroup=true",
    `stdout_logfile=${literal(join(dir, `${PROGRAM}.out.log`))}`,
    `stderr_logfile=${literal(join(dir, `${PROGRAM}.err.log`))}`,
    `environment=${environment(shared)}`,
    "",
    `[eventlistener:${LISTENER}]`,
    `command=${command([programs.python, "-u", programs.listener])}`,
    "events=PROCESS_STATE",
    "buffer_size=100",
    "autorestart=true",
    "stopwaitsecs=5",
    `stderr_logfile=${literal(join(dir, `${LISTENER}.err.log`))}`,
    `environment=${environment({ ...shared, FLEETVISOR_SUPERVISOR: `127.0.0.1:${port}` })}`,
    "",
  ].join("\n");
}
