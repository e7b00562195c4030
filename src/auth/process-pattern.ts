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

/**
 * A SQL condition on `column` that holds for exactly the names `pattern` matches, and its
 * parameters (named `parameter`): for queries that must return only what a bound token
 * may see. LIKE's wildcards in the prefix (`_`) are escaped with `!`.
 */
export function processPatternCondition(
  column: string,
  pattern: string,
  parameter: string,
): { readonly where: string; readonly parameters: Record<string, string> } {
  if (!pattern.endsWith("*")) return { where: `${column} = :${parameter}`, parameters: { [parameter]: pattern } };
  const prefix = pattern.slice(0, -1).replace(/[!%_]/g, (c) => `!${c}`);
  return { where: `${column} LIKE :${parameter} ESCAPE '!'`, parameters: { [parameter]: `${prefix}%` } };
}
