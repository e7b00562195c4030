import { readFileSync } from "node:fs";
import { z } from "zod";
import type { SupervisorCredentials } from "./config.js";

const credentialsFileSchema = z.record(
  z.string().regex(/^[^\s:]+:\d{1,5}$/, "keys must be host:port"),
  z.object({ username: z.string().min(1), password: z.string().min(1) }).strict(),
);

/** Per-host supervisord credentials from SUPERVISOR_CREDENTIALS_FILE; problems named, passwords never. */
export function readCredentialsFile(path: string, problems: string[]): Map<string, SupervisorCredentials> {
  const credentials = new Map<string, SupervisorCredentials>();
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (error) {
    problems.push(
      `SUPERVISOR_CREDENTIALS_FILE cannot be read: ${(error as NodeJS.ErrnoException).code ?? "error"} ${path}`,
    );
    return credentials;
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    problems.push(`SUPERVISOR_CREDENTIALS_FILE is not valid JSON: ${path}`);
    return credentials;
  }
  const parsed = credentialsFileSchema.safeParse(json);
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      // Name the entry, never the values: they hold passwords.
      const where = issue.path.length > 0 ? ` at ${issue.path.map(String).join(".")}` : "";
      problems.push(
        `SUPERVISOR_CREDENTIALS_FILE${where}: expected { "host:port": { "username": "…", "password": "…" } } (${issue.message})`,
      );
    }
    return credentials;
  }
  for (const [hostPort, pair] of Object.entries(parsed.data)) {
    credentials.set(hostPort.toLowerCase(), { username: pair.username, password: pair.password });
  }
  return credentials;
}
