import { ApolloArmor } from "@escape.tech/graphql-armor";

/** Requests with larger bodies (and WebSocket messages larger than this) are refused. */
export const MAX_BODY_BYTES = 1024 * 1024;

/** Longer documents are refused before they are parsed in full. */
export const MAX_TOKENS = 2_000;

/**
 * The most an operation may cost, as graphql-armor counts: 1 per scalar field, and per
 * object field 2 plus 1.5 × the cost of what it selects, so every level of nesting
 * weighs half again as much as the one above it (fragments count where they are spread).
 * The heaviest shipped document, client-examples/graphql/processes.graphql (every field
 * through a fragment), costs about 80, the dashboard's change subscription about 60, and
 * `processes` with every field and its log about 64: 500 lets a client ask for several
 * full lists at once, and refuses documents that multiply them with aliases, fragments or
 * repeats (30 aliased full lists cost about 1,900).
 * test/query-cost.test.ts checks every shipped document against it with a margin.
 */
export const MAX_QUERY_COST = 500;

/** graphql-armor's configuration, the same for GraphQL over HTTP and over WebSocket. */
export const ARMOR_CONFIG = {
  maxDepth: { n: 10 },
  maxAliases: { n: 30 },
  costLimit: { maxCost: MAX_QUERY_COST },
  // armor's token limit re-parses in a plugin hook, which turns a syntax error into a 500;
  // graphql-js's own `maxTokens` parse option (MAX_TOKENS) does the same job with a proper 400.
  maxTokens: { enabled: false },
} as const satisfies ConstructorParameters<typeof ApolloArmor>[0];

/** graphql-armor's protection: validation rules for both transports, plugins for Apollo. */
export type ArmorProtection = ReturnType<ApolloArmor["protect"]>;

/** The same depth, alias and cost limits for GraphQL over HTTP and over WebSocket. */
export function protectWithArmor(): ArmorProtection {
  return new ApolloArmor(ARMOR_CONFIG).protect();
}
