import { readdirSync, readFileSync } from "node:fs";
import { ApolloArmor } from "@escape.tech/graphql-armor";
import { getOperationAST, parse, specifiedRules, validate, type DocumentNode } from "graphql";
import { describe, expect, it } from "vitest";
import { buildFleetvisorSchema } from "../src/graphql/schema.js";
import { ARMOR_CONFIG, MAX_QUERY_COST, MAX_TOKENS, protectWithArmor } from "../src/http/request-limits.js";

/** Every shipped document must cost at most this share of the limit. */
const MARGIN = 5;

const EXAMPLES = new URL("../client-examples/", import.meta.url);
const read = (path: string): string => readFileSync(new URL(path, EXAMPLES), "utf8");

interface Shipped {
  /** Where it is shipped, and which one there. */
  readonly name: string;
  readonly source: string;
}

/**
 * The GraphQL documents in a JavaScript or TypeScript file: the strings and template
 * literals that begin with an operation keyword, with `${NAME}` taken from the file's own
 * constants, or from `choices` (one document per choice). Anything else in `${…}` fails
 * the test, so that a document this cannot read is noticed rather than skipped.
 */
function scriptDocuments(file: string, choices: Record<string, readonly string[]> = {}): Shipped[] {
  const text = read(file);
  const constants = new Map<string, string>();
  for (const [, name, value] of text.matchAll(/^const (\w+) = (`[^`]*`|"[^"]*"|[\d_]+);/gm)) {
    constants.set(name!, /^[`"]/.test(value!) ? value!.slice(1, -1) : value!.replaceAll("_", ""));
  }
  const literals = [...text.matchAll(/`([^`]*)`|"((?:query|mutation|subscription)\b[^"]*)"/g)].map(
    ([, template, plain]) => template ?? plain!,
  );
  const expand = (source: string): string[] => {
    const slot = /\$\{(\w+)\}/.exec(source);
    if (!slot) return [source];
    const [placeholder, name] = slot as unknown as [string, string];
    const values = choices[name] ?? (constants.has(name) ? [constants.get(name)!] : undefined);
    if (!values) throw new Error(`${file}: cannot tell what \${${name}} is in a document`);
    return values.flatMap((value) => expand(source.replace(placeholder, value)));
  };
  return literals
    .filter((literal) => /^\s*(query|mutation|subscription)\b/.test(literal))
    .flatMap(expand)
    .map((source, i) => ({ name: `${file} #${i + 1}`, source }));
}

/** The documents in a Python file's triple-quoted strings. */
function pythonDocuments(file: string): Shipped[] {
  return [...read(file).matchAll(/"""\s*((?:query|mutation|subscription)\b[\s\S]*?)"""/g)].map(([, source], i) => ({
    name: `${file} #${i + 1}`,
    source: source!,
  }));
}

const dashboardActions = [...read("dashboard/app.js").matchAll(/^const ACTIONS = \{([^}]*)\}/gm)]
  .flatMap(([, body]) => [...body!.matchAll(/"(\w+)"/g)])
  .map(([, field]) => field!);

const dashboard = scriptDocuments("dashboard/app.js", { field: dashboardActions });
const shipped: Shipped[] = [
  ...readdirSync(new URL("graphql/", EXAMPLES))
    .filter((file) => file.endsWith(".graphql"))
    .map((file) => ({ name: `graphql/${file}`, source: read(`graphql/${file}`) })),
  ...dashboard,
  ...scriptDocuments("dashboard/rollouts.js"),
  ...scriptDocuments("dashboard/healing.js"),
  ...scriptDocuments("dashboard/log-follow.js"),
  ...scriptDocuments("dashboard/incidents.js"),
  ...scriptDocuments("typescript/registry-client.ts"),
  ...scriptDocuments("typescript/subscriber.ts"),
  ...pythonDocuments("python/fleetvisor_client.py"),
  ...pythonDocuments("supervisor-listener/fleetvisor_listener.py"),
];

const schema = await buildFleetvisorSchema();

/** The cost graphql-armor finds for each operation of `document`, by operation name (or position). */
function costs(document: DocumentNode): Map<string, number> {
  const found: number[] = [];
  const measuring = new ApolloArmor({
    ...ARMOR_CONFIG,
    costLimit: { ...ARMOR_CONFIG.costLimit, maxCost: Infinity, onAccept: [(_context, { n }) => found.push(n)] },
  }).protect();
  expect(validate(schema, document, [...specifiedRules, ...measuring.validationRules])).toEqual([]);
  const names = document.definitions.flatMap((d, i) =>
    d.kind === "OperationDefinition" ? [d.name?.value ?? `#${i + 1}`] : [],
  );
  return new Map(names.map((name, i) => [name, found[i]!]));
}

/** What the service's own rules say of `source`: its validation errors' messages. */
function refusals(source: string): string[] {
  const document = parse(source, { maxTokens: MAX_TOKENS });
  return validate(schema, document, [...specifiedRules, ...protectWithArmor().validationRules]).map((e) => e.message);
}

describe(`the query cost limit (${MAX_QUERY_COST})`, () => {
  it("finds every document the dashboard sends (its actions each make one)", () => {
    expect(dashboardActions).toEqual(["startProcess", "stopProcess", "restartProcess"]);
    // me, the list, the log, changes, supervisors, createProcess, heartbeats, and the three actions.
    expect(dashboard.length).toBeGreaterThanOrEqual(10);
    expect(shipped.length).toBeGreaterThanOrEqual(24);
  });

  it.each(shipped)(`$name costs at most 1/${MARGIN} of the limit`, ({ source }) => {
    const document = parse(source, { maxTokens: MAX_TOKENS });
    for (const [operation, cost] of costs(document)) {
      expect(cost, `${operation} costs ${cost}`).toBeLessThanOrEqual(MAX_QUERY_COST / MARGIN);
    }
    expect(refusals(source)).toEqual([]);
  });

  const fullProcess = `id name port pid status lastHeartbeat supervisorHost supervisorPort program createdAt updatedAt
    health healthReasons supervisor { program state stateName pid startedAt stoppedAt uptimeSeconds exitStatus
    spawnError description } log(bytes: 65536) { text startOffset offset remainingBytes overflow rotated }`;
  const aliased = (n: number, selection: string) =>
    `{ ${Array.from({ length: n }, (_, i) => `a${i}: processes { ${selection} }`).join(" ")} }`;

  it("lets a client ask for several full lists at once", () => {
    expect(refusals(aliased(4, fullProcess))).toEqual([]);
  });

  it.each([
    ["the most aliases allowed, each a full list with its logs", aliased(30, fullProcess)],
    [
      "a fragment spread into many aliases",
      `${aliased(10, "...everything")} fragment everything on Process { ${fullProcess} }`,
    ],
    ["one field asked for again and again", `{ processes { ${"name ".repeat(600)} } }`],
  ])("refuses %s, which passes every other limit", (_label, source) => {
    expect(refusals(source)).toEqual([
      expect.stringMatching(new RegExp(`Query Cost limit of ${MAX_QUERY_COST} exceeded`)),
    ]);
  });
});
