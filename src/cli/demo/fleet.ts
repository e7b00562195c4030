import { randomBytes } from "node:crypto";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { choosePort } from "./ports.js";
import { PROGRAM, tokenFile, type InstanceSpec } from "./supervisord-config.js";

/** The guide's test containers, each with its own supervisord. */
export const INSTANCE_NAMES = ["domaeka-test-01", "domaeka-test-02", "domaeka-test-03"] as const;
/** The guide's XML-RPC ports are 9101…; its servers' ports come from the registry (8001… here). */
const FIRST_SUPERVISOR_PORT = 9101;
const FIRST_SERVED_PORT = 8001;

/** One instance of the demo: its supervisord, and the port its example server serves on. */
export interface DemoInstance extends InstanceSpec {
  /** The registry's `port`: the example server learns it when it registers. */
  readonly servedPort: number;
}

/**
 * Three instances under `stateDir`, on the guide's ports where they are free (others where
 * not), each with a username and a generated password of its own. `taken` holds ports
 * already promised (Fleetvisor's own).
 */
export async function planFleet(stateDir: string, taken: Set<number>): Promise<DemoInstance[]> {
  const instances: DemoInstance[] = [];
  for (const [index, name] of INSTANCE_NAMES.entries()) {
    instances.push({
      name,
      dir: join(stateDir, name),
      port: await choosePort(FIRST_SUPERVISOR_PORT + index, taken),
      servedPort: await choosePort(FIRST_SERVED_PORT + index, taken),
      username: `fleetvisor-${name.replace(/^domaeka-/, "")}`,
      password: randomBytes(18).toString("base64url"),
    });
  }
  return instances;
}

/** Fleetvisor's SUPERVISOR_CREDENTIALS_FILE for the instances, readable by its owner only. */
export function writeCredentialsFile(path: string, instances: readonly DemoInstance[]): void {
  const byHost = Object.fromEntries(
    instances.map((i) => [`127.0.0.1:${i.port}`, { username: i.username, password: i.password }]),
  );
  writeFileSync(path, `${JSON.stringify(byHost, null, 2)}\n`, { mode: 0o600 });
}

/** GraphQL over HTTP with the bootstrap admin token, as any admin client would call it. */
export class AdminApi {
  constructor(
    private readonly url: string,
    private readonly token: string,
  ) {}

  async call<T>(query: string, variables?: Record<string, unknown>): Promise<T> {
    const response = await fetch(`${this.url}/graphql`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${this.token}` },
      body: JSON.stringify({ query, variables }),
      signal: AbortSignal.timeout(10_000),
    });
    const body = (await response.json()) as { data?: T; errors?: { message: string }[] };
    if (body.errors?.length || !body.data) {
      throw new Error(`Fleetvisor answered HTTP ${response.status}: ${body.errors?.map((e) => e.message).join("; ")}`);
    }
    return body.data;
  }
}

/**
 * The registry rows (the guide's program on each instance's supervisord) and one agent token
 * per instance, bound to its process, written to the file its programs read.
 */
export async function registerFleet(api: AdminApi, instances: readonly DemoInstance[]): Promise<void> {
  for (const instance of instances) {
    await api.call(`mutation ($input: CreateProcessInput!) { createProcess(input: $input) { id } }`, {
      input: {
        name: instance.name,
        port: instance.servedPort,
        supervisorHost: "127.0.0.1",
        supervisorPort: instance.port,
        program: PROGRAM,
      },
    });
    const { createApiToken } = await api.call<{ createApiToken: { token: string } }>(
      `mutation ($input: CreateApiTokenInput!) { createApiToken(input: $input) { token } }`,
      { input: { name: `${instance.name}-agent`, role: "AGENT", processPattern: instance.name } },
    );
    writeFileSync(tokenFile(instance), `${createApiToken.token}\n`, { mode: 0o600 });
  }
}

export interface ProcessHealthRow {
  readonly name: string;
  readonly health: string;
  readonly healthReasons: readonly string[];
  readonly supervisor: { readonly state: string; readonly pid: number | null } | null;
}

/** The demo's processes as the API shows them. */
export async function fleetHealth(api: AdminApi): Promise<ProcessHealthRow[]> {
  const { processes } = await api.call<{ processes: ProcessHealthRow[] }>(
    `query ($names: [String!]) { processes(filter: { names: $names }) { name health healthReasons supervisor { state pid } } }`,
    { names: [...INSTANCE_NAMES] },
  );
  return processes;
}
