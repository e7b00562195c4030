import { setTimeout as sleep } from "node:timers/promises";
import type { TestApp } from "./app.js";

/** The registry clients' own wait (client-examples): an agent call must answer inside it. */
export const CLIENT_TIMEOUT_MS = 3_000;

export interface CallOutcome {
  readonly ms: number;
  /** `ok`, an error code, or `no answer` (the client gave up). */
  readonly outcome: string;
}

/** One GraphQL call as a client with a timeout makes it. */
export async function call(url: string, token: string, query: string, timeoutMs: number): Promise<CallOutcome> {
  const started = performance.now();
  try {
    const response = await fetch(`${url}/graphql`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
      body: JSON.stringify({ query }),
      signal: AbortSignal.timeout(timeoutMs),
    });
    const body = (await response.json()) as { errors?: { extensions?: { code?: string } }[] };
    const code = body.errors?.[0]?.extensions?.code;
    return { ms: performance.now() - started, outcome: code ?? "ok" };
  } catch {
    return { ms: performance.now() - started, outcome: "no answer" };
  }
}

/** The pid each test process registers with (its name ends in its number). */
export const pidOf = (name: string): number => 1000 + Number(name.slice(name.lastIndexOf("-") + 1));

/** Managed servers that beat every `intervalMs` until stopped, as the registry clients do. */
export function agents(app: TestApp, token: string, names: readonly string[], intervalMs: number) {
  const outcomes: CallOutcome[] = [];
  let running = true;
  const loops = names.map(async (name, i) => {
    await sleep((intervalMs * i) / names.length);
    while (running) {
      const started = Date.now();
      outcomes.push(
        await call(
          app.url,
          token,
          `mutation { heartbeat(name: "${name}", pid: ${pidOf(name)}) { ok } }`,
          CLIENT_TIMEOUT_MS + 2_000,
        ),
      );
      await sleep(Math.max(0, intervalMs - (Date.now() - started)));
    }
  });
  return {
    outcomes,
    async stop() {
      running = false;
      await Promise.all(loops);
    },
  };
}

export async function createAndRegister(app: TestApp, names: readonly string[]): Promise<void> {
  for (const name of names) {
    await app.admin.data(`mutation($name: String!) { createProcess(input: { name: $name, port: 8000 }) { id } }`, {
      name,
    });
    await app.admin.data(`mutation($name: String!, $pid: Int!) { registerProcess(name: $name, pid: $pid) { port } }`, {
      name,
      pid: pidOf(name),
    });
  }
}
