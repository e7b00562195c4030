import { createServer } from "node:net";

/** The HTTP port cannot be listened on (taken, privileged, or an address not of this machine). */
export class ListenError extends Error {
  constructor(
    message: string,
    readonly code: string | undefined,
  ) {
    super(message);
    this.name = "ListenError";
  }
}

/** One sentence for what `listen` refused, naming the variable to change. */
export function listenError(error: unknown, host: string, port: number): unknown {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  switch (code) {
    case "EADDRINUSE":
      return new ListenError(
        `port ${port} is already in use on ${host}; set PORT to a free port, or stop what listens there`,
        code,
      );
    case "EACCES":
      return new ListenError(
        `port ${port} needs privileges this process does not have; set PORT to 1024 or above`,
        code,
      );
    case "EADDRNOTAVAIL":
    case "ENOTFOUND":
    case "EAI_AGAIN":
      return new ListenError(`${host} is not an address of this machine (${code}); set HOST, e.g. to 0.0.0.0`, code);
    default:
      return error;
  }
}

/**
 * Fails at once when the port cannot be listened on, before waiting for the database and
 * migrating: otherwise a clash would show only then, after the WebSocket server has
 * printed the listen error's stack. A port taken between this check and the real listen
 * still fails, with the same message.
 */
export async function ensureCanListen(host: string, port: number): Promise<void> {
  if (port === 0) return;
  const probe = createServer();
  try {
    await new Promise<void>((resolve, reject) => {
      probe.once("error", reject);
      probe.listen({ host, port }, () => probe.close(() => resolve()));
    });
  } catch (error) {
    throw listenError(error, host, port);
  }
}
