import { DatabaseUnavailableError } from "../errors.js";

/**
 * `work`, or DATABASE_UNAVAILABLE once `deadline` (epoch ms) has passed. The work itself
 * goes on (a query cannot be taken back) and settles on its own; only its caller stops
 * waiting for it.
 */
export async function beforeDeadline<T>(deadline: number, work: () => Promise<T>): Promise<T> {
  const remainingMs = deadline - Date.now();
  if (remainingMs <= 0) throw new DatabaseUnavailableError("no time left to ask it");
  const running = work();
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new DatabaseUnavailableError(`no answer within ${Math.round(remainingMs)} ms`)),
      remainingMs,
    );
  });
  try {
    return await Promise.race([running, expired]);
  } finally {
    clearTimeout(timer);
    // Abandoned work must not become an unhandled rejection.
    running.catch(() => undefined);
  }
}
