/**
 * A token may be bound to one process name or to a `prefix*` pattern (`domaeka-*`; `*`
 * alone binds every process): agents always are, viewers and operators when scoped.
 */
const PATTERN = /^(?:[A-Za-z0-9][A-Za-z0-9._-]{0,99}\*?|\*)$/;

/** Why `pattern` is not a valid process pattern, or `undefined` when it is. */
export function processPatternProblem(pattern: string): string | undefined {
  if (PATTERN.test(pattern)) return undefined;
  return "must be a process name or a prefix followed by * (e.g. domaeka-*)";
}

export function matchesProcessPattern(name: string, pattern: string): boolean {
  return pattern.endsWith("*") ? name.startsWith(pattern.slice(0, -1)) : name === pattern;
}
