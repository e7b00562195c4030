import { createServer } from "node:net";

/** Whether a listener could be opened on `host:port` right now. */
export function canListen(port: number, host = "127.0.0.1"): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = createServer();
    probe.once("error", () => resolve(false));
    probe.listen({ port, host, exclusive: true }, () => probe.close(() => resolve(true)));
  });
}

/** A port the system picks as free. */
function systemPort(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once("error", reject);
    probe.listen({ port: 0, host, exclusive: true }, () => {
      const { port } = probe.address() as { port: number };
      probe.close(() => resolve(port));
    });
  });
}

/**
 * `preferred` when it is free and not among `taken`; else a free port the system picks.
 * The port is added to `taken`. Free means free now: whoever is meant to listen on it should
 * do so soon.
 */
export async function choosePort(preferred: number, taken: Set<number>, host = "127.0.0.1"): Promise<number> {
  let port = preferred;
  if (taken.has(port) || !(await canListen(port, host))) {
    do port = await systemPort(host);
    while (taken.has(port));
  }
  taken.add(port);
  return port;
}
