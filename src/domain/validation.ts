import { isIP } from "node:net";
import type { InvalidField } from "../errors.js";

/** 1–100 characters of letters, digits, `.`, `_`, `-`, starting with a letter or digit. */
const PROCESS_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/;
/** supervisord program names may also carry a `group:` prefix. */
const PROGRAM_NAME = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,99}$/;
/** One RFC 1123 label. */
const HOST_LABEL = /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/;

export const MAX_NAME_LENGTH = 100;

/**
 * A name prefix filters by the start of a process name: it is the start of a valid name
 * (so it can match something), or empty (every name).
 */
export function namePrefixProblem(prefix: string): string | undefined {
  if (prefix.length === 0) return undefined;
  if (prefix.length > MAX_NAME_LENGTH) return `must be at most ${MAX_NAME_LENGTH} characters (got ${prefix.length})`;
  if (!PROCESS_NAME.test(prefix)) {
    return "must be the start of a process name: letters, digits, '.', '_' or '-', starting with a letter or digit";
  }
  return undefined;
}

export function processNameProblem(name: string): string | undefined {
  if (name.length === 0) return "must not be empty";
  if (name.length > MAX_NAME_LENGTH) return `must be at most ${MAX_NAME_LENGTH} characters (got ${name.length})`;
  if (!PROCESS_NAME.test(name)) {
    return "must be letters, digits, '.', '_' or '-', starting with a letter or digit";
  }
  return undefined;
}

export function programNameProblem(program: string): string | undefined {
  if (program.length === 0) return "must not be empty";
  if (program.length > MAX_NAME_LENGTH) return `must be at most ${MAX_NAME_LENGTH} characters (got ${program.length})`;
  if (!PROGRAM_NAME.test(program)) {
    return "must be letters, digits, '.', '_', ':' or '-', starting with a letter or digit";
  }
  return undefined;
}

export function portProblem(port: number): string | undefined {
  return Number.isInteger(port) && port >= 1 && port <= 65535 ? undefined : `must be between 1 and 65535 (got ${port})`;
}

export function pidProblem(pid: number): string | undefined {
  return Number.isInteger(pid) && pid >= 1 && pid <= 2 ** 31 - 1
    ? undefined
    : `must be a positive process id (got ${pid})`;
}

export function hostProblem(host: string): string | undefined {
  if (host.length === 0) return "must not be empty";
  if (host.length > MAX_NAME_LENGTH) return `must be at most ${MAX_NAME_LENGTH} characters (got ${host.length})`;
  if (isIP(host) !== 0) return undefined;
  const labels = host.endsWith(".") ? host.slice(0, -1).split(".") : host.split(".");
  if (labels.every((label) => HOST_LABEL.test(label))) return undefined;
  return "must be a hostname or an IP address";
}

/** Collects `problem(value)` as an invalid field when the value is present. */
export function check<T>(
  problems: InvalidField[],
  field: string,
  value: T | null | undefined,
  problem: (value: T) => string | undefined,
): void {
  if (value === undefined || value === null) return;
  const message = problem(value);
  if (message) problems.push({ field, message });
}
